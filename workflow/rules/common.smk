# Shared functions of the workflow: recording and batch ids, paths, wildcard constraints.
# Every Python function used by a rule lives here (snakemake --lint wants rules and
# functions apart).

from pathlib import Path

from pipelines.common.config import ConfigError
from pipelines import __version__ as PIPELINES_VERSION

DATA = config["data_dir"]
RECORDINGS = sorted(config["recordings"])
ENV = "../envs/pipelines.yaml"


def recording_config(recording):
    """The config entry of one recording."""
    return config["recordings"][recording]


def homogenize_settings(recording):
    """Global homogenize settings with the recording's own overrides applied."""
    return {**config["homogenize"], **recording_config(recording).get("homogenize", {})}


def fitted_recordings():
    """Recordings whose models are fitted (not mapped onto another recording's atlas)."""
    return [r for r in RECORDINGS if "map_onto" not in recording_config(r)]


def mapped_recordings():
    """Recordings mapped onto another recording's atlas without refitting."""
    return [r for r in RECORDINGS if "map_onto" in recording_config(r)]


def homogenized(recording):
    """The homogenized store of one recording (output of the recordings stage)."""
    return f"{DATA}/homogenized/{recording}.nc"


def connectomes_store():
    """The homogenized connectomes (output of the connectomes stage)."""
    return f"{DATA}/connectomes/connectomes.nc"


def log_path(rule, *wildcards):
    """Snakemake log file of a rule: data/logs/<rule>/<wildcards>.log."""
    return str(Path(DATA, "logs", rule, *(wildcards or ["all"]))) + ".log"


def benchmark_path(rule, *wildcards):
    """Snakemake benchmark file of a rule: data/benchmarks/<rule>/<wildcards>.tsv."""
    return str(Path(DATA, "benchmarks", rule, *(wildcards or ["all"]))) + ".tsv"


for _name in mapped_recordings():
    if recording_config(_name)["map_onto"] not in fitted_recordings():
        raise ConfigError(
            f"recordings.{_name}.map_onto",
            f"'{recording_config(_name)['map_onto']}' is not a fitted recording of this config",
        )


wildcard_constraints:
    recording="|".join(RECORDINGS) if RECORDINGS else "[^/]+",
    batch="[^/]+",


include: "common_simulate.smk"
include: "common_recordings.smk"
include: "common_connectomes.smk"
include: "common_dfc.smk"
include: "common_glmhmm.smk"
include: "common_predictor.smk"
include: "common_atlas.smk"
