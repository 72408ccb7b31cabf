"""The dfc stage end to end: homogenized batches -> affinities -> tensor -> NTF summary.

The functions here glue the pure modules together and read/write files; the workflow
scripts call them. :func:`components_from_calcium` runs everything in memory (used by the
communities part and by tests on simulated recordings).
"""

from __future__ import annotations

import contextlib
from dataclasses import fields

import numpy as np
import xarray as xr

from pipelines.common import NEURONS, InputError, get_logger, write_netcdf
from pipelines.common.provenance import provenance, provenance_attrs

from .activation import activation
from .affinity import AffinitySettings, batch_affinity
from .coherence import coherence
from .ntf import CPFit, NonNegativeCP, refit_pair_loadings, refit_worm_loadings
from .rank import (
    RankSettings,
    baseline_components,
    effective_worms,
    factor_cv,
    rank_sweep,
    worm_bootstrap,
)
from .structure import anatomy_overlap
from .tensor import (
    MOMENTS,
    align_offsets,
    align_schedule,
    build_tensor,
    join_batches,
    pair_matrix,
    remove_pair_baseline,
)

log = get_logger(__name__)

STAGE = "dfc"


@contextlib.contextmanager
def limit_threads(threads: int):
    """Run BLAS and numba with at most ``threads`` threads (a job's Snakemake ``threads``).

    On a shared, loaded machine oversubscribed BLAS threads spin against each other: a
    batched 657 x 150 x 30 matmul took 3.7 s with 2 OpenBLAS threads under load 11 and
    0.08 s with 1 (measured on the 2-core development machine).
    """
    import numba
    from threadpoolctl import threadpool_limits

    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        with threadpool_limits(int(threads)):
            yield
    finally:
        numba.set_num_threads(previous)


# ---------------------------------------------------------------------------------------------
# settings from config sections


def affinity_settings(section: dict | None) -> AffinitySettings:
    """:class:`AffinitySettings` from ``dfc.affinity`` (neuron selection keys ignored)."""
    names = {f.name for f in fields(AffinitySettings)}
    return AffinitySettings(**{k: v for k, v in (section or {}).items() if k in names})


def rank_settings(section: dict | None) -> RankSettings:
    """:class:`RankSettings` from ``dfc.ntf``."""
    section = dict(section or {})
    ranks = section.get("ranks", [2, 10])
    if section.get("rank"):
        ranks = [section["rank"], section["rank"]]
    names = {f.name for f in fields(RankSettings)} - {"ranks"}
    return RankSettings(ranks=tuple(range(int(ranks[0]), int(ranks[1]) + 1)),
                        **{k: v for k, v in section.items() if k in names})


def selected_neurons(section: dict | None) -> list[str] | None:
    """Neuron subset of ``dfc.affinity``: explicit ``neurons`` and/or ``neuron_types``."""
    section = section or {}
    names = section.get("neurons")
    types = section.get("neuron_types")
    if types:
        from pipelines.connectome import neuron_table

        table = neuron_table()
        typed = table.index[table["type"].isin(types)].tolist()
        names = typed if names is None else [n for n in names if n in set(typed)]
    return names


# ---------------------------------------------------------------------------------------------
# affinity per batch


def affinity_from_store(store: xr.Dataset, section: dict | None, time_bin: float = 0.0,
                        seed: int = 0) -> xr.Dataset:
    """Affinities of every worm of a homogenized dataset (``calcium`` (worm, neuron, time),
    ``attrs['dt']``)."""
    if "calcium" not in store:
        raise ValueError("the homogenized dataset has no 'calcium' variable")
    dt = float(store.attrs.get("dt", np.median(np.diff(store["time"].values))))
    return batch_affinity(store["calcium"], dt, affinity_settings(section),
                          neurons=selected_neurons(section), seed=seed, time_bin=time_bin)


def run_affinity(batch_path, output_path, section: dict, time_bin: float, seed: int) -> None:
    """Rule ``dfc_affinity``: one homogenized batch -> its affinities (NetCDF)."""
    with xr.open_dataset(batch_path, engine="h5netcdf") as store:
        try:
            ds = affinity_from_store(store.load(), section, time_bin, seed)
        except ValueError as error:
            raise InputError(batch_path, str(error)) from error
    record = provenance(STAGE, {"batch": batch_path},
                        {"affinity": section, "time_bin": time_bin, "seed": seed})
    ds.attrs.update(provenance_attrs(record))
    write_netcdf(ds, output_path, encoding={"affinity": {"zlib": True, "complevel": 1}})


