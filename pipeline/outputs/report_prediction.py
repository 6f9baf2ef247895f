"""The report's out-of-distribution banner and a prediction run's model-card section.

The share of the map that is out of distribution (``ood_<target>`` of ``predict/grid.parquet``)
comes first in every report, in a warning box when any tile is flagged; a prediction run's
report also shows where, when and how well its bundle's model was trained.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pandas as pd

OOD_STYLE = (".ood{border-left:6px solid #c0392b;background:#fbeeee;padding:10px 14px;"
             "margin:16px 0} .ood.ok{border-color:#2e8b57;background:#eef7f1}")


def ood_shares(grid: pd.DataFrame) -> dict[str, float]:
    """Per target, the share (0 to 1) of mapped tiles flagged out of distribution."""
    return {c.removeprefix("ood_"): float(np.mean(grid[c].astype(bool)))
            for c in grid.columns if c.startswith("ood_")}


def ood_banner(grid: pd.DataFrame) -> str:
    """A box stating the out-of-distribution share of each target ('' when none is flagged
    or the models have no OOD reference)."""
    shares = ood_shares(grid)
    if not shares:
        return ""
    worst = max(shares.values())
    items = "; ".join(f"{html.escape(t)}: <b>{100 * s:.1f}%</b>" for t, s in shares.items())
    if worst == 0:
        return f'<div class="ood ok">Out of distribution: none of the map ({items}).</div>'
    return (f'<div class="ood"><b>Out of distribution</b>: {items} of the mapped tiles are '
            "unlike every training cluster (column <code>ood_&lt;target&gt;</code>); their "
            "predictions and intervals carry no guarantee.</div>")


def model_card_section(card_path: Path | None) -> str:
    """A prediction run's bundle: its training run, imagery, survey and CV r² ('' otherwise)."""
    if card_path is None or not card_path.exists():
        return ""
    card = json.loads(card_path.read_text(encoding="utf-8"))
    trained = card["trained"]
    rows = [("training run", f"{trained['name']} ({trained['run_dir']})"),
            ("finished", trained.get("finished")),
            ("extent (WGS84)", trained.get("extent_wgs84")),
            ("imagery years", trained.get("imagery_years")),
            ("survey", f"{trained.get('survey')} (years {trained.get('survey_years')}, "
                       f"{trained.get('clusters')} clusters)")]
    for target, entry in card.get("targets", {}).items():
        for scheme, table in entry.get("cv", {}).items():
            model = table.get("model", {})
            if model.get("r2") is not None:
                rows.append((f"CV r² {target} ({scheme})", f"{model['r2']:.3f}"))
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                   for k, v in rows)
    limits = "".join(f"<li>{html.escape(x)}</li>" for x in card.get("known_limits", []))
    return (f"<h2>Model bundle</h2><p class=\"note\">A prediction run: the model was trained "
            f"elsewhere and applied here without a survey. Its cross-validated r² was measured "
            f"on the training clusters, not here.</p><table>{body}</table>"
            f"<h3>Known limits</h3><ul>{limits}</ul>")
