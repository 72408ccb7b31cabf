"""Communities of every NTF component: the content of ``data/dfc/{recording}/communities.nc``.

Each component's ``pair_weight`` (pre, post) is one weighted graph over the neurons of the
tensor. Neurons with no finite weight or no edge in it are absent (community −1); the rest are
partitioned by the weighted SBM (or Leiden), the Leiden baseline is run beside it, and every
community gets a stability score from the SBM's restarts or from resampled pair weights.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from sklearn.metrics import normalized_mutual_info_score

from pipelines.common import NEURON_INDEX, NEURONS, InputError, get_logger, write_netcdf
from pipelines.common.provenance import provenance, provenance_attrs

from .leiden import leiden_communities, louvain_communities
from .motif import (
    Motif,
    activation_motif,
    coherence_motif,
    motif_community,
    motif_gain,
    participation_motif,
)
from .participation import participation
from .sbm import fit_sbm
from .stability import comembership, community_stability, neuron_stability

log = get_logger(__name__)

METHODS = ("sbm", "leiden", "louvain")
MOTIF_RULES = ("hierarchy", "participation", "activation", "coherence")
SCORE_CUTS = {"activation": activation_motif, "coherence": coherence_motif}
"""Rules that cut a per-neuron score of ``ntf.nc`` (a variable of the rule's name)."""
FALLBACK = {"coherence": "activation", "activation": "participation"}
"""The rule used when the summary lacks a rule's score (affinities written before it)."""
MOTIF_DESCRIPTIONS = {
    "participation": "the neurons taking part at least half as strongly as the strongest "
                     "(participation >= 0.5)",
    "activation": "the neurons whose activity follows the component's time course, activation "
                  "above the median by at least half the largest rise (ntf.nc activation)",
    "coherence": "the neurons that move with its core while it is on, squared coherence above "
                 "the median by at least half the largest (ntf.nc coherence)",
    "hierarchy": "the assortative level-0 community with the largest description-length gain, "
                 "grown up the hierarchy while the added neurons show no community boundary "
                 "after degree correction and take part at least half as strongly",
}
"""What ``communities.nc`` ``motif`` holds under each ``motif_rule``."""
PARTICIPATION_SOURCES = ("weight", "loading")
STABILITY_SOURCES = ("auto", "restarts", "bootstrap")

DEFAULTS = {
    "method": "sbm",
    "degree_corrected": False,
    "weight_model": "exponential",
    "restarts": 10,
    "nested": True,
    "max_levels": 6,
    "leiden_resolution": 1.0,
    "stability": "auto",
    "motif_rule": "coherence",
    "participation_source": "weight",
}


def detect_communities(weights: np.ndarray, method: str = "sbm", seed: int = 0,
                       **options) -> np.ndarray:
    """Partition a weighted graph.

    Parameters
    ----------
    weights : (N, N) float
        Symmetric non-negative edge weights (0 = no edge).
    method : {"sbm", "leiden", "louvain"}
        "sbm": weighted SBM at its minimum-description-length level (:func:`fit_sbm`
        options: ``degree_corrected``, ``restarts``, ...); "leiden"/"louvain": modularity
        (option ``resolution``).
    seed : int

    Returns
    -------
    labels : (N,) int, communities 0..B−1 by decreasing size.
    """
    if method == "sbm":
        options.pop("resolution", None)
        return fit_sbm(weights, seed=seed, nested=False, **options).labels
    if method == "leiden":
        return leiden_communities(weights, seed=seed, resolution=options.get("resolution", 1.0))
    if method == "louvain":
        return louvain_communities(weights, seed=seed, resolution=options.get("resolution", 1.0))
    raise ValueError(f"unknown community method '{method}' (choose from {', '.join(METHODS)})")


def present_neurons(weights: np.ndarray) -> np.ndarray:
    """Nodes (bool, N) of a component graph: some finite weight and at least one edge."""
    finite = np.isfinite(weights)
    return finite.any(axis=1) & (np.where(finite, weights, 0.0) > 0).any(axis=1)


def _component(weights, settings, seed, resamples=None):
    """Partition, hierarchy, stability and Leiden baseline of one component graph (n, n)."""
    n = weights.shape[0]
    if settings["method"] == "sbm":
        fit = fit_sbm(weights, degree_corrected=settings["degree_corrected"],
                      weight_model=settings["weight_model"],
                      restarts=settings["restarts"], nested=settings["nested"],
                      max_levels=settings["max_levels"], seed=seed)
        labels, levels, dls, dc = fit.labels, fit.levels, fit.description_length, fit.degree_corrected
        model = fit.weight_model
        others = fit.restart_labels
    else:
        labels = detect_communities(weights, settings["method"], seed,
                                    resolution=settings["leiden_resolution"])
        levels, dls, dc, model = [labels], [np.nan], False, ""
        others = [detect_communities(weights, settings["method"], seed + 1 + k,
                                     resolution=settings["leiden_resolution"])
                  for k in range(settings["restarts"])]
    if resamples is not None:
        others = [detect_communities(w, settings["method"], seed, restarts=1,
                                     degree_corrected=dc, weight_model=model or "exponential",
                                     resolution=settings["leiden_resolution"])
                  for w in resamples]
    stability = neuron_stability(labels, others)
    leiden = leiden_communities(weights, seed=seed, resolution=settings["leiden_resolution"])
    return {
        "labels": labels, "levels": levels, "dl": dls, "dc": dc, "weight_model": model,
        "stability": stability,
        "community_stability": community_stability(labels, stability),
        "comembership": comembership(others), "leiden": leiden,
        "nmi": normalized_mutual_info_score(labels, leiden) if n > 1 else np.nan,
    }


def component_communities(ntf: xr.Dataset, settings: dict | None = None,
                          seed: int = 0) -> xr.Dataset:
    """Communities of every component of an NTF summary.

    Parameters
    ----------
    ntf : Dataset
        ``pair_weight`` (component, pre, post), symmetric, NaN for pairs outside the tensor;
        optional ``pair_loading`` (same dims; ``participation_source: loading``) and
        ``pair_weight_bootstrap`` (component, bootstrap, pre, post) from a bootstrap
        over worms (``stability: auto`` uses it when present, else the SBM restarts).
    settings : dict
        The ``dfc.communities`` config (keys of ``DEFAULTS``).
    seed : int

    Returns
    -------
    Dataset over all canonical neurons (``neuron``), with ``community`` (component, neuron)
    int32 (−1: absent), ``community_level`` (component, level, neuron), ``stability``
    (component, neuron) in [0, 1] (NaN: absent), ``motif`` (component, neuron) bool, the
    component's motif community by ``motif_rule`` (``participation``:
    :func:`~.motif.participation_motif`; ``hierarchy``: :func:`~.motif.motif_community`;
    ``activation``: :func:`~.motif.activation_motif` of ``ntf['activation']`` (component,
    neuron); ``coherence``: :func:`~.motif.coherence_motif` of ``ntf['coherence']``; a rule
    whose score the summary lacks falls back along ``FALLBACK``, and ``attrs['motif_rule']``
    records the rule used) with
    ``motif_gain`` (nats) and ``motif_level``, ``participation`` (component, neuron) in
    [0, 1] (graded membership, :func:`~.participation.participation` of the pair weights or,
    with ``participation_source: loading``, of ``ntf['pair_loading']``; NaN: not fitted),
    ``community_stability`` (component, community_id), ``n_communities`` (component), ``description_length`` (component, level)
    nats, ``degree_corrected`` and ``weight_model`` (component), ``leiden_community`` (component, neuron),
    ``nmi_sbm_leiden`` (component), ``comembership`` (component, pre, post).
    """
    settings = {**DEFAULTS, **(settings or {})}
    if settings["method"] not in METHODS:
        raise ValueError(f"dfc.communities.method '{settings['method']}' is not one of {METHODS}")
    if settings["motif_rule"] not in MOTIF_RULES:
        raise ValueError(f"dfc.communities.motif_rule '{settings['motif_rule']}' is not one of "
                         f"{MOTIF_RULES}")
    if settings["stability"] not in STABILITY_SOURCES:
        raise ValueError(f"dfc.communities.stability '{settings['stability']}' is not one of "
                         f"{STABILITY_SOURCES}")
    if "pair_weight" not in ntf:
        raise ValueError("the NTF summary has no 'pair_weight' (component, pre, post)")
    pair_weight = ntf["pair_weight"].transpose("component", "pre", "post")
    use_bootstrap = settings["stability"] == "bootstrap" or (
        settings["stability"] == "auto" and "pair_weight_bootstrap" in ntf)
    if use_bootstrap and "pair_weight_bootstrap" not in ntf:
        raise ValueError("dfc.communities.stability is 'bootstrap' but the NTF summary has no "
                         "'pair_weight_bootstrap'; use 'restarts' or produce the bootstrap")
    participation_graph, source = _participation_graphs(ntf, pair_weight,
                                                        settings["participation_source"])
    names = [str(n) for n in pair_weight["pre"].values]
    score, rule = _motif_score(ntf, names, settings["motif_rule"])
    settings = {**settings, "motif_rule": rule}
    slots = np.array([NEURON_INDEX[n] for n in names])
    components = pair_weight["component"].values
    results = []
    for k, component in enumerate(components):
        weights = pair_weight.isel(component=k).values.astype(float)
        present = present_neurons(weights)
        if present.sum() < 2:
            raise ValueError(f"component {component} has fewer than 2 connected neurons")
        graph = weights[np.ix_(present, present)]  # NaN: pair outside the tensor, unobserved
        graph = (graph + graph.T) / 2
        resamples = None
        if use_bootstrap:
            boot = ntf["pair_weight_bootstrap"].isel(component=k).transpose(..., "pre", "post")
            resamples = [b[np.ix_(present, present)] for b in boot.values.astype(float)]
        result = _component(graph, settings, seed + int(k), resamples)
        result["present"] = present
        scope = present if source == "weight" else None
        result.update(_motif(graph, present, participation_graph[k], result, settings, scope,
                             None if score is None else score[k]))
        results.append(result)
        log.info("component %s: %d neurons, %d communities (DL %.1f nats, %d levels), NMI with "
                 "Leiden %.2f", component, present.sum(), result["labels"].max() + 1,
                 result["dl"][0], len(result["levels"]), result["nmi"])
    return _assemble(results, components, slots, settings, seed, use_bootstrap, source)


def _participation_graphs(ntf: xr.Dataset, pair_weight: xr.DataArray, source: str):
    """(component, pre, post) float graphs the participation is fitted to, and their source:
    the unpenalised ``pair_loading`` (clipped at 0) when asked for and present, else the
    sparse ``pair_weight``."""
    if source not in PARTICIPATION_SOURCES:
        raise ValueError(f"dfc.communities.participation_source '{source}' is not one of "
                         f"{PARTICIPATION_SOURCES}")
    if source == "loading" and "pair_loading" in ntf:
        loading = ntf["pair_loading"].transpose("component", "pre", "post")
        loading = loading.sel(pre=pair_weight["pre"], post=pair_weight["post"]).values
        return np.clip(loading.astype(float), 0, None), "loading"
    if source == "loading":
        log.info("the NTF summary has no 'pair_loading' (a fit without sparsity): "
                 "participation from the pair weights")
    return pair_weight.values.astype(float), "weight"


def _motif_score(ntf: xr.Dataset, names: list[str], rule: str):
    """The (component, neuron) score over ``names`` that ``rule`` cuts, and the rule used:
    a rule whose score the summary lacks falls back along ``FALLBACK`` (score None for the
    graph rules)."""
    while rule in FALLBACK:
        if rule in ntf:
            return ntf[rule].transpose("component", "neuron").sel(
                neuron=names).values.astype(float), rule
        log.warning("the NTF summary has no '%s' (affinities written before it): motif by %s",
                    rule, FALLBACK[rule])
        rule = FALLBACK[rule]
    return None, rule


def _motif(graph, present, loading, result, settings, scope=None, score=None) -> dict:
    """Participation and motif of one component. The participation is fitted to
    ``loading`` (N, N) (NaN: pair not in the tensor) over ``scope`` (N,) bool, by default
    every neuron of the tensor, so with the unpenalised loadings a neuron that the sparse
    graph (``graph`` over ``present``) leaves out can still take part (with the sparse
    weights themselves the scope is ``present``: a neuron without an edge takes no part).
    The hierarchy rule works on the SBM's blocks of the graph; the activation and coherence
    rules cut ``score`` (N,) over every neuron of the tensor (``motif_scope``)."""
    if scope is None:
        scope = np.isfinite(loading).any(axis=1)
    sub = loading[np.ix_(scope, scope)]
    share = participation((sub + sub.T) / 2)
    dc, model = result["dc"], result["weight_model"] or "exponential"
    if settings["motif_rule"] in SCORE_CUTS:
        members = SCORE_CUTS[settings["motif_rule"]](score)
        motif = Motif(members, motif_gain(graph, members[present], degree_corrected=dc,
                                          weight_model=model), -1)
        return {"scope": scope, "participation": share, "motif": motif,
                "motif_scope": np.ones(members.shape, bool)}
    if settings["motif_rule"] == "participation":
        members = participation_motif(share)
        in_graph = members[present[scope]]
        motif = Motif(members, motif_gain(graph, in_graph, degree_corrected=dc,
                                          weight_model=model), -1)
    else:
        found = motif_community(graph, result["levels"], degree_corrected=dc, weight_model=model)
        members = np.zeros(scope.sum(), bool)
        members[present[scope]] = found.members
        motif = Motif(members, found.gain, found.level)
    return {"scope": scope, "participation": share, "motif": motif, "motif_scope": scope}


def _assemble(results, components, slots, settings, seed, use_bootstrap,
              source) -> xr.Dataset:
    n_comp, n_neurons = len(components), len(NEURONS)
    n_levels = max(len(r["levels"]) for r in results)
    n_comm = max(int(r["labels"].max()) + 1 for r in results)
    community = np.full((n_comp, n_neurons), -1, np.int32)
    levels = np.full((n_comp, n_levels, n_neurons), -1, np.int32)
    leiden = np.full((n_comp, n_neurons), -1, np.int32)
    stability = np.full((n_comp, n_neurons), np.nan, np.float32)
    comm_stab = np.full((n_comp, n_comm), np.nan, np.float32)
    dl = np.full((n_comp, n_levels), np.nan)
    co = np.full((n_comp, n_neurons, n_neurons), np.nan, np.float32)
    motif = np.zeros((n_comp, n_neurons), bool)
    share = np.full((n_comp, n_neurons), np.nan, np.float32)
    for k, r in enumerate(results):
        idx = slots[r["present"]]
        community[k, idx] = r["labels"]
        motif[k, slots[r["motif_scope"]]] = r["motif"].members
        share[k, slots[r["scope"]]] = r["participation"]
        leiden[k, idx] = r["leiden"]
        stability[k, idx] = r["stability"]
        comm_stab[k, : r["community_stability"].size] = r["community_stability"]
        for level, (labels, value) in enumerate(zip(r["levels"], r["dl"], strict=False)):
            levels[k, level, idx] = labels
            dl[k, level] = value
        co[k][np.ix_(idx, idx)] = r["comembership"]
    ds = xr.Dataset(
        {
            "community": (("component", "neuron"), community),
            "community_level": (("component", "level", "neuron"), levels),
            "stability": (("component", "neuron"), stability),
            "motif": (("component", "neuron"), motif),
            "motif_gain": ("component", np.array([r["motif"].gain for r in results])),
            "motif_level": ("component", np.array([r["motif"].level for r in results], np.int32)),
            "participation": (("component", "neuron"), share),
            "community_stability": (("component", "community_id"), comm_stab),
            "n_communities": ("component", np.array([r["labels"].max() + 1 for r in results],
                                                    np.int32)),
            "n_levels": ("component", np.array([len(r["levels"]) for r in results], np.int32)),
            "description_length": (("component", "level"), dl),
            "degree_corrected": ("component", np.array([bool(r["dc"]) for r in results])),
            "weight_model": ("component", np.array([r["weight_model"] for r in results], dtype=str)),
            "leiden_community": (("component", "neuron"), leiden),
            "nmi_sbm_leiden": ("component", np.array([r["nmi"] for r in results])),
            "comembership": (("component", "pre", "post"), co),
        },
        coords={"component": components, "neuron": list(NEURONS), "pre": list(NEURONS),
                "post": list(NEURONS), "level": np.arange(n_levels),
                "community_id": np.arange(n_comm)},
        attrs={"method": settings["method"], "motif_rule": settings["motif_rule"],
               "participation_source": source,
               "stability_source": "bootstrap" if use_bootstrap else "restarts", "seed": seed},
    )
    descriptions = {
        "community": "community at the DL-selected level (0..B-1 by size; -1: neuron absent)",
        "community_level": "nested hierarchy: community at each level (level 0 = selected)",
        "motif": "the component's motif community: " + MOTIF_DESCRIPTIONS[settings["motif_rule"]],
        "motif_gain": "DL of one block minus DL of (motif, rest), nats (NaN: no motif)",
        "motif_level": "highest hierarchy level at which the motif is one community (-1: none, "
                       "or a rule that cuts a score)",
        "participation": ("graded membership: the neuron's loading in the rank-1 fit u u^T "
                          + ("of the component's unpenalised pair loadings"
                             if source == "loading" else "of the component's pair weights")
                          + ", relative to the largest (1); NaN: "
                          + ("neuron not in the tensor" if source == "loading" else "absent")),
        "stability": "mean Jaccard overlap of the neuron's community across restarts or "
                     "bootstrap resamples, in [0, 1]",
        "community_stability": "mean stability of the community's members",
        "description_length": "SBM description length of each level's partition (nats)",
        "weight_model": "SBM edge-weight distribution of the selected fit (exponential or "
                        "lognormal; empty for modularity methods)",
        "leiden_community": "Leiden modularity baseline (-1: absent)",
        "nmi_sbm_leiden": "normalised mutual information of the SBM and Leiden partitions",
        "comembership": "probability that two neurons share a community across restarts or "
                        "resamples",
    }
    for name, text in descriptions.items():
        ds[name].attrs["description"] = text
    return ds


def run_communities(ntf_path, output_path, settings: dict, seed: int) -> None:
    """Rule ``dfc_communities``: ``ntf.nc`` -> ``communities.nc``."""
    with xr.open_dataset(ntf_path, engine="h5netcdf") as ntf:
        ntf = ntf.load()
    try:
        ds = component_communities(ntf, settings, seed)
    except ValueError as error:
        raise InputError(ntf_path, str(error)) from error
    record = provenance("dfc", {"ntf": ntf_path}, {"communities": settings, "seed": seed})
    ds.attrs.update(provenance_attrs(record))
    write_netcdf(ds, output_path, encoding={"comembership": {"zlib": True, "complevel": 4}})
