# Python functions of the predictor stage's rules (input functions, id lists, paths).
# Rules stay in workflow/rules/predictor.smk; functions stay here (snakemake --lint).


def predictor_settings():
    """The predictor config section (defaults filled in); seeds offset by the pipeline seed."""
    section = dict(config["predictor"])
    section["seeds"] = [config["seed"] + s for s in section["seeds"]]
    return section


def predictor_pattern(recordings):
    """Wildcard pattern matching exactly these recordings (nothing if empty)."""
    return "|".join(recordings) if recordings else "(?!)"


def predictor_reference(wildcards):
    """The trained model of the recording a mapped recording is mapped onto."""
    reference = recording_config(wildcards.recording)["map_onto"]
    return {"model": f"{DATA}/predictor/{reference}/model.pt"}


def predictor_mem_mb(wildcards, input):
    """Memory: the store as float32 a few times over, plus torch (~600 MB)."""
    return int(1000 + 6 * input.size_mb)


def predictor_runtime(wildcards, input):
    """Minutes: the training cap for every model fitted by the rule, plus evaluation."""
    section = config["predictor"]
    folds = section["heldout_worms"]
    folds = 8 if folds < 0 else folds
    return int(
        10
        + section["max_minutes"]
        + folds * len(section["seeds"]) * section["heldout_max_minutes"] * 2
        + input.size_mb / 10
    )


def predictor_gpus(wildcards):
    """GPUs requested: the config's predictor.gpus (0 = none; device auto uses one if present)."""
    return config["predictor"]["gpus"]
