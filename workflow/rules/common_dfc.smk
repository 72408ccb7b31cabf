# Python functions of the dfc stage's rules (input functions, id lists, paths).
# Rules stay in workflow/rules/dfc.smk; functions stay here (snakemake --lint).


def dfc_settings(section):
    """One sub-section of the dfc config (affinity, tensor, ntf), defaults filled in."""
    return config["dfc"][section]


def dfc_affinity_files(wildcards):
    """Per-batch affinity files of a recording."""
    return [
        f"{DATA}/dfc/{wildcards.recording}/affinity/{batch}.nc"
        for batch in batches(wildcards.recording)
    ]


def dfc_reference_ntf(wildcards):
    """ntf.nc of the recording that a mapped recording is mapped onto."""
    return f"{DATA}/dfc/{recording_config(wildcards.recording)['map_onto']}/ntf.nc"


def dfc_reference_name(wildcards):
    """Name of the recording a mapped recording is mapped onto."""
    return recording_config(wildcards.recording)["map_onto"]


def dfc_recording_pattern(recordings):
    """Wildcard pattern matching exactly these recordings (nothing if empty)."""
    return "|".join(recordings) if recordings else "(?!)"


def dfc_ntf_mem_mb(wildcards, input):
    """Memory of the NTF jobs: the dense tensor, its EM copy and the reconstruction chunks
    (affinity files are compressed about 3x)."""
    return int(2000 + 12 * input.size_mb)
