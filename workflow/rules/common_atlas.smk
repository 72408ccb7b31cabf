# Python functions of the atlas stage's rules (input functions, id lists, paths).
# Rules stay in workflow/rules/atlas.smk; functions stay here (snakemake --lint).


def atlas_inputs(wildcards):
    """Every stage output of one recording that goes into its atlas."""
    recording = wildcards.recording
    inputs = {
        "homogenized": homogenized(recording),
        "connectomes": connectomes_store(),
        "neurons": connectome_neurons(),
        "ntf": f"{DATA}/dfc/{recording}/ntf.nc",
        "communities": f"{DATA}/dfc/{recording}/communities.nc",
        "glmhmm": f"{DATA}/glmhmm/{recording}/glmhmm.nc",
        "predictor": f"{DATA}/predictor/{recording}/predictor.nc",
        "evaluation": f"{DATA}/predictor/{recording}/evaluation.csv",
    }
    if recording_config(recording)["format"] == "simulated":
        inputs["truth"] = simulated_ground_truth(recording)
    return inputs


def atlas_settings(wildcards):
    """Atlas settings plus the recording's role (fitted, or mapped onto another atlas)."""
    return {
        **config["atlas"],
        "seed": config["seed"],
        "map_onto": recording_config(wildcards.recording).get("map_onto"),
    }


def atlas_report(recording):
    """The report page of one recording's atlas."""
    return f"{DATA}/atlas/{recording}/report.html"


def all_targets():
    """The default target: every recording's atlas (which depends on every stage), plus the
    connectome graphs and the simulators' ground truth, which no model reads."""
    return [
        *(
            f"{DATA}/atlas/{r}/{name}"
            for r in RECORDINGS
            for name in ("atlas.nc", "report.html")
        ),
        *connectome_graph_paths(),
        *(simulated_ground_truth(r) for r in simulated_recordings()),
    ]