# ---------------------------------------------------------------------------------------------
# tensor


def assemble_tensor(batches: list[xr.Dataset], section: dict | None,
                    min_worms: int = 2) -> xr.Dataset:
    """Join batches, align time (``dfc.tensor.align``) and flatten to the NTF tensor
    (``min_worms`` = 1 for mapping new worms onto fixed components)."""
    section = section or {}
    joined = join_batches(batches)
    align = section.get("align") or {}
    mode = align.get("mode", "none")
    if mode != "none":
        if mode == "offset":
            def aligned(da):
                return align_offsets(da, align.get("offsets") or {})
        elif mode == "schedule":
            def aligned(da):
                return align_schedule(da, align.get("schedule") or {},
                                      list(align.get("order") or []), align.get("pre", 0.0),
                                      align.get("post", 0.0))
        else:
            raise ValueError(f"unknown tensor.align.mode '{mode}' (none, offset, schedule)")
        # the moments are re-timed with the affinity, so activation and coherence read the
        # same clock
        joined = xr.Dataset({name: aligned(joined[name]) for name in ("affinity", *MOMENTS)
                             if name in joined},
                            coords={k: joined[k] for k in ("neuron_1", "neuron_2")},
                            attrs=joined.attrs)
    tensor = build_tensor(joined, section.get("min_coverage", 0.5), min_worms)
    tensor["affinity"].values = remove_pair_baseline(tensor["affinity"].values,
                                                     section.get("baseline", "pair_zscore"))
    return tensor


def read_affinities(paths) -> list[xr.Dataset]:
    """Open per-batch affinity files (loaded into memory)."""
    out = []
    for path in paths:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            out.append(ds.load())
    return out


# ---------------------------------------------------------------------------------------------
# NTF summary


def fit_components(tensor: xr.Dataset, section: dict | None, seed: int = 0,
                   connectome: xr.DataArray | None = None,
                   anatomy_shuffles: int = 100) -> xr.Dataset:
    """Rank sweep, selection and summary of the selected fit (the content of ``ntf.nc``).

    Parameters
    ----------
    tensor : output of :func:`assemble_tensor`.
    section : ``dfc.ntf`` config.
    connectome : optional anatomical ``weight`` (layer, pre, post) for ``anatomy_*``.
    """
    settings = rank_settings(section)
    values = tensor["affinity"].values
    evidence, best = rank_sweep(values, settings, tensor["mask"].values, seed)
    fit = best[evidence.attrs["selected_rank"]]
    if settings.pooling > 0:  # report unshrunk worm loadings of the selected components
        fit = refit_worm_loadings(values, fit, tensor["mask"].values,
                                  max_iter=settings.max_iter, tol=settings.tol)
    loading = None
    if settings.sparsity > 0:  # the selected pairs' loadings without the L1 shrinkage
        loading = refit_pair_loadings(values, fit, tensor["mask"].values,
                                      max_iter=settings.max_iter, tol=settings.tol)
    summary = summarize_fit(fit, tensor, settings.baseline_cv, loading)
    if "deviation" in tensor:
        summary["activation"] = component_activation(tensor["deviation"], fit.factors[0].T)
        if all(name in tensor for name in MOMENTS):
            summary["coherence"] = component_coherence(tensor[list(MOMENTS)], fit.factors[0].T,
                                                       summary["activation"])
    summary = summary.merge(evidence.rename(error="sweep_error"))
    n_boot = int((section or {}).get("bootstrap", 0))
    if n_boot:
        pair, similarity = worm_bootstrap(values, fit, n_boot, tensor["mask"].values, seed,
                                          max_iter=settings.max_iter, tol=settings.tol,
                                          sparsity=settings.sparsity,
                                          pooling=settings.pooling)
        matrices = pair_matrix(pair.reshape(-1, pair.shape[2]), tensor["neuron_1"].values,
                               tensor["neuron_2"].values)
        boot = matrices.values.reshape(n_boot, fit.rank, *matrices.shape[1:])
        summary["pair_weight_bootstrap"] = xr.DataArray(
            boot.transpose(1, 0, 2, 3), dims=("component", "bootstrap", "pre", "post"),
            coords={"pre": matrices["pre"].values, "post": matrices["post"].values})
        summary["pair_weight_bootstrap"].attrs["description"] = (
            "pair weights refitted on worms resampled with replacement, matched to the "
            "components by time and pair factors")
        summary["bootstrap_similarity"] = ("bootstrap", similarity)
    if connectome is not None:
        summary = summary.merge(anatomy_overlap(fit.factors[2].T, tensor["neuron_1"].values,
                                                tensor["neuron_2"].values, connectome,
                                                anatomy_shuffles, seed))
    reason = evidence.attrs["reason"]
    if (section or {}).get("rank"):
        reason = f"fixed by config dfc.ntf.rank = {section['rank']}"
    summary.attrs.update(
        selected_rank=int(evidence.attrs["selected_rank"]), reason=reason,
        n_motifs=int((~summary["is_baseline"].values).sum()),
        observed_fraction=float(tensor["mask"].mean()),
        tensor_shape=list(values.shape),
    )
    return summary


