# Python functions of the connectomes stage's rules (input functions, id lists, paths).
# Rules stay in workflow/rules/connectomes.smk; functions stay here (snakemake --lint).

from pipelines.connectome.build import graph_files, resolve_sources, source_names


def _connectome_sources():
    """The configured sources, checked now (a bad name fails before any job runs), with
    Hub pulls cached under the data folder."""
    sources = resolve_sources(config["connectomes"]["sources"])
    return [
        (
            {"cache_dir": f"{DATA}/raw/hub/{s['name']}", **s}
            if isinstance(s, dict) and s["kind"] == "hub"
            else s
        )
        for s in sources
    ]


CONNECTOME_SOURCES = _connectome_sources()


def connectome_settings():
    """Settings of the connectomes job, passed as params so that a change triggers a rebuild."""
    section = config["connectomes"]
    return {
        "sources": CONNECTOME_SOURCES,
        "consensus_sources": section["consensus_sources"],
        "neuron_sheet": section["neuron_sheet"] or None,
        "sign_rules": section["sign_rules"],
        "max_q": section["randi_max_q"],
    }


def connectome_input_files():
    """User files read by the connectomes job (edge lists, local Hub folders, neuron sheet)."""
    files = []
    for source in CONNECTOME_SOURCES:
        if isinstance(source, dict) and source["kind"] == "edgelist":
            files.append(source["path"])
        elif isinstance(source, dict) and Path(source["repo_id"]).is_dir():
            files.append(str(Path(source["repo_id"], source["file"])))
    if config["connectomes"]["neuron_sheet"]:
        files.append(config["connectomes"]["neuron_sheet"])
    return files


def connectome_graph_paths():
    """One GraphML per source and layer (plus the consensus)."""
    names = graph_files(source_names(CONNECTOME_SOURCES)).values()
    return [f"{DATA}/connectomes/graphs/{name}" for name in names]


def connectome_neurons():
    """The per-neuron table written beside the connectome store."""
    return f"{DATA}/connectomes/neurons.csv"
