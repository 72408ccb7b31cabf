"""Write one recording's atlas: ``atlas.nc``, ``graphs/`` and ``report.html``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import xarray as xr

from pipelines.common.atomic import atomic_path
from pipelines.common.log import get_logger
from pipelines.common.provenance import file_checksum, provenance

from .assemble import build_atlas
from .graphs import matrix_graph, write_graphml
from .report import atlas_figures, figure_to_data_uri, render_report

log = get_logger(__name__)


def load_stage(*paths: str | os.PathLike | None) -> xr.Dataset | None:
    """Open and merge the given stage files (``None`` entries are skipped)."""
    parts = [xr.load_dataset(p, engine="h5netcdf") for p in paths if p]
    if not parts:
        return None
    merged = xr.merge(parts, compat="override", combine_attrs="drop_conflicts")
    return merged


def stimulus_schedule(truth_path: str | os.PathLike | None) -> xr.Dataset | None:
    """Stimulus blocks (start, end in s) from a simulator ground truth, if given."""
    if not truth_path:
        return None
    truth = xr.load_dataset(truth_path, engine="h5netcdf")
    for start, end in (("stimulus_start", "stimulus_end"), ("start", "end")):
        if start in truth and end in truth:
            return xr.Dataset({"start": truth[start], "end": truth[end]})
    return None


def mapped_worms(homogenized: xr.Dataset, reference: xr.Dataset | None) -> list[str]:
    """Worms present in this recording but not among the worms the models were fitted on."""
    if reference is None:
        return []
    fitted = set(map(str, reference["worm"].values))
    return [str(w) for w in homogenized["worm"].values if str(w) not in fitted]


def write_atlas(
    inputs: dict[str, str | None],
    out_atlas: str | os.PathLike,
    out_report: str | os.PathLike,
    out_graphs: str | os.PathLike,
    out_figures: str | os.PathLike,
    recording: str,
    settings: dict,
    mapped: bool = False,
) -> None:
    """Assemble and write every atlas output of one recording.

    ``inputs`` maps ``homogenized``, ``connectomes``, ``neurons`` (CSV), ``ntf``, ``communities``, ``glmhmm``,
    ``predictor``, ``evaluation`` (CSV) and optionally ``truth`` to paths. When ``mapped``,
    every worm of the recording is marked as mapped onto the reference atlas.
    """
    homogenized = xr.load_dataset(inputs["homogenized"], engine="h5netcdf")
    connectomes = xr.load_dataset(inputs["connectomes"], engine="h5netcdf")
    neurons = pd.read_csv(inputs["neurons"], index_col=0) if inputs.get("neurons") else None
    stages = {
        "dfc": load_stage(inputs.get("ntf"), inputs.get("communities")),
        "glmhmm": load_stage(inputs.get("glmhmm")),
        "predictor": load_stage(inputs.get("predictor")),
    }
    worms = [str(w) for w in homogenized["worm"].values]
    attrs = {
        "title": f"Dynamic connectome atlas of {recording}",
        "recording": recording,
        "mapped_worms": json.dumps(worms if mapped else []),
        "settings": json.dumps(settings, default=str, sort_keys=True),
        "input_checksums": json.dumps(
            {k: file_checksum(v) for k, v in inputs.items() if v and Path(v).exists()}, sort_keys=True),
        "provenance": json.dumps(provenance("atlas", {k: v for k, v in inputs.items() if v},
                                            settings, checksums=False), default=str),
    }
    log.info("assembling atlas of %s (%d worms, mapped=%s)", recording, len(worms), mapped)
    atlas = build_atlas(homogenized, connectomes, stages, attrs, neurons,
                        anatomy_source=settings.get("anatomy", "cook2019"),
                        n_null=int(settings.get("n_null", 20)), seed=int(settings.get("seed", 0)))
    with atomic_path(out_atlas) as tmp:
        atlas.to_netcdf(tmp, engine="h5netcdf")
    log.info("wrote %s", out_atlas)

    write_atlas_graphs(atlas, neurons, out_graphs)
    figs = atlas_figures(atlas, stimulus_schedule(inputs.get("truth")))
    Path(out_figures).mkdir(parents=True, exist_ok=True)
    uris = {}
    for name, fig in figs.items():
        if fig is None:
            continue
        with atomic_path(Path(out_figures) / f"{name}.png") as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight")
        uris[name] = figure_to_data_uri(fig)
    table = pd.read_csv(inputs["evaluation"]) if inputs.get("evaluation") else None
    page = render_report(atlas, table, figure_uris=uris)
    with atomic_path(out_report) as tmp:
        tmp.write_text(page)
    log.info("wrote %s (%d figures)", out_report, len(uris))


def write_atlas_graphs(atlas: xr.DataTree, neurons: pd.DataFrame | None, out_dir) -> list[Path]:
    """GraphML per component (undirected pair weights, communities) and per state (directed
    interactions); node attributes from the per-neuron table."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if "dfc" in atlas.children and "pair_weight" in atlas["dfc"]:
        dfc = atlas["dfc"].to_dataset()
        names = [str(n) for n in dfc["pre"].values]
        for k in range(dfc.sizes["component"]):
            community = dfc["community"].values[k] if "community" in dfc else None
            motif = dfc["motif"].values[k] if "motif" in dfc else None
            share = dfc["participation"].values[k] if "participation" in dfc else None
            graph = matrix_graph(dfc["pair_weight"].transpose("component", "pre", "post").values[k],
                                 names, neurons, directed=False, community=community, motif=motif,
                                 participation=share,
                                 graph_attrs={"component": k, "recording": atlas.attrs["recording"],
                                              "baseline": int(bool(dfc["is_baseline"].values[k]))
                                              if "is_baseline" in dfc else 0,
                                              **({"effective_worms": float(dfc["effective_worms"].values[k])}
                                                 if "effective_worms" in dfc else {})})
            path = out_dir / f"component{k}.graphml"
            write_graphml(graph, path)
            written.append(path)
    if "glmhmm" in atlas.children and "interaction" in atlas["glmhmm"]:
        glm = atlas["glmhmm"].to_dataset()
        inter = glm["interaction"].transpose("state", "post", "pre")
        names = [str(n) for n in inter["post"].values]
        for k in range(inter.sizes["state"]):
            graph = matrix_graph(inter.values[k], names, neurons, directed=True,
                                 graph_attrs={"state": k, "recording": atlas.attrs["recording"]})
            path = out_dir / f"state{k}.graphml"
            write_graphml(graph, path)
            written.append(path)
    return written
