"""The nightlight-class histogram written by the label stage (matplotlib, Agg backend)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

CLASS_COLOURS = ("#1b1b3a", "#4a4e8c", "#c7a23a", "#f2d14b", "#fff7b0")


def save_class_histogram(path: Path, radiance: np.ndarray, thresholds: Sequence[float],
                         counts: Sequence[int], method: str) -> None:
    """Histogram of log(1 + radiance) per tile, coloured by class, thresholds as lines.

    Args:
        path: the PNG to write.
        radiance: per-tile mean radiance (non-finite values are left out), shape (n,).
        thresholds: radiance at each class boundary, ascending.
        counts: tiles per class.
        method: the class method, shown in the title.
    """
    x = np.log1p(np.clip(radiance[np.isfinite(radiance)], 0.0, None))
    cuts = np.log1p(np.asarray(thresholds, dtype=np.float64))
    edges = np.linspace(x.min(), max(x.max(), x.min() + 1e-6), 61)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    bounds = [-np.inf, *cuts, np.inf]
    for k in range(len(counts)):
        part = x[(x >= bounds[k]) & (x < bounds[k + 1])]
        ax.hist(part, bins=edges, color=CLASS_COLOURS[k % len(CLASS_COLOURS)], edgecolor="grey",
                linewidth=0.3, label=f"class {k}: {counts[k]} tiles")
    for cut, t in zip(cuts, thresholds):
        ax.axvline(cut, color="crimson", linestyle="--", linewidth=1)
        ax.annotate(f"{t:.3g}", (cut, 1), xycoords=("data", "axes fraction"), ha="left",
                    va="top", fontsize=8, color="crimson")
    ax.set_yscale("log")
    ax.set_xlabel("log(1 + mean radiance over the tile)")
    ax.set_ylabel("tiles")
    ax.set_title(f"nightlight classes ({method}); thresholds in radiance units")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