def component_activation(deviation: xr.DataArray, time_factor: np.ndarray) -> xr.DataArray:
    """(component, neuron) :func:`~.activation.activation` of the tensor's neurons, over all
    canonical neurons (NaN: not in the tensor, or never recorded long enough)."""
    values = activation(deviation.transpose("worm", "time", "neuron").values, time_factor)
    out = _on_canonical_neurons(values, deviation["neuron"].values)
    out.attrs["description"] = (
        "correlation of the RMS of the neuron's standardized calcium, per time bin, with the "
        "component's time factor, mean over the worms recording it (NaN: not in the tensor); "
        "its half-way cut is the component's core")
    return out


def component_coherence(moments: xr.Dataset, time_factor: np.ndarray,
                        activation: xr.DataArray) -> xr.DataArray:
    """(component, neuron) :func:`~.coherence.coherence` of the tensor's neurons with each
    component's core (the :func:`~.communities.motif.activation_motif` of ``activation``),
    over all canonical neurons (NaN: not in the tensor, or no worm with enough on bins).

    ``moments`` holds the tensor's ``level``, ``deviation`` (worm, time, neuron) and
    ``comoment`` (worm, time, neuron_pair)."""
    from .communities.motif import activation_motif

    names = [str(n) for n in moments["neuron"].values]
    core = np.array([activation_motif(a) for a in activation.sel(neuron=names).values])
    values = coherence(*(moments[name].transpose("worm", "time", ...).values
                         for name in ("level", "deviation", "comoment")), time_factor, core)
    out = _on_canonical_neurons(values, names)
    out.attrs["description"] = (
        "correlation of the neuron's standardized calcium with the sum of the component's "
        "core (its activation motif, without the neuron) at the frame rate, over the time "
        "bins where the component's time factor is above its median, mean over the worms "
        "recording it (NaN: not in the tensor); dfc.communities.motif_rule: coherence cuts "
        "its square into the motif")
    return out


def _on_canonical_neurons(values: np.ndarray, neurons) -> xr.DataArray:
    """(component, neuron) float32 over the 300 canonical neurons from ``values``
    (component, len(neurons)); NaN for the others."""
    out = xr.DataArray(np.full((values.shape[0], len(NEURONS)), np.nan, np.float32),
                       dims=("component", "neuron"),
                       coords={"component": np.arange(values.shape[0]), "neuron": list(NEURONS)})
    out.loc[{"neuron": [str(n) for n in neurons]}] = values
    return out


