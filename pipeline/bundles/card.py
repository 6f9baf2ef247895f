"""The model card of a bundle: ``model_card.json`` and the same as ``MODEL_CARD.md``.

Where and when the model was trained, on which survey, how well it cross-validated (with 95%
intervals) next to its baselines, its prediction interval and out-of-distribution rule, what it
is for and what it cannot do.
"""

from __future__ import annotations

from typing import Any

INTENDED_USE = (
    "Mapping the survey outcome(s) below as relative levels across places resembling the "
    "training region, from imagery of the same kind (bands, resolution, scaling): other "
    "districts or neighbouring regions, and other years of the same region. Small-area "
    "targeting and monitoring, with survey data as the reference wherever it exists.")

KNOWN_LIMITS = (
    "Cross-validated r² is measured on the training region's clusters; a new region or year "
    "can be worse, and nothing measures it without a survey there.",
    "Places flagged out of distribution (ood_*) are unlike every training cluster: their "
    "predictions and intervals carry no guarantee.",
    "The prediction interval covers single places exchangeable with the training clusters; "
    "it is not a bound on regional means, nor on change between two years (both maps share "
    "the model's errors).",
    "Imagery from another sensor, season or processing changes the features even where "
    "nothing on the ground changed; apparent change may be an imagery artefact.",
    "Ridge on features averaged over a neighbourhood smooths the map: one tile's value "
    "describes its surroundings.",
)


def model_card(facts: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
    """The card as a JSON-able dict.

    Args:
        facts: ``bundle.json``'s content (training run, extent, survey, targets, ...).
        metrics: the training run's ``fit/metrics.json``.
    """
    targets = {}
    for target, entry in metrics.get("targets", {}).items():
        targets[target] = {"log": bool(entry.get("log", False)), "clusters": entry.get("n"),
                           "cv": _cv_table(entry.get("schemes", {})),
                           "interval": _interval(entry.get("interval", {}))}
    return {"model": f"poverty-pipeline bundle of run {facts['training']['name']!r}",
            "trained": facts["training"], "tiles": facts["tiles"], "features": facts["features"],
            "targets": targets, "ood_rule": OOD_RULE, "intended_use": INTENDED_USE,
            "known_limits": list(KNOWN_LIMITS), "versions": facts["versions"]}


OOD_RULE = (
    "A place is out of distribution (ood_<target> true) when its standardised feature vector "
    "lies farther from every training cluster, in the principal-component space of the "
    "training design, than the regression.ood_quantile of the training clusters' own "
    "leave-one-out nearest-neighbour distances.")


def _cv_table(schemes: dict[str, Any]) -> dict[str, Any]:
    """Per scheme, over all clusters: the model's and each baseline's r² (with 95% CI)."""
    out: dict[str, Any] = {}
    for scheme, subsets in schemes.items():
        if "skipped" in subsets:
            out[scheme] = {"skipped": subsets["skipped"]}
            continue
        everything = subsets.get("all", {})
        out[scheme] = {name: {"r2": value.get("r2"), "r2_ci": value.get("r2_ci")}
                       for name, value in everything.items()
                       if isinstance(value, dict) and "r2" in value}
        out[scheme]["n"] = everything.get("n")
    return out


def _interval(interval: dict[str, Any]) -> dict[str, Any]:
    keep = ("coverage", "scheme", "half_width", "units", "guarantee", "guaranteed")
    return {k: interval[k] for k in keep if k in interval}


def _fmt(value: Any) -> str:
    return "–" if value is None else f"{value:.3f}"


def card_markdown(card: dict[str, Any]) -> str:
    """``MODEL_CARD.md``: the card for people."""
    trained, tiles = card["trained"], card["tiles"]
    lines = [f"# Model card: {card['model']}", "",
             "## Training", "",
             f"- run: `{trained['name']}` ({trained['run_dir']}), finished {trained['finished']}",
             f"- extent (WGS84 lon/lat): {trained['extent_wgs84']}",
             f"- imagery years: {trained['imagery_years'] or 'unknown'}; survey "
             f"`{trained['survey']}`, year(s) {trained['survey_years'] or 'unknown'}, "
             f"{trained['clusters']} clusters",
             f"- tiles: bands {tiles['bands']}, {tiles['tile_size_px']} px, "
             f"{tiles['resolution_m']:.3g} m per cached pixel, scaling {tiles['scaling']}",
             f"- features: {card['features']['mode']}, backbone {card['features']['backbone']}; "
             f"neighbourhood {card['features']['neighbourhood']}", "",
             "## Cross-validated performance (r², 95% bootstrap interval)", ""]
    for target, entry in card["targets"].items():
        label = f"log {target}" if entry["log"] else target
        lines.append(f"### {label} ({entry['clusters']} clusters)")
        lines.append("")
        lines.append("| scheme | predictor | r² | 95% CI |")
        lines.append("|---|---|---|---|")
        for scheme, table in entry["cv"].items():
            if "skipped" in table:
                lines.append(f"| {scheme} | skipped: {table['skipped']} | | |")
                continue
            for name, value in table.items():
                if name == "n":
                    continue
                ci = value.get("r2_ci")
                shown = f"[{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci else "–"
                lines.append(f"| {scheme} | {name} | {_fmt(value['r2'])} | {shown} |")
        interval = entry["interval"]
        if interval:
            lines += ["", f"Prediction interval: {interval.get('coverage')} coverage, "
                          f"{interval.get('guarantee', 'split conformal')}."]
        lines.append("")
    lines += ["## Out-of-distribution rule", "", card["ood_rule"], "",
              "## Intended use", "", card["intended_use"], "",
              "## Known limits", "", *[f"- {limit}" for limit in card["known_limits"]], "",
              "## Versions", "",
              *[f"- {name}: {version}" for name, version in card["versions"].items()], ""]
    return "\n".join(lines)
