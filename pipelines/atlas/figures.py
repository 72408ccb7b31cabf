"""The atlas figures, one pure function each: a group of the atlas in, a Figure out.

Each returns ``None`` when its inputs are absent (e.g. a recording without behaviour), so
the report simply leaves the panel out and says so.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402

STATE_COLOURS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d",
                 "#666666", "#1f78b4", "#b2df8a"]


def component_timecourses(dfc: xr.Dataset, activity: xr.Dataset, stimulus: xr.Dataset | None):
    """Time factor of every component, with stimulus blocks shaded and the worms' mean
    velocity (and reversal fraction) underneath."""
    if dfc is None or "time_factor" not in dfc:
        return None
    factors = dfc["time_factor"]
    n = factors.sizes["component"]
    has_behaviour = "velocity" in activity or "reversal" in activity
    fig, axes = plt.subplots(n + has_behaviour, 1, figsize=(9, 1.2 * (n + has_behaviour) + 0.6),
                             sharex=True, squeeze=False)
    axes = axes[:, 0]
    t = factors["time"].values
    baseline = dfc["is_baseline"].values if "is_baseline" in dfc else np.zeros(n, bool)
    for k in range(n):
        ax = axes[k]
        ax.plot(t, factors.values[k], color="k" if not baseline[k] else "0.6", lw=1)
        label = f"C{k}" + (" (baseline)" if baseline[k] else "")
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
        ax.set_yticks([])
        _shade_stimuli(ax, stimulus)
    if has_behaviour:
        ax = axes[-1]
        if "velocity" in activity:
            v = activity["velocity"]
            ax.plot(v["time"], v.mean("worm"), color="tab:blue", lw=0.8, label="mean velocity")
        if "reversal" in activity:
            r = activity["reversal"].mean("worm")
            ax2 = ax.twinx()
            ax2.fill_between(r["time"], 0, r, color="tab:red", alpha=0.3, step="mid")
            ax2.set_ylim(0, 1)
            ax2.set_ylabel("reversing", fontsize=8, color="tab:red")
        ax.set_ylabel("behaviour", rotation=0, ha="right", va="center", fontsize=8)
        _shade_stimuli(ax, stimulus)
    axes[-1].set_xlabel("time (s)")
    fig.suptitle("Component time courses (shaded: stimulus blocks)", fontsize=10)
    fig.tight_layout()
    return fig


def _shade_stimuli(ax, stimulus):
    if stimulus is None or "start" not in stimulus:
        return
    for start, end in zip(np.atleast_1d(stimulus["start"].values),
                          np.atleast_1d(stimulus["end"].values), strict=True):
        ax.axvspan(start, end, color="gold", alpha=0.25, lw=0)


def worm_loadings(dfc: xr.Dataset, mapped: list[str]):
    """Bar plot of each component's loading in each worm; mapped worms hatched."""
    if dfc is None or "worm_factor" not in dfc:
        return None
    loadings = dfc["worm_factor"]
    worms = [str(w) for w in loadings["worm"].values]
    n = loadings.sizes["component"]
    fig, ax = plt.subplots(figsize=(9, 2.6))
    width = 0.8 / n
    x = np.arange(len(worms))
    for k in range(n):
        bars = ax.bar(x + k * width, loadings.values[k], width, label=f"C{k}")
        for bar, worm in zip(bars, worms, strict=True):
            if worm in mapped:
                bar.set_hatch("//")
    ax.set_xticks(x + 0.4 - width / 2, worms, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("loading")
    ax.legend(fontsize=7, ncol=min(n, 8), frameon=False)
    ax.set_title("Worm loadings (hatched: mapped onto the atlas, not fitted)", fontsize=10)
    fig.tight_layout()
    return fig


def community_graphs(dfc: xr.Dataset, connectome: xr.Dataset, max_edges: int = 150):
    """Each component's strongest pairs drawn on neuron positions (x: left-right,
    y: along the body), nodes coloured by community and sized by participation, the motif
    community's neurons ringed."""
    if dfc is None or "pair_weight" not in dfc or "x" not in connectome:
        return None
    comps = [k for k in range(dfc.sizes["component"])
             if not ("is_baseline" in dfc and bool(dfc["is_baseline"].values[k]))]
    if not comps:
        return None
    ncol = min(3, len(comps))
    nrow = int(np.ceil(len(comps) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.4 * ncol, 3.6 * nrow), squeeze=False)
    pos_y = connectome["y"].values
    pos_z = connectome["z"].values if "z" in connectome else connectome["x"].values
    for ax in axes.flat:
        ax.axis("off")
    for ax, k in zip(axes.flat, comps, strict=False):
        weights = dfc["pair_weight"].values[k]
        community = dfc["community"].values[k] if "community" in dfc else None
        motif = dfc["motif"].values[k].astype(bool) if "motif" in dfc else None
        share = dfc["participation"].values[k] if "participation" in dfc else None
        _draw_graph(ax, weights, community, pos_y, pos_z, max_edges, motif, share)
        ax.set_title(f"C{k}", fontsize=9)
    fig.suptitle("Communities of each component (layout: neuron positions; node size: "
                 "participation)" if "participation" in dfc else
                 "Communities of each component (layout: neuron positions)", fontsize=10)
    fig.tight_layout()
    return fig


def _draw_graph(ax, weights, community, x, y, max_edges, motif=None, share=None):
    w = np.where(np.isfinite(weights), weights, 0)
    iu = np.triu_indices_from(w, k=1)
    order = np.argsort(w[iu])[::-1][:max_edges]
    strongest = w[iu][order]
    if strongest.size == 0 or strongest[0] <= 0:
        return
    nodes = np.unique(np.concatenate([iu[0][order], iu[1][order]]))
    for i, j, value in zip(iu[0][order], iu[1][order], strongest, strict=True):
        ax.plot([x[i], x[j]], [y[i], y[j]], color="0.5", lw=0.3 + 1.5 * value / strongest[0],
                alpha=0.5, zorder=1)
    colours = community[nodes] if community is not None else np.zeros(len(nodes))
    size = 14 if share is None else 4 + 36 * np.nan_to_num(share[nodes])  # participation in [0, 1]
    ax.scatter(x[nodes], y[nodes], c=colours, cmap="tab10", s=size, zorder=2,
               vmin=0, vmax=9, edgecolors="k", linewidths=0.3)
    if motif is not None and motif.any():  # the component's motif community: ringed
        ax.scatter(x[motif], y[motif], s=60, facecolors="none", edgecolors="crimson",
                   linewidths=1.0, zorder=3)
    ax.set_aspect("auto")


def state_rasters(glmhmm: xr.Dataset, activity: xr.Dataset, mapped: list[str]):
    """Most probable state over time for every worm, reversals marked underneath."""
    if glmhmm is None or "state_posterior" not in glmhmm:
        return None
    post = glmhmm["state_posterior"]
    n_states = post.sizes["state"]
    worms = [str(w) for w in post["worm"].values]
    values = post.transpose("worm", "time", "state").values
    valid = np.isfinite(values).all(-1) & (np.nansum(values, -1) > 0)  # NaN: worm not recorded
    best = np.where(valid, np.argmax(np.nan_to_num(values, nan=-1.0), -1), np.nan)
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(worms) + 1.2))
    cmap = ListedColormap(STATE_COLOURS[:n_states])
    t = post["time"].values
    ax.imshow(np.ma.masked_invalid(best), aspect="auto", interpolation="nearest", cmap=cmap,
              vmin=-0.5, vmax=n_states - 0.5, extent=(t[0], t[-1], len(worms) - 0.5, -0.5))
    if "reversal" in activity:
        rev = activity["reversal"].reindex(worm=post["worm"].values)
        for i in range(len(worms)):
            on = rev.values[i] > 0.5
            ax.scatter(rev["time"].values[on], np.full(on.sum(), i + 0.4), marker="|",
                       color="k", s=6, lw=0.5)
    ax.set_yticks(range(len(worms)), [w + (" (mapped)" if w in mapped else "") for w in worms],
                  fontsize=7)
    ax.set_xlabel("time (s)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=STATE_COLOURS[k]) for k in range(n_states)]
    ax.legend(handles, [f"state {k}" for k in range(n_states)], fontsize=7, ncol=n_states,
              loc="upper center", bbox_to_anchor=(0.5, -0.25), frameon=False)
    ax.set_title("Brain states per worm (ticks: reversals)", fontsize=10)
    fig.tight_layout()
    return fig


def state_interactions(glmhmm: xr.Dataset, connectome: xr.Dataset, recorded: np.ndarray):
    """Each state's interaction matrix beside the anatomical connectome, over the neurons
    the model saw."""
    if glmhmm is None or "interaction" not in glmhmm:
        return None
    inter = glmhmm["interaction"].transpose("state", "post", "pre")
    names = [n for n in inter["post"].values if n in set(connectome["pre"].values)]
    inter = inter.sel(post=names, pre=names)
    anat = connectome["weight"].fillna(0).sum("layer").sel(pre=names, post=names).T
    n = inter.sizes["state"] + 1
    fig, axes = plt.subplots(1, n, figsize=(2.6 * n, 2.9), squeeze=False)
    axes = axes[0]
    axes[0].imshow(np.log1p(anat.values), cmap="Greys", interpolation="nearest")
    axes[0].set_title("Cook 2019 (log synapses)", fontsize=8)
    scale = np.nanpercentile(np.abs(inter.values), 99) or 1.0
    for k in range(inter.sizes["state"]):
        axes[k + 1].imshow(inter.values[k], cmap="RdBu_r", vmin=-scale, vmax=scale,
                           interpolation="nearest")
        axes[k + 1].set_title(f"state {k}", fontsize=8, color=STATE_COLOURS[k % 10])
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("pre", fontsize=7)
        ax.set_ylabel("post", fontsize=7)
    fig.suptitle(f"State interactions over {len(names)} neurons (red excitatory, blue inhibitory)",
                 fontsize=10)
    fig.tight_layout()
    return fig


def k_selection(glmhmm: xr.Dataset):
    """Held-out log-likelihood against the number of states."""
    if glmhmm is None or "k_curve" not in glmhmm:
        return None
    curve = glmhmm["k_curve"]
    dim = curve.dims[0]
    fig, ax = plt.subplots(figsize=(4, 2.6))
    ax.plot(curve[dim].values, curve.values, "o-", color="k")
    chosen = glmhmm.sizes.get("state")
    if chosen is not None:
        ax.axvline(chosen, color="tab:red", ls="--", lw=0.8)
    ax.set_xlabel("number of states K")
    ax.set_ylabel("held-out log-lik")
    ax.set_title("Choice of K", fontsize=10)
    fig.tight_layout()
    return fig


def rank_selection(dfc: xr.Dataset):
    """Rank-selection evidence of the tensor factorization: the best error on the data (and on
    the time-shifted null), the variance explained beyond the null, the held-out error and
    the similarity of the random starts, with the selected rank marked."""
    if dfc is None or "rank" not in dfc.dims:
        return None
    panels = [(name, [name] + (["null_error"] if name == "best_error" and "null_error" in dfc
                                else []))
              for name in ("best_error", "excess", "heldout_error", "similarity")
              if name in dfc and np.isfinite(dfc[name].values).any()]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(3.0 * len(panels), 2.6), squeeze=False)
    chosen = dfc.attrs.get("selected_rank", dfc.attrs.get("n_components"))
    for ax, (title, names) in zip(axes[0], panels, strict=True):
        for name, color in zip(names, ("k", "tab:gray"), strict=False):
            ax.plot(dfc["rank"].values, dfc[name].values, "o-", color=color, ms=3,
                    label="time-shifted null" if name == "null_error" else "data")
        if len(names) > 1:
            ax.legend(fontsize=7, frameon=False)
        ax.set_xlabel("rank")
        ax.set_title(title.replace("_", " "), fontsize=9)
        if chosen is not None:
            ax.axvline(int(chosen), color="tab:red", ls="--", lw=0.8)
    fig.tight_layout()
    return fig