def summarize_fit(fit: CPFit, tensor: xr.Dataset, baseline_cv: float = 0.1,
                  pair_loading: np.ndarray | None = None) -> xr.Dataset:
    """Factors of a fit as labelled arrays: ``time_factor`` (component, time) and
    ``pair_factor`` (component, pair) with unit-norm rows, ``worm_factor`` (component, worm)
    carrying the amplitude, ``pair_weight`` (component, pre, post) symmetric over the
    tensor's neurons (NaN: pair not in the tensor; split channels summed), ``is_baseline``,
    ``factor_cv`` (component, mode), ``effective_worms`` (component), ``error_trace``
    (iteration); with ``pair_loading`` (P, R) (:func:`~.ntf.refit_pair_loadings`) also
    ``pair_loading`` (component, pre, post), the same matrix of the unpenalised loadings."""
    time_f, worm_f, pair_f = fit.factors
    components = np.arange(fit.rank)
    ds = xr.Dataset(
        {
            "time_factor": (("component", "time"), time_f.T),
            "worm_factor": (("component", "worm"), (worm_f * fit.weights).T.astype(np.float32)),
            "pair_factor": (("component", "pair"), pair_f.T),
            "is_baseline": ("component", baseline_components(fit, baseline_cv)),
            "factor_cv": (("component", "mode"), factor_cv(fit).T),
            "effective_worms": ("component", effective_worms(fit)),
            "error_trace": ("iteration", fit.error),
        },
        coords={"component": components, "mode": ["time", "worm", "pair"],
                "time": tensor["time"].values, "worm": tensor["worm"].values,
                **{k: ("pair", tensor[k].values) for k in ("neuron_1", "neuron_2", "channel")}},
    )
    if "epoch" in tensor.coords:
        ds = ds.assign_coords(epoch=("time", tensor["epoch"].values))
    ds["pair_weight"] = pair_matrix(pair_f.T, tensor["neuron_1"].values,
                                    tensor["neuron_2"].values)
    if pair_loading is not None:
        ds["pair_loading"] = pair_matrix(pair_loading.T, tensor["neuron_1"].values,
                                         tensor["neuron_2"].values)
        ds["pair_loading"].attrs["description"] = (
            "pair loadings refitted without the L1 penalty, time and worm factors fixed "
            "(units of pair_factor; NaN: pair not in the tensor); dfc.communities."
            "participation_source: loading fits the participation to them")
    channels = np.unique(tensor["channel"].values)
    if channels.size > 1:  # sign_mode split: also each sign channel on its own
        per_channel = []
        for channel in channels:
            keep = tensor["channel"].values == channel
            per_channel.append(pair_matrix(pair_f.T[:, keep], tensor["neuron_1"].values[keep],
                                           tensor["neuron_2"].values[keep]))
        ds["pair_weight_channel"] = xr.concat(per_channel, dim="sign").assign_coords(
            sign=channels)
    ds["time_factor"].attrs["description"] = "unit-norm time course of each component"
    ds["worm_factor"].attrs["description"] = "loading of each worm (carries the amplitude)"
    ds["pair_weight"].attrs["description"] = (
        "symmetric pair weights (unit-norm pair factor; NaN: pair not in the tensor)")
    ds["is_baseline"].attrs["description"] = (
        "flat component (all factor CVs below the threshold): the noise floor, not a motif")
    ds["effective_worms"].attrs["description"] = (
        "participation ratio of the worm loadings: the number of worms that carry the "
        "component (1: one worm's own event, not a motif shared across worms)")
    return ds


def run_ntf(affinity_paths, output_path, tensor_section: dict, ntf_section: dict, seed: int,
            anatomy_source: str | None = "cook2019") -> None:
    """Rule ``dfc_ntf``: affinities of a recording -> ``ntf.nc``."""
    tensor = assemble_tensor(read_affinities(affinity_paths), tensor_section)
    connectome = None
    if anatomy_source:
        from pipelines.connectome import read_source

        connectome = read_source(anatomy_source)
    try:
        summary = fit_components(tensor, ntf_section, seed, connectome,
                                 int((ntf_section or {}).get("anatomy_shuffles", 100)))
    except ValueError as error:
        raise InputError(", ".join(map(str, affinity_paths)), str(error)) from error
    summary.attrs["anatomy_source"] = anatomy_source or ""
    record = provenance(STAGE, {"affinity": list(affinity_paths)},
                        {"tensor": tensor_section, "ntf": ntf_section, "seed": seed,
                         "anatomy_source": anatomy_source})
    summary.attrs.update(provenance_attrs(record))
    write_netcdf(summary, output_path)


# ---------------------------------------------------------------------------------------------
# mapping mode


