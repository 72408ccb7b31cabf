# Python functions of the simulate stage's rules (input functions, id lists, paths).
# Rules stay in workflow/rules/simulate.smk; functions stay here (snakemake --lint).

from pipelines.simulate import SimulationSettings, worm_id


def simulated_recordings():
    """Recordings of this config with ``format: simulated``."""
    return [r for r in RECORDINGS if recording_config(r)["format"] == "simulated"]


def simulate_settings(recording):
    """Checked settings of a simulated recording (schema defaults filled in, config seed)."""
    if recording not in simulated_recordings():
        raise ConfigError(
            f"recordings.{recording}.format",
            "data/raw/<recording>/ files are simulated only for format: simulated",
        )
    return SimulationSettings.from_config(
        recording_config(recording).get("simulate", {}), seed=config["seed"]
    )


def simulated_worms(recording):
    """Batch ids of a simulated recording's worms: ["worm00", "worm01", ...]."""
    return [worm_id(i) for i in range(simulate_settings(recording).worms)]


def simulate_params(wildcards):
    """Every simulation setting of the recording (params: a change triggers a rerun)."""
    return simulate_settings(wildcards.recording).to_dict()


def simulated_worm_truths(wildcards):
    """The per-worm truth files merged into the recording's ground_truth.nc."""
    return [
        f"{DATA}/raw/{wildcards.recording}/truth/{worm}.nc"
        for worm in simulated_worms(wildcards.recording)
    ]


def simulated_ground_truth(recording):
    """Ground truth of a simulated recording."""
    return f"{DATA}/raw/{recording}/ground_truth.nc"


def simulate_worm_mem_mb(wildcards):
    """Memory of one worm's job: the fine-grid latent arrays (a few copies of steps x neurons
    float64) plus the interpreter."""
    settings = simulate_settings(wildcards.recording)
    steps = (settings.duration_s + settings.burn_in_s) / settings.integration_dt
    return int(500 + 12 * steps * settings.n_neurons * 8 / 1e6)
