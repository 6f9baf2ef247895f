"""Figures of the run report: training curves, confusion matrix; PNG data URIs."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.outputs.figures import plt


def figure_uri(fig: plt.Figure, dpi: int = 110) -> str:
    """A figure as a ``data:image/png;base64,...`` URI (the figure is closed)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def file_uri(path: Path) -> str:
    """A PNG file as a data URI."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def training_curves(history: pd.DataFrame) -> plt.Figure:
    """Loss and accuracy per epoch, training and validation (``train/history.csv``)."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), dpi=110)
    epochs = history["epoch"].to_numpy() + 1 if "epoch" in history else np.arange(1, len(history) + 1)
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for column, style in ((metric, "-o"), (f"val_{metric}", "--s")):
            if column in history:
                ax.plot(epochs, history[column], style, markersize=3,
                        label="validation" if column.startswith("val_") else "training")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(f"nightlight-class {metric}")
        ax.grid(True, linewidth=0.4, alpha=0.6)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def confusion_figure(matrix: Sequence[Sequence[int]]) -> plt.Figure:
    """The validation confusion matrix of the nightlight classes, counts and row shares."""
    cm = np.asarray(matrix, dtype=np.float64)
    share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(4.2, 3.6), dpi=110)
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(cm):
        ax.text(j, i, f"{int(count)}\n{share[i, j]:.0%}", ha="center", va="center", fontsize=8,
                color="white" if share[i, j] > 0.6 else "black")
    ticks = range(cm.shape[0])
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title("validation confusion matrix")
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of the true class")
    fig.tight_layout()
    return fig
