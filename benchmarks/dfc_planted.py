"""End-to-end planted benchmark of the dfc stage: simulate -> affinity -> NTF -> communities.

Scenarios (both with known planted communities active in known windows):

* ``simulator``: the workflow's simulated recording at its default noise level (brain states
  on the Cook 2019 wiring, GCaMP kinetics, partial labels), read from
  ``data/homogenized/{recording}.nc`` and ``data/raw/{recording}/model.nc``; build them first
  with ``snakemake data/homogenized/sim.nc data/raw/sim/model.nc``.
* ``simulated-<n>``: a fresh simulated recording with ``<n>`` worms (default settings and
  noise of ``pipelines.simulate`` otherwise; ``--simulate`` overrides them, e.g. a noise
  sweep), homogenized in a temporary folder;
* ``synthetic``: ``pipelines.dfc.synthetic.planted_communities`` (latent shared signals).

Scores per planted community k, after Hungarian matching of communities to non-baseline
components on time-course AUROC:

* ``auroc``: AUROC of the component's time factor for k's active windows;
* ``nmi_community`` (the headline, target ≥ 0.8): NMI of the planted split (members of k vs
  the rest of the tensor's neurons) with the split by the component's motif community
  (``communities.nc`` ``motif``, by the rule the stage ran, ``dfc.communities.motif_rule``:
  by default the neurons that move with the component's core while it is on,
  :func:`pipelines.dfc.communities.coherence_motif`; no look at the truth; a fit saved by an
  earlier default keeps that default's motif here, and the ``nmi_motif_*`` scores below
  compare the rules on the same fit);
  ``nmi_community_leiden`` the hierarchy rule applied to the Leiden communities. Every neuron
  of the tensor counts: a member left out of the component's graph (all its pair weights 0)
  is a miss;
* ``nmi_block``: the same NMI for the level-0 SBM community with the best F1 for k (an
  oracle choice among the blocks, the headline before 2 December 2026; ``nmi_block_leiden``
  for Leiden);
* ``nmi_motif_hierarchy``, ``nmi_motif_participation``: the same NMI for the motif by each
  ``dfc.communities.motif_rule`` (hierarchy: the SBM block grown up the hierarchy;
  participation: the neurons taking part at least half as strongly as the strongest), both
  computed from the saved fit whichever rule wrote ``motif``;
* ``nmi_motif_participation_weight``, ``participation_auroc_weight``,
  ``nmi_participation_ceiling_weight``: the participation scores below for the participation
  fitted to the sparse pair weights (``participation_source: weight``, the default) whatever
  source the stage ran (recorded as ``participation_source``), so one run compares the
  sources on the same fit;
* ``nmi_motif_activation``, ``activation_auroc``, ``nmi_activation_ceiling`` and
  ``nmi_motif_coherence``, ``coherence_auroc``, ``nmi_coherence_ceiling``: the motif NMI,
  the members' AUROC and the best cut (oracle) of the ``ntf.nc`` ``activation`` and
  ``coherence`` orders (``motif_rule: activation`` and ``coherence``); for a fit saved
  without them they are computed from the re-simulated calcium by the stage's own functions
  (:func:`saved_fit_scores`);
* ``participation_auroc``: AUROC of the neurons' participation in the component
  (``communities.nc`` ``participation``, the rank-1 loading of its pair weights; absent
  neurons 0) for k's members: whether the component ranks members above the rest;
* ``nmi_participation_ceiling``: the best NMI of any cut of that ranking (the top j neurons,
  j chosen with the truth): an oracle upper bound for every rule that cuts the participation
  order, so a community below 0.8 here fails in the NTF step (the order), not in the choice of
  the cut;
* ``nmi_partition``: NMI of the whole SBM partition with the planted split (penalises every
  further split of the background, which the SBM may well find real structure in);
* ``f1``: F1 of the best-matching SBM community;
* ``combined_nmi``: NMI of one neuron partition built from every matched component (a neuron
  gets the planted community whose best-matching community holds it, else "none") with the
  planted one (community or none).

Diagnostic (``window_oracle``): the same community scores on an oracle graph that bypasses the
NTF, the worm-mean affinity inside community k's windows minus outside (clipped at 0), i.e.
static per-epoch averaging with the windows known (spec §9.2). It separates failures of the
community step from failures of the NTF step.

Identifiability (simulator scenarios; what activity alone can tell): per community the
members missed by the best-matching SBM community with their ``window response`` (SD of the
calcium inside the community's windows over SD outside, mean over worms; ≈ 1 means the
neuron's activity hardly changes when its community is on), and the false positives, with
how many of them the members drive through the simulator's wiring at least as strongly as
they drive a typical member (:func:`driven_outsiders`; such neurons co-fluctuate with the
community although the stimulus never reaches them). ``nmi_community_without_driven`` leaves
those neurons out of the score (a diagnostic, not the headline). ``effective_worms``: how
many worms carry the matched component (participation ratio of its worm loadings; 1 = one
worm's own event).

    nice python benchmarks/dfc_planted.py [--scenario simulator synthetic] [--seed 0]

Ablations: ``--uniform-pair-penalty`` gives every pair the same L1 weight in the sparse NTF
(the rule before 2 December 2026) instead of one scaled by the square root of the pair's
coverage (``pipelines.dfc.ntf.pair_penalty``); ``--communities '{"weight_model":
"auto"}'`` changes the SBM settings (default: the stage defaults, exponential weights).
``--save DIR`` keeps each scenario's ``ntf.nc`` and ``communities.nc``; ``--save DIR
--rescore`` scores them again (same scenario and seed) without refitting; ``--save DIR
--refit-communities`` keeps the saved ``ntf.nc`` and fits the communities again (to compare
community settings on the same components).

Prints a table and writes benchmarks/results/dfc_planted.json.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import xarray as xr
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import normalized_mutual_info_score as nmi
from sklearn.metrics import roc_auc_score

from pipelines.dfc.communities import (
    activation_motif,
    coherence_motif,
    component_communities,
    fit_sbm,
    leiden_communities,
    motif_community,
    participation,
    participation_motif,
)
from pipelines.dfc.moments import binned_moments
from pipelines.dfc.pipeline import (
    affinity_from_store,
    component_activation,
    component_coherence,
    components_from_calcium,
)
from pipelines.dfc.tensor import pair_matrix

RESULTS = Path(__file__).parent / "results" / "dfc_planted.json"


def simulator_scenario(recording: str):
    store = xr.open_dataset(f"data/homogenized/{recording}.nc", engine="h5netcdf").load()
    model = xr.open_dataset(f"data/raw/{recording}/model.nc", engine="h5netcdf").load()
    return store, *_truth(model)


def fresh_simulation_scenario(n_worms: int, seed: int, overrides: dict | None = None):
    """Simulate ``n_worms`` worms with the simulator's defaults (or ``overrides`` of
    :class:`~pipelines.simulate.SimulationSettings`, e.g. a noise level) and homogenize them."""
    import tempfile

    from pipelines.recordings.homogenize import Settings, build_batch
    from pipelines.simulate import SimulationSettings, simulate_recording, worm_id

    folder = Path(tempfile.mkdtemp(prefix="dfc_planted_"))
    simulate_recording(SimulationSettings(**{**(overrides or {}), "worms": n_worms, "seed": seed}),
                       folder)
    batches = [build_batch("flavell-h5", [folder / f"{worm_id(w)}-data.h5"],
                           folder / f"{worm_id(w)}.nc", "planted", Settings(),
                           labels=str(folder / f"{worm_id(w)}-labels.csv"))
               for w in range(n_worms)]
    store = xr.concat([b[["calcium"]] for b in batches], "worm", join="outer")
    store.attrs["dt"] = batches[0].attrs["dt"]
    model = xr.open_dataset(folder / "model.nc", engine="h5netcdf").load()
    return store, *_truth(model)


def _truth(model: xr.Dataset):
    """Planted membership, neuron names, active windows per community, and the wiring drive
    (post, pre): the mean |interaction| over brain states of the simulator's latent model."""
    membership = model["membership"].values
    windows = [list(zip(model["stimulus_start"].values[model["stimulus_community"].values == k],
                        model["stimulus_end"].values[model["stimulus_community"].values == k],
                        strict=True)) for k in range(membership.shape[0])]
    drive = np.abs(model["interaction"].values).mean(axis=0)
    return membership, [str(n) for n in model["neuron"].values], windows, drive