def map_worms(tensor: xr.Dataset, reference: xr.Dataset, section: dict | None = None,
              seed: int = 0) -> xr.Dataset:
    """Worm loadings of new worms on a reference recording's fixed components.

    The new tensor is re-indexed onto the reference's time points and pairs (NaN = masked
    where the new worms lack them); time and pair factors stay fixed, only ``worm_factor`` is
    fitted. Returns a summary with the reference's factors and the new ``worm_factor``.
    """
    new_pairs = {p: k for k, p in enumerate(_pair_keys(tensor))}
    where = np.array([new_pairs.get(p, -1) for p in _pair_keys(reference)])
    if (where < 0).all():
        raise ValueError("the new worms share no neuron pair with the reference components")
    values = tensor["affinity"].values
    picked = np.where(where >= 0, values[:, :, np.maximum(where, 0)], np.nan)
    ref_time = np.round(reference["time"].values, 6)
    t = np.searchsorted(np.round(tensor["time"].values, 6), ref_time)
    inside = (t < tensor.sizes["time"]) & (np.round(tensor["time"].values, 6)[
        np.minimum(t, tensor.sizes["time"] - 1)] == ref_time)
    aligned = np.full((ref_time.size, *picked.shape[1:]), np.nan, dtype=np.float32)
    aligned[inside] = picked[t[inside]]
    log.info("mapping %d worms onto %d components: %.0f%% of reference pairs and %.0f%% of "
             "time points present", tensor.sizes["worm"], reference.sizes["component"],
             100 * (where >= 0).mean(), 100 * inside.mean())
    model = NonNegativeCP(rank=reference.sizes["component"], random_state=seed,
                          **{k: v for k, v in (section or {}).items() if k in ("max_iter", "tol")})
    model.time_factor_ = reference["time_factor"].values.T.copy()
    model.pair_factor_ = reference["pair_factor"].values.T.copy()
    loadings = model.transform(aligned)
    out = reference.drop_vars([v for v in reference.data_vars if "worm" in reference[v].dims]
                              + ["error_trace"], errors="ignore").drop_dims("worm",
                                                                            errors="ignore")
    out["worm_factor"] = (("component", "worm"), loadings.T)
    return out.assign_coords(worm=tensor["worm"].values)


def _pair_keys(ds: xr.Dataset) -> list[tuple[str, str, str]]:
    return list(zip(*(map(str, ds[k].values) for k in ("channel", "neuron_1", "neuron_2")), strict=True))


def run_map(affinity_paths, reference_path, output_path, tensor_section: dict,
            ntf_section: dict, seed: int, reference_name: str) -> None:
    """Rule ``dfc_map``: new worms' affinities + reference ``ntf.nc`` -> mapped ``ntf.nc``."""
    tensor = assemble_tensor(read_affinities(affinity_paths), tensor_section, min_worms=1)
    with xr.open_dataset(reference_path, engine="h5netcdf") as reference:
        reference = reference.load()
    try:
        mapped = map_worms(tensor, reference, ntf_section, seed)
    except ValueError as error:
        raise InputError(reference_path, str(error)) from error
    mapped.attrs = {k: v for k, v in reference.attrs.items() if k != "provenance"}
    mapped.attrs["mapped_onto"] = reference_name
    record = provenance(STAGE, {"affinity": list(affinity_paths), "reference": reference_path},
                        {"tensor": tensor_section, "ntf": ntf_section, "seed": seed})
    mapped.attrs.update(provenance_attrs(record))
    write_netcdf(mapped, output_path)


# ---------------------------------------------------------------------------------------------
# end to end in memory


def components_from_calcium(store: xr.Dataset, config: dict | None = None, seed: int = 0,
                            connectome: xr.DataArray | None = None) -> xr.Dataset:
    """Homogenized dataset -> NTF summary, in memory (affinity, tensor, sweep, selection).

    ``config`` is a ``dfc`` config section (``affinity``, ``tensor``, ``ntf`` sub-sections;
    missing keys take the defaults of the settings classes).
    """
    config = config or {}
    tensor_section = config.get("tensor") or {}
    batch = affinity_from_store(store, config.get("affinity"),
                                tensor_section.get("time_bin", 1.0), seed)
    tensor = assemble_tensor([batch], tensor_section)
    return fit_components(tensor, config.get("ntf"), seed, connectome)

