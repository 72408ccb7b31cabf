"""A self-contained HTML report of one atlas: figures embedded as PNG, tables, a summary.

The page has one ``<section>`` per question a neuroscientist asks first, each with a stable
id (``summary``, ``components``, ``communities``, ``states``, ``interactions``, ``anatomy``,
``predictor``, ``provenance``) so tests and readers can find them.
"""

from __future__ import annotations

import base64
import html
import io
import json

import numpy as np
import pandas as pd
import xarray as xr

from . import figures

SECTIONS = ("summary", "components", "communities", "states", "interactions", "anatomy",
            "predictor", "provenance")

# A motif carried by fewer worms than this (participation ratio of its worm loadings) is read
# as an event of one or two animals, not as an interaction shared across the cohort.
FEW_WORMS = 3

# Marks how many figures the browser actually decoded (checked by the headless-browser test).
_LOADED = ("window.addEventListener('load',function(){var n=0;for(var i of document.images)"
           "{if(i.complete&&i.naturalWidth>0)n++;}document.body.dataset.figuresLoaded=n;});")

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1000px;
margin:2em auto;color:#222;line-height:1.45;padding:0 1em}
h1{font-size:1.6em;margin-bottom:0.2em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;
margin-top:2em} figure{margin:1em 0} figure img{max-width:100%} figcaption{font-size:.9em;color:#555}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0} td,th{border:1px solid #ccc;
padding:.2em .5em;text-align:right} th{background:#f4f4f4} .note{color:#777;font-style:italic}
.summary{background:#f7f9fc;border-left:4px solid #4a78c2;padding:.6em 1em} code{font-size:.9em}
"""


def figure_to_data_uri(fig) -> str:
    """PNG bytes of a Matplotlib figure as a data URI (the figure is closed)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def atlas_figures(atlas: xr.DataTree, stimulus: xr.Dataset | None = None) -> dict:
    """Every figure of the report, by name (absent inputs give ``None``)."""
    groups = {name: atlas[name].to_dataset() if name in atlas.children else None
              for name in ("activity", "connectome", "dfc", "glmhmm", "predictor")}
    mapped = json.loads(atlas.attrs.get("mapped_worms", "[]"))
    activity = groups["activity"]
    recorded = activity["recorded"].any("worm").values
    return {
        "component_timecourses": figures.component_timecourses(groups["dfc"], activity, stimulus),
        "worm_loadings": figures.worm_loadings(groups["dfc"], mapped),
        "rank_selection": figures.rank_selection(groups["dfc"]),
        "community_graphs": figures.community_graphs(groups["dfc"], groups["connectome"]),
        "state_rasters": figures.state_rasters(groups["glmhmm"], activity, mapped),
        "k_selection": figures.k_selection(groups["glmhmm"]),
        "state_interactions": figures.state_interactions(groups["glmhmm"], groups["connectome"],
                                                         recorded),
    }


def summary_text(atlas: xr.DataTree, predictor_table: pd.DataFrame | None) -> str:
    """Plain-language summary of what the atlas found."""
    activity = atlas["activity"].to_dataset()
    n_worms = activity.sizes["worm"]
    per_worm = activity["recorded"].sum("neuron").values
    lines = [
        f"This atlas covers <b>{n_worms} worms</b> of recording <b>{html.escape(atlas.attrs.get('recording', ''))}</b>, "
        f"with {int(np.median(per_worm))} identified neurons per worm (median; "
        f"{int(activity['recorded'].any('worm').sum())} distinct neurons overall)."
    ]
    mapped = json.loads(atlas.attrs.get("mapped_worms", "[]"))
    if mapped:
        lines.append(f"{len(mapped)} worm(s) were <b>mapped</b> onto an existing atlas rather than "
                     f"fitted: {html.escape(', '.join(mapped))}.")
    if "dfc" in atlas.children:
        dfc = atlas["dfc"].to_dataset()
        n = dfc.sizes.get("component", 0)
        base = int(dfc["is_baseline"].sum()) if "is_baseline" in dfc else 0
        text = (f"The dynamic functional connectome has <b>{n - base} interaction motif(s)</b>"
                + (f" plus {base} flat baseline component(s), which are flagged and not read as motifs" if base else "")
                + ".")
        if "effective_worms" in dfc and dfc.sizes.get("worm", 0) > FEW_WORMS:
            few = int(((dfc["effective_worms"] < FEW_WORMS) & ~dfc["is_baseline"]).sum())
            if few:
                text += (f" {few} of the motifs are carried by fewer than {FEW_WORMS} worms "
                         f"(participation ratio of the worm loadings): events of one or two animals "
                         f"rather than interactions shared across the cohort.")
        if "comparison" in atlas.children and "component_auroc" in atlas["comparison"]:
            comp = atlas["comparison"].to_dataset()
            a = comp["component_auroc"].sel(layer="any").values
            p = comp["component_p_value"].sel(layer="any").values
            text += (f" Their pair weights pick out anatomical connections with AUROC "
                     f"{np.nanmin(a):.2f}–{np.nanmax(a):.2f} ({int(np.sum(p < 0.05))} of {len(a)} "
                     f"above the degree-preserving null at p &lt; 0.05).")
        lines.append(text)
    if "glmhmm" in atlas.children:
        glm = atlas["glmhmm"].to_dataset()
        k = glm.sizes.get("state", 0)
        text = f"The switching GLM finds <b>{k} brain states</b>"
        if "occupancy" in glm:
            occ = ", ".join(f"{100 * o:.0f}%" for o in glm["occupancy"].values)
            text += f" (time spent: {occ})"
        lines.append(text + ".")
    if predictor_table is not None and not predictor_table.empty:
        lines.append(_predictor_sentence(predictor_table))
    return " ".join(lines)


def evaluation_split(table: pd.DataFrame) -> str:
    """The split to headline: held-out worms when the table has them, else held-out time."""
    return "heldout_worm" if (table["split"] == "heldout_worm").any() else "within_worm"


def forecast_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Median over worms (and seeds) of skill and R² per model and horizon, on the headline
    split: rows (metric, model), columns horizon in seconds."""
    split = evaluation_split(table)
    rows = table[(table["table"] == "forecast") & (table["split"] == split)
                 & table["metric"].isin(["skill", "r2"])]
    summary = rows.groupby(["metric", "model", "horizon_s"])["value"].median().unstack("horizon_s")
    summary.columns = [f"{h:.1f} s" for h in summary.columns]
    return summary.reset_index()


def behaviour_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Median behaviour-decoding metrics per behaviour and model on the headline split."""
    rows = table[(table["table"] == "behaviour") & (table["split"] == evaluation_split(table))]
    if rows.empty:
        return rows
    return rows.groupby(["behaviour", "model", "metric"])["value"].median().unstack("metric") \
        .reset_index()


def _predictor_sentence(table: pd.DataFrame) -> str:
    split = evaluation_split(table)
    skill = table[(table["table"] == "forecast") & (table["split"] == split)
                  & (table["metric"] == "skill")]
    if skill.empty:
        return "The predictor's evaluation table is below."
    horizons = np.sort(skill["horizon_s"].astype(float).unique())
    horizon = horizons[np.argmin(np.abs(horizons - 2.4))]
    at = skill[np.isclose(skill["horizon_s"].astype(float), horizon)]
    best = at.groupby("model")["value"].median().sort_values(ascending=False)
    where = "held-out worms" if split == "heldout_worm" else "held-out time blocks"
    model = str(best.index[0])
    verdict = ("the transformer is the best model" if model.startswith("transformer")
               else "the transformer does <b>not</b> beat the best baseline")
    return (f"Forecasting {horizon:.1f} s ahead on {where}, the best model is "
            f"<b>{html.escape(model)}</b> (median skill over copy-last {best.iloc[0]:+.3f}): "
            f"{verdict} at this horizon.")


def motif_table(dfc: xr.Dataset, n_next: int = 3) -> pd.DataFrame:
    """One row per non-baseline component: its motif community's neurons, their number, the
    DL gain of the motif (nats) and the members' mean stability.

    With ``participation`` in ``dfc`` the members are listed strongest first, each with its
    participation (with the rule's own score instead when the motif rule cut one), and
    ``next_outside`` names the ``n_next`` strongest neurons left out (the borderline of the
    cut); without it, in canonical order.
    """
    score = _motif_score(dfc)
    rows = []
    for k in range(dfc.sizes.get("component", 0)):
        if "is_baseline" in dfc and bool(dfc["is_baseline"].values[k]):
            continue
        members = dfc["motif"].values[k].astype(bool)
        stability = dfc["stability"].values[k][members] if "stability" in dfc else np.array([])
        names = dfc["neuron"].values.astype(str)
        row = {"component": int(dfc["component"].values[k]), "neurons": int(members.sum()),
               "motif": " ".join(names[members])}
        if score is not None:
            share = np.nan_to_num(dfc[score].values[k].astype(float), nan=-np.inf)
            order = np.argsort(-share, kind="stable")
            inside = [i for i in order if members[i]]
            outside = [i for i in order if not members[i] and share[i] > 0][:n_next]
            row["motif"] = " ".join(f"{names[i]} ({share[i]:.2f})" for i in inside)
            row["next_outside"] = " ".join(f"{names[i]} ({share[i]:.2f})" for i in outside)
        rows.append({**row, "gain_nats": float(dfc["motif_gain"].values[k]),
                     "stability": float(stability.mean()) if stability.size else np.nan})
    return pd.DataFrame(rows)


_SCORE_TEXT = {
    "participation": "each neuron's participation in the component (its loading in the rank-1 "
                     "fit of the pair weights, strongest = 1)",
    "activation": "each neuron's activation by the component (correlation of its departure "
                  "from its usual activity with the component's time course)",
    "coherence": "each neuron's coherence with the component's core (correlation of its "
                 "activity with the core's while the component is on)",
    None: "none",
}


def _motif_score(dfc: xr.Dataset) -> str | None:
    """The graded membership the motif was cut from: the rule's own score under a rule that
    cuts one (``activation``, ``coherence``), else ``participation`` (None when neither is
    there)."""
    rule = dfc.attrs.get("motif_rule")
    if rule in ("activation", "coherence") and rule in dfc:
        return rule
    return "participation" if "participation" in dfc else None


def _table_html(df: pd.DataFrame, max_rows: int = 60) -> str:
    return df.head(max_rows).to_html(index=False, float_format=lambda v: f"{v:.3f}", border=0)


def render_report(
    atlas: xr.DataTree,
    predictor_table: pd.DataFrame | None = None,
    stimulus: xr.Dataset | None = None,
    figure_uris: dict[str, str] | None = None,
) -> str:
    """The report page as one HTML string (all figures embedded)."""
    if figure_uris is None:
        figure_uris = {name: figure_to_data_uri(fig) for name, fig in
                       atlas_figures(atlas, stimulus).items() if fig is not None}

    def fig(name, caption):
        if name not in figure_uris:
            return f'<p class="note">No {caption.lower()} for this recording.</p>'
        return (f'<figure id="fig-{name}"><img alt="{html.escape(caption)}" '
                f'src="{figure_uris[name]}"><figcaption>{html.escape(caption)}</figcaption></figure>')

    comparison = ""
    if "comparison" in atlas.children:
        comp = atlas["comparison"].to_dataset()
        parts = []
        for prefix in ("component", "state", "attention"):
            if f"{prefix}_auroc" in comp:
                df = comp[[f"{prefix}_{v}" for v in ("auroc", "null_mean", "p_value")]] \
                    .to_dataframe().reset_index()
                df.columns = [c.replace(f"{prefix}_", "") for c in df.columns]
                parts.append(f"<h3>{prefix.title()}s</h3>" + _table_html(df))
        comparison = "".join(parts) + (
            f'<p class="note">{html.escape(comp.attrs.get("method", ""))}</p>')
    if predictor_table is not None and not predictor_table.empty:
        split = evaluation_split(predictor_table)
        predictor = (f"<p>Free-running forecasts on <b>{split.replace('_', ' ')}</b> data, "
                     "median over worms: skill = 1 − MSE/MSE(copy-last) and R².</p>"
                     + _table_html(forecast_summary(predictor_table)))
        behaviour = behaviour_summary(predictor_table)
        if not behaviour.empty:
            predictor += "<h3>Behaviour decoding</h3>" + _table_html(behaviour)
        predictor += ('<p class="note">Every row of the evaluation is in evaluation.csv '
                      "(data/predictor/&lt;recording&gt;/).</p>")
    else:
        predictor = '<p class="note">No predictor evaluation for this recording.</p>'
    motifs = ""
    if "dfc" in atlas.children and "motif" in atlas["dfc"]:
        table = motif_table(atlas["dfc"].to_dataset())
        if not table.empty:
            rule = atlas["dfc"]["motif"].attrs.get("description", "the group of neurons that "
                                                              "carry it")
            rule = html.escape(rule.removeprefix("the component's motif community: "))
            motifs = ("<p>The <b>motif community</b> of each component: "
                      f"{rule} "
                      "(docs/dfc_communities.md, \"Motif community\"). Numbers in brackets: "
                      + (_SCORE_TEXT[_motif_score(atlas["dfc"].to_dataset())])
                      + "; <i>next_outside</i>: the strongest neurons left out.</p>"
                      + _table_html(table))
    provenance = html.escape(json.dumps({k: atlas.attrs[k] for k in atlas.attrs}, indent=1,
                                        default=str)[:20000])
    title = f"Dynamic connectome atlas: {html.escape(atlas.attrs.get('recording', ''))}"
    body = f"""
<h1>{title}</h1>
<section id="summary"><h2>Summary</h2><p class="summary">{summary_text(atlas, predictor_table)}</p></section>
<section id="components"><h2>Interaction motifs over time</h2>
{fig("component_timecourses", "Component time courses against stimulus blocks and behaviour")}
{fig("worm_loadings", "Worm loadings of each component")}
{fig("rank_selection", "Rank selection evidence")}</section>
<section id="communities"><h2>Communities</h2>
{fig("community_graphs", "Community graphs laid out by neuron position (node size: participation; motif neurons ringed)")}
{motifs}</section>
<section id="states"><h2>Brain states</h2>
{fig("state_rasters", "State rasters over time for each worm")}
{fig("k_selection", "Held-out likelihood against the number of states")}</section>
<section id="interactions"><h2>State-dependent interactions</h2>
{fig("state_interactions", "State interaction matrices beside the anatomical connectome")}</section>
<section id="anatomy"><h2>Function versus wiring</h2>{comparison or '<p class="note">No comparison.</p>'}</section>
<section id="predictor"><h2>Forecasting whole-brain activity</h2>{predictor}</section>
<section id="provenance"><h2>Provenance</h2><details><summary>settings, inputs, versions</summary>
<pre>{provenance}</pre></details></section>
"""
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>"
            f"<style>{_STYLE}</style></head><body>{body}<script>{_LOADED}</script></body></html>")