def synthetic_scenario(seed: int):
    from pipelines.dfc.synthetic import planted_communities

    store = planted_communities(n_neurons=60, n_worms=10, seed=seed)
    windows = [[(s, e)] for s, e in zip(store["window_start"].values, store["window_end"].values,
                                        strict=True)]
    return (store, store["membership"].values, [str(n) for n in store["neuron"].values],
            windows, None)


def active(time: np.ndarray, windows) -> np.ndarray:
    on = np.zeros(time.size, bool)
    for start, end in windows:
        on |= (time >= start) & (time < end)
    return on


def best_block(labels: np.ndarray, members: np.ndarray) -> tuple[int, float]:
    """The community of ``labels`` (≥ 0) with the best F1 for ``members`` (bool)."""
    best = (-1, 0.0)
    for block in np.unique(labels[labels >= 0]):
        inside = labels == block
        tp = (inside & members).sum()
        f1 = 2 * tp / (inside.sum() + members.sum()) if tp else 0.0
        best = max(best, (int(block), float(f1)), key=lambda x: x[1])
    return best


def driven_outsiders(members: np.ndarray, drive: np.ndarray) -> np.ndarray:
    """Non-members that the members drive through the wiring at least as strongly as they
    drive a typical member of their own: (N,) bool over the truth's neurons.

    ``drive`` (post, pre) is the simulator's |interaction|; a neuron's input from the
    community is its row sum over members (without itself). Such neurons co-fluctuate with
    the community during its windows although the stimulus never reaches them, so activity
    alone cannot tell them from members: the planted split is not fully identifiable.
    """
    inside = drive[np.ix_(members, members)]
    member_input = inside.sum(axis=1) - np.diag(inside)
    received = drive[:, members].sum(axis=1)
    return ~members & (received >= np.median(member_input))


