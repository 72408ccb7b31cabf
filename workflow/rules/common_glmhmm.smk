# Python functions of the glmhmm stage's rules (input functions, id lists, paths).
# Rules stay in workflow/rules/glmhmm.smk; functions stay here (snakemake --lint).


def glmhmm_settings():
    """The glmhmm config section (defaults filled in) plus the pipeline seed."""
    return {**config["glmhmm"], "seed": config["seed"]}


def glmhmm_fit_inputs(wildcards):
    """Homogenized recording, plus the connectome store when the prior is anchored on it."""
    inputs = {"store": homogenized(wildcards.recording)}
    if config["glmhmm"]["connectome_anchor"]:
        inputs["connectomes"] = connectomes_store()
    return inputs


def glmhmm_reference(wildcards):
    """Fitted model and summary of the recording a mapped recording is mapped onto."""
    reference = recording_config(wildcards.recording)["map_onto"]
    return {
        "model": f"{DATA}/glmhmm/{reference}/model.npz",
        "summary": f"{DATA}/glmhmm/{reference}/glmhmm.nc",
    }


def glmhmm_pattern(recordings):
    """Wildcard pattern matching exactly these recordings (nothing if empty)."""
    return "|".join(recordings) if recordings else "(?!)"


def glmhmm_mem_mb(wildcards, input):
    """Memory of a fit: padded worms × states × neurons temporaries (store is float32)."""
    return int(2000 + 40 * input.size_mb)