def window_response(store: xr.Dataset, windows) -> np.ndarray:
    """(community, neuron) calcium response to each community's windows: SD of the trace
    inside the windows over SD outside, mean over the worms recording the neuron (≈ 1: the
    neuron's activity does not change when the community is on)."""
    calcium = store["calcium"].transpose("worm", "neuron", "time").values
    time = store["time"].values
    out = np.full((len(windows), calcium.shape[1]), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # neurons never recorded
        for k, window in enumerate(windows):
            on = active(time, window)
            out[k] = np.nanmean(np.nanstd(calcium[..., on], axis=2)
                                / np.nanstd(calcium[..., ~on], axis=2), axis=0)
    return out


def score(ntf: xr.Dataset, communities: xr.Dataset, membership: np.ndarray, truth_neurons,
          windows, drive: np.ndarray | None = None,
          response: xr.DataArray | None = None) -> dict:
    motifs = np.flatnonzero(~ntf["is_baseline"].values)
    time = ntf["time"].values
    auroc = np.array([[roc_auc_score(active(time, windows[k]), ntf["time_factor"].values[r])
                       for r in motifs] for k in range(len(windows))])
    rows, cols = linear_sum_assignment(-auroc)
    neurons = communities["neuron"].values.astype(str)
    truth_index = {n: i for i, n in enumerate(truth_neurons)}
    # every neuron of the tensor is scored: one that a component's graph leaves out (no
    # edge: all its pair weights exactly 0) counts as outside every community of it
    in_tensor = set(map(str, ntf["neuron_1"].values)) | set(map(str, ntf["neuron_2"].values))
    per_community = []
    combined_pred = {}
    for k, c in zip(rows, cols, strict=True):
        r = int(motifs[c])
        labels = communities["community"].sel(component=r).values
        leiden = communities["leiden_community"].sel(component=r).values
        keep = np.array([(n in in_tensor) and (n in truth_index) for i, n in enumerate(neurons)])
        members = np.zeros(len(neurons), bool)
        for i, n in enumerate(neurons):
            if n in truth_index:
                members[i] = membership[k, truth_index[n]]
        block, f1 = best_block(np.where(keep, labels, -1), members & keep)
        leiden_block, leiden_f1 = best_block(np.where(keep, leiden, -1), members & keep)
        motif = communities["motif"].sel(component=r).values.astype(bool)
        leiden_motif = _leiden_motif(ntf, r, neurons, leiden)
        share = np.nan_to_num(communities["participation"].sel(component=r).values)
        share_weight = _weight_participation(ntf, r, neurons)
        hierarchy_motif = _hierarchy_motif(ntf, communities, r, neurons)
        rise = ntf["activation"].sel(component=r, neuron=neurons).values.astype(float)
        rise_motif = activation_motif(np.where(keep, rise, np.nan))
        together = ntf["coherence"].sel(component=r, neuron=neurons).values.astype(float)
        together_motif = coherence_motif(np.where(keep, together, np.nan))
        for i in np.flatnonzero(keep & motif):
            combined_pred.setdefault(neurons[i], k)
        identifiability = {}
        if drive is not None:
            outsiders = driven_outsiders(membership[k].astype(bool), drive)
            driven = np.array([n in truth_index and bool(outsiders[truth_index[n]])
                               for n in neurons])
            false_positive = keep & motif & ~members
            missed = keep & members & ~motif
            scored = keep & ~driven
            identifiability = {
                "driven_outsiders": int((keep & driven).sum()),
                "false_positives": int(false_positive.sum()),
                "false_positives_driven": int((false_positive & driven).sum()),
                "missed_members": int(missed.sum()),
                "missed_member_response": [
                    round(float(response.sel(neuron=n).values[k]), 2) if response is not None
                    and n in response["neuron"].values else None for n in neurons[missed]],
                "member_response_median": float(np.nanmedian(
                    [response.sel(neuron=n).values[k] for n in neurons[keep & members]]))
                if response is not None else None,
                "nmi_community_without_driven": float(nmi(members[scored], motif[scored])),
            }
        per_community.append({
            "community": int(k), "component": r, "auroc": float(auroc[k, c]),
            "members": int(membership[k].sum()), "members_in_graph": int((members & keep).sum()),
            "n_communities": int(communities["n_communities"].sel(component=r)),
            "nmi_community": float(nmi(members[keep], motif[keep])),
            "nmi_community_leiden": float(nmi(members[keep], leiden_motif[keep])),
            "motif_size": int((keep & motif).sum()),
            "motif_level": int(communities["motif_level"].sel(component=r)),
            "nmi_motif_hierarchy": float(nmi(members[keep], hierarchy_motif[keep])),
            "nmi_motif_participation": float(nmi(members[keep],
                                                 participation_motif(share)[keep])),
            "participation_auroc": float(roc_auc_score(members[keep], share[keep])),
            "nmi_participation_ceiling": participation_ceiling(members[keep], share[keep]),
            "nmi_motif_participation_weight": float(nmi(members[keep],
                                                        participation_motif(share_weight)[keep])),
            "participation_auroc_weight": float(roc_auc_score(members[keep],
                                                              share_weight[keep])),
            "nmi_participation_ceiling_weight": participation_ceiling(members[keep],
                                                                      share_weight[keep]),
            "nmi_motif_activation": float(nmi(members[keep], rise_motif[keep])),
            "activation_auroc": float(roc_auc_score(members[keep], np.nan_to_num(rise[keep],
                                                                                 nan=-1.0))),
            "nmi_activation_ceiling": participation_ceiling(members[keep],
                                                            np.nan_to_num(rise[keep], nan=-1.0)),
            "nmi_motif_coherence": float(nmi(members[keep], together_motif[keep])),
            "coherence_auroc": float(roc_auc_score(members[keep],
                                                   np.nan_to_num(together[keep], nan=-1.0))),
            "nmi_coherence_ceiling": participation_ceiling(
                members[keep], np.nan_to_num(together[keep], nan=-1.0)),
            "nmi_block": float(nmi(members[keep], labels[keep] == block)),
            "nmi_block_leiden": float(nmi(members[keep], leiden[keep] == leiden_block)),
            "nmi_partition": float(nmi(members[keep], labels[keep])),
            "nmi_partition_leiden": float(nmi(members[keep], leiden[keep])),
            "f1": f1, "f1_leiden": leiden_f1,
            "stability_best_block": float(
                communities["community_stability"].sel(component=r).values[block]),
            "effective_worms": float(ntf["effective_worms"].values[r])
            if "effective_worms" in ntf else None,
            **identifiability,
        })
    present = [n for n in truth_neurons if n in set(neurons[(communities["community"].values >= 0)
                                                           .any(axis=0)])]
    planted = [int(np.argmax(membership[:, truth_index[n]])) if membership[:, truth_index[n]].any()
               else -1 for n in present]
    predicted = [combined_pred.get(n, -1) for n in present]
    return {"per_community": per_community,
            "combined_nmi": float(nmi(planted, predicted)),
            "mean_auroc": float(np.mean([p["auroc"] for p in per_community])),
            **{f"mean_{key}": float(np.mean([p[key] for p in per_community]))
               for key in ("nmi_community", "nmi_community_leiden", "nmi_block",
                           "nmi_participation_ceiling", "participation_auroc",
                           "nmi_motif_hierarchy", "nmi_motif_participation",
                           "nmi_motif_participation_weight", "participation_auroc_weight",
                           "nmi_participation_ceiling_weight", "nmi_motif_activation",
                           "activation_auroc", "nmi_activation_ceiling",
                           "nmi_motif_coherence", "coherence_auroc", "nmi_coherence_ceiling",
                           "nmi_block_leiden", "nmi_partition",
                           "nmi_partition_leiden", "f1_leiden")},
            "mean_f1": float(np.mean([p["f1"] for p in per_community])),
            "n_components": int(ntf.sizes["component"]), "n_motifs": int(motifs.size)}


def participation_ceiling(members: np.ndarray, share: np.ndarray) -> float:
    """Best NMI of ``members`` (bool) with the top-j split of ``share`` over all j (ties cut
    together): what the best possible cut of the participation order would score."""
    cuts = np.unique(share)[::-1]
    return float(max(nmi(members, share >= cut) for cut in cuts))


def _weight_participation(ntf: xr.Dataset, component: int, neurons: np.ndarray) -> np.ndarray:
    """Participation fitted to the sparse ``pair_weight`` (``participation_source: weight``)
    over the neurons of the component's graph, whatever source the saved communities used:
    (neuron,) float over ``neurons``, 0 outside the graph."""
    from pipelines.dfc.communities.components import present_neurons

    weights = ntf["pair_weight"].sel(component=component).transpose("pre", "post")
    index = {n: i for i, n in enumerate(neurons)}
    slots = np.array([index[str(n)] for n in weights["pre"].values])
    graph = weights.values.astype(float)
    present = present_neurons(graph)
    graph = graph[np.ix_(present, present)]
    out = np.zeros(len(neurons))
    out[slots[present]] = participation((graph + graph.T) / 2)
    return out


def _hierarchy_motif(ntf: xr.Dataset, communities: xr.Dataset, component: int,
                     neurons: np.ndarray) -> np.ndarray:
    """The motif by the hierarchy rule (``motif_rule: hierarchy``) from the saved SBM
    hierarchy, whatever rule the communities were written with: (neuron,) bool."""
    n_levels = int(communities["n_levels"].sel(component=component))
    levels = communities["community_level"].sel(component=component).values[:n_levels]
    return _motif_from_levels(
        ntf, component, neurons, levels,
        degree_corrected=bool(communities["degree_corrected"].sel(component=component)),
        weight_model=str(communities["weight_model"].sel(component=component).values)
        or "exponential")


def _leiden_motif(ntf: xr.Dataset, component: int, neurons: np.ndarray,
                  leiden: np.ndarray) -> np.ndarray:
    """The motif community chosen by the same rule among a component's Leiden communities:
    (neuron,) bool over ``neurons`` (``leiden`` −1: absent)."""
    return _motif_from_levels(ntf, component, neurons, leiden[None])


def _motif_from_levels(ntf: xr.Dataset, component: int, neurons: np.ndarray,
                       levels: np.ndarray, **options) -> np.ndarray:
    """:func:`motif_community` of a component's graph for nested partitions ``levels``
    (level, neuron) over ``neurons`` (−1: absent, by the finest level): (neuron,) bool."""
    weights = ntf["pair_weight"].sel(component=component).transpose("pre", "post")
    index = {n: i for i, n in enumerate(neurons)}
    slots = np.array([index[str(n)] for n in weights["pre"].values])
    levels = levels[:, slots]
    present = levels[0] >= 0
    graph = weights.values.astype(float)[np.ix_(present, present)]
    found = motif_community((graph + graph.T) / 2, [lv[present] for lv in levels],
                            **options).members
    out = np.zeros(len(neurons), bool)
    out[slots[present][found]] = True
    return out


def window_oracle(store, membership, truth_neurons, windows, seed: int, restarts: int) -> list:
    """Community scores on the window-contrast affinity graph of each planted community."""
    affinity = affinity_from_store(store, None, 1.0, seed)
    values = affinity["affinity"].mean("channel").values  # (worm, time, pair)
    time = affinity["time"].values
    rows = []
    for k in range(len(windows)):
        on = active(time, windows[k])
        contrast = np.nanmean(values[:, on], axis=(0, 1)) - np.nanmean(values[:, ~on], axis=(0, 1))
        graph = pair_matrix(np.clip(contrast, 0, None)[None], affinity["neuron_1"].values,
                            affinity["neuron_2"].values).isel(component=0)
        weights = graph.values.astype(float)
        keep = np.isfinite(weights).any(1) & (np.nan_to_num(weights) > 0).any(1)
        weights = weights[np.ix_(keep, keep)]
        names = np.array([str(n) for n in graph["pre"].values])[keep]
        members = np.array([n in truth_neurons and bool(membership[k, truth_neurons.index(n)])
                            for n in names])
        row = {"community": k, "members_in_graph": int(members.sum()), "neurons": int(keep.sum())}
        fit = fit_sbm(weights, seed=seed, restarts=restarts)
        leiden = leiden_communities(weights, seed=seed)
        for method, levels in (("sbm", fit.levels), ("leiden", [leiden])):
            motif = motif_community(weights, levels).members
            block, f1 = best_block(levels[0], members)
            row[f"nmi_community_{method}"] = float(nmi(members, motif))
            row[f"nmi_block_{method}"] = float(nmi(members, levels[0] == block))
            row[f"f1_{method}"] = f1
        rows.append(row)
    return rows


def _uniform_pair_penalty() -> None:
    """Ablation: the sparse NTF's L1 weight without the per-pair coverage scaling (the
    ``sparsity`` x RMS observed entry of every pair)."""
    from pipelines.dfc import ntf

    def uniform(shape, observed, sparsity, norm):
        n_observed = np.prod(shape) if observed is None else observed.sum()
        return np.full(shape[2], sparsity * norm / np.sqrt(max(n_observed, 1)), np.float32)

    ntf.pair_penalty = uniform


def saved_fit_scores(ntf: xr.Dataset, store: xr.Dataset, tensor: dict) -> xr.Dataset:
    """``activation`` and ``coherence`` of a fit saved without them, from the calcium it was
    fitted to (as :func:`pipelines.dfc.pipeline.fit_components` computes them from the
    tensor's moments)."""
    names = sorted(set(map(str, ntf["neuron_1"].values)) | set(map(str, ntf["neuron_2"].values)),
                   key=list(map(str, store["neuron"].values)).index)
    moments = binned_moments(store["calcium"].sel(neuron=names), tensor.get("time_bin", 1.0))
    moments = moments.sel(time=ntf["time"].values, method="nearest", tolerance=1e-3)
    time_factor = ntf["time_factor"].values
    activation = component_activation(moments["deviation"], time_factor)
    return xr.Dataset({"activation": activation,
                       "coherence": component_coherence(moments, time_factor, activation)})


def run(name: str, store, membership, truth_neurons, windows, drive, seed: int, restarts: int,
        config: dict | None = None, oracle: bool = True, save: Path | None = None,
        community_settings: dict | None = None, rescore: bool = False,
        refit_communities: bool = False) -> dict:
    ntf_seconds = community_seconds = float("nan")
    if rescore:  # the fits saved by an earlier run with --save
        ntf = xr.open_dataset(save / f"{name}-ntf.nc", engine="h5netcdf").load()
        communities = xr.open_dataset(save / f"{name}-communities.nc", engine="h5netcdf").load()
        if "motif" not in communities or "participation" not in communities:
            raise SystemExit(f"{save}: the saved communities predate the motif community or "
                             "the participation; score them with --refit-communities")
    else:
        start = time.perf_counter()
        if refit_communities:
            ntf = xr.open_dataset(save / f"{name}-ntf.nc", engine="h5netcdf").load()
        else:
            ntf = components_from_calcium(store, config, seed)
            ntf_seconds = time.perf_counter() - start
        start = time.perf_counter()
        communities = component_communities(
            ntf, {"restarts": restarts, **(community_settings or {})}, seed)
        community_seconds = time.perf_counter() - start
        if save is not None and not refit_communities:
            save.mkdir(parents=True, exist_ok=True)
            ntf.to_netcdf(save / f"{name}-ntf.nc")
            communities.to_netcdf(save / f"{name}-communities.nc")
    if "coherence" not in ntf:  # a fit saved before ntf.nc had them: same functions, same bins
        scores = saved_fit_scores(ntf, store, (config or {}).get("tensor") or {})
        ntf["activation"], ntf["coherence"] = scores["activation"], scores["coherence"]
    response = xr.DataArray(window_response(store, windows), dims=("community", "neuron"),
                            coords={"neuron": store["neuron"].values})
    result = score(ntf, communities, membership, truth_neurons, windows, drive, response)
    result.update(scenario=name, seed=seed, config=config or {},
                  motif_rule=communities.attrs.get("motif_rule", "hierarchy"),
                  participation_source=communities.attrs.get("participation_source", "weight"),
                  selected_rank=int(ntf.attrs["selected_rank"]), rank_reason=ntf.attrs["reason"],
                  ntf_seconds=ntf_seconds,
                  community_seconds=community_seconds,
                  rescored=str(save) if rescore or refit_communities else None,
                  window_oracle=window_oracle(store, membership, truth_neurons, windows, seed,
                                              restarts) if oracle else [])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", nargs="*", default=["simulator", "synthetic"])
    parser.add_argument("--recording", default="sim")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--restarts", type=int, default=10)
    parser.add_argument("--config", default="{}",
                        help='dfc config section as JSON, e.g. \'{"tensor": {"baseline": "none"}}\'')
    parser.add_argument("--simulate", default="{}",
                        help='simulated-<n>: simulator settings as JSON, e.g. a lower noise level '
                        '\'{"measurement_noise": 0.06, "shot_noise": 0.025}\'')
    parser.add_argument("--no-oracle", action="store_true", help="skip the window oracle")
    parser.add_argument("--communities", default="{}",
                        help='dfc.communities settings as JSON, e.g. \'{"weight_model": "exponential"}\'')
    parser.add_argument("--uniform-pair-penalty", action="store_true",
                        help="ablation: one L1 weight for every pair, whatever its coverage")
    parser.add_argument("--output", default=str(RESULTS))
    parser.add_argument("--save", type=Path, help="folder for each scenario's ntf.nc and "
                        "communities.nc (to inspect or re-score)")
    parser.add_argument("--rescore", action="store_true", help="score the fits saved in "
                        "--save by an earlier run (same scenario and seed) instead of fitting")
    parser.add_argument("--refit-communities", action="store_true", help="keep the NTF saved "
                        "in --save by an earlier run (same scenario and seed) and fit the "
                        "communities again")
    args = parser.parse_args()
    config = json.loads(args.config)
    if args.uniform_pair_penalty:
        _uniform_pair_penalty()
    results = []
    for name in args.scenario:
        if name == "simulator":
            data = simulator_scenario(args.recording)
        elif name.startswith("simulated-"):
            data = fresh_simulation_scenario(int(name.split("-")[1]), args.seed,
                                             json.loads(args.simulate))
        else:
            data = synthetic_scenario(args.seed)
        results.append(run(name, *data, args.seed, args.restarts, config, not args.no_oracle,
                           args.save, json.loads(args.communities), args.rescore,
                           args.refit_communities))
        if name.startswith("simulated-"):
            results[-1]["simulate"] = json.loads(args.simulate)
    print(f"{'scenario':>9} {'k':>2} {'comp':>4} {'AUROC':>6} {'members':>7} {'B':>3} "
          f"{'NMI comm SBM/Leiden':>19} {'NMI block SBM/Leiden':>20} {'NMI part SBM/Leiden':>19} "
          f"{'F1 SBM/Leiden':>13} "
          f"{'stab':>5}")
    for result in results:
        for p in result["per_community"]:
            print(f"{result['scenario']:>9} {p['community']:>2} {p['component']:>4} "
                  f"{p['auroc']:>6.3f} {p['members_in_graph']:>3}/{p['members']:<3} "
                  f"{p['n_communities']:>3} {p['nmi_community']:>9.3f}/"
                  f"{p['nmi_community_leiden']:<9.3f} {p['nmi_block']:>10.3f}/"
                  f"{p['nmi_block_leiden']:<9.3f} {p['nmi_partition']:>9.3f}/"
                  f"{p['nmi_partition_leiden']:<9.3f} {p['f1']:>6.3f}/{p['f1_leiden']:<6.3f} "
                  f"{p['stability_best_block']:>5.2f}")
            if "driven_outsiders" in p:
                print(f"{'':>9} {p['community']:>2} identifiability: {p['missed_members']} members "
                      f"missed (window response {p['missed_member_response']}, members' median "
                      f"{p['member_response_median']:.2f}), {p['false_positives']} false positives of which "
                      f"{p['false_positives_driven']} driven by the members through the wiring "
                      f"({p['driven_outsiders']} such neurons in the tensor); NMI without them "
                      f"{p['nmi_community_without_driven']:.3f}; members' participation "
                      f"AUROC {p['participation_auroc']:.3f}, best cut of it (oracle) NMI "
                      f"{p['nmi_participation_ceiling']:.3f}"
                      + (f"; its component is carried by {p['effective_worms']:.1f} worms"
                         if p.get("effective_worms") is not None else ""))
        print(f"{result['scenario']:>9} mean AUROC {result['mean_auroc']:.3f}, mean community "
              f"NMI SBM {result['mean_nmi_community']:.3f} (Leiden "
              f"{result['mean_nmi_community_leiden']:.3f}), best-block NMI SBM "
              f"{result['mean_nmi_block']:.3f}, motif by rule hierarchy "
              f"{result['mean_nmi_motif_hierarchy']:.3f} / participation "
              f"{result['mean_nmi_motif_participation']:.3f}, participation-cut ceiling "
              f"{result['mean_nmi_participation_ceiling']:.3f}, partition NMI SBM "
              f"{result['mean_nmi_partition']:.3f} (Leiden "
              f"{result['mean_nmi_partition_leiden']:.3f}), mean F1 {result['mean_f1']:.3f}, "
              f"combined NMI {result['combined_nmi']:.3f}; "
              f"{result['n_motifs']}/{result['n_components']} motif components (rank "
              f"{result['selected_rank']}: {result['rank_reason']}); NTF "
              f"{result['ntf_seconds']:.0f} s, communities {result['community_seconds']:.1f} s")
        for row in result["window_oracle"]:
            print(f"{result['scenario']:>9} window-oracle graph, community {row['community']}: "
                  f"{row['members_in_graph']} members in {row['neurons']} neurons, community "
                  f"NMI SBM {row['nmi_community_sbm']:.3f} (F1 {row['f1_sbm']:.3f}), Leiden "
                  f"{row['nmi_community_leiden']:.3f} (F1 {row['f1_leiden']:.3f})")
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
