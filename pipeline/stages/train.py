"""train: fine-tune an ImageNet backbone to predict the nightlight class of each tile.

Inputs: ``ingest/tiles.parquet`` + ``ingest/cache/``, ``label/labels.parquet``; the backbone's
weights (``model.weights``: imagenet | none | path, resolved through ``model.weights_dir``, the
Keras cache, then a download).
Outputs (``train/``):
    model.keras   the classifier; takes raw 0..255 pixels (preprocessing is in the graph);
                  its layer ``features`` is the feature layer that ``extract`` uses.
    history.csv   per epoch: loss, accuracy, val_loss, val_accuracy (and phase).
    metrics.json  validation accuracy, per-class accuracy, confusion matrix, class weights,
                  the weights file used, tile counts.

Recipe (Keras transfer learning): backbone frozen while the new head trains, then the top
``model.unfreeze_layers`` layers unfrozen (BatchNorm kept frozen) at a lower learning rate.
Class weights balance the skewed nightlight classes. The validation tiles are whole spatial
blocks of ``model.validation_block_km``, so validation measures more than memorised places.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import keras
import tensorflow as tf
import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import GroupShuffleSplit
from sklearn.utils.class_weight import compute_class_weight

from pipeline.config import Config, ModelConfig
from pipeline.errors import InputDataError
from pipeline.geo.blocks import block_ids
from pipeline.models import (
    build_classifier,
    get_backbone,
    resolve_weights,
    set_backbone_trainable,
)
from pipeline.models.datasets import TileCache, tile_dataset
from pipeline.stages.context import StageContext

NAME = "train"
VERSION = 1
INPUTS = ("ingest", "label")
OUTPUTS = ("model.keras", "history.csv", "metrics.json")
CONFIG = ("model",)


def input_files(config: Config) -> list[Path]:
    weights = config.model.weights
    return [Path(weights)] if weights not in ("imagenet", "none") else []


def split_train_val(table: pd.DataFrame, cfg: ModelConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of training and validation tiles, whole spatial blocks held out."""
    groups = block_ids(table["lon"].to_numpy(), table["lat"].to_numpy(), cfg.validation_block_km)
    if len(np.unique(groups)) < 2:
        raise InputDataError(
            f"all tiles fall in one {cfg.validation_block_km} km block; lower "
            "model.validation_block_km so that some blocks can be held out for validation."
        )
    splitter = GroupShuffleSplit(n_splits=1, test_size=cfg.validation_share, random_state=seed)
    return next(splitter.split(table, groups=groups))


def _fit(model: keras.Model, train: Any, val: Any, lr: float, epochs: tuple[int, int],
         class_weight: dict[int, float], callbacks: list[Any]) -> None:
    if epochs[1] <= epochs[0]:
        return
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(train, validation_data=val, initial_epoch=epochs[0], epochs=epochs[1],
              class_weight=class_weight, callbacks=callbacks, shuffle=False, verbose=0)


def evaluate(model: keras.Model, val: Any, y_val: np.ndarray, n_classes: int) -> dict[str, Any]:
    """Validation accuracy, per-class accuracy (recall) and the confusion matrix."""
    pred = np.argmax(model.predict(val, verbose=0), axis=1)
    cm = confusion_matrix(y_val, pred, labels=list(range(n_classes)))
    per_class = cm.diagonal() / np.maximum(cm.sum(axis=1), 1)
    return {"val_accuracy": float((pred == y_val).mean()),
            "val_balanced_accuracy": float(per_class.mean()),
            "per_class_accuracy": per_class.tolist(), "confusion_matrix": cm.tolist()}


def balanced_class_weight(y: np.ndarray) -> dict[int, float]:
    """Weights inversely proportional to class frequency (sklearn's "balanced")."""
    present = np.unique(y)
    weights = compute_class_weight("balanced", classes=present, y=y)
    return dict(zip(present.tolist(), weights.tolist()))


def labelled_tiles(ctx: StageContext) -> tuple[pd.DataFrame, int]:
    """Catalog rows of the tiles that have a nightlight class, and the number of classes."""
    catalog = gpd.read_parquet(ctx.input("ingest", "tiles.parquet"))
    labels = pd.read_parquet(ctx.input("label", "labels.parquet"))
    n_classes = int(json.loads(ctx.input("label", "bins.json").read_text())["n_classes"])
    table = catalog.assign(label=labels["label"].to_numpy())
    return table[table["label"] >= 0].reset_index(drop=True), n_classes


def epoch_logger(log: Any, total: int) -> keras.callbacks.Callback:
    """Logs one line per epoch (console and run.log): loss and accuracy, train and validation."""

    def on_epoch_end(epoch: int, logs: dict[str, float] | None = None) -> None:
        values = " ".join(f"{k} {v:.4f}" for k, v in sorted((logs or {}).items())
                          if k != "learning_rate")
        log.info("epoch %d/%d: %s", epoch + 1, total, values)

    return keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end)


def train_two_phases(model: keras.Model, cfg: ModelConfig, train: Any, val: Any,
                     class_weight: dict[int, float], history: Path, log: Any) -> None:
    """Head only (backbone frozen), then the top layers unfrozen at a lower learning rate."""
    progress = epoch_logger(log, cfg.head_epochs + cfg.finetune_epochs)
    csv = keras.callbacks.CSVLogger(str(history), append=True)
    set_backbone_trainable(model, 0)
    _fit(model, train, val, cfg.learning_rate, (0, cfg.head_epochs), class_weight, [csv, progress])
    if cfg.unfreeze_layers and cfg.finetune_epochs:
        set_backbone_trainable(model, cfg.unfreeze_layers)
        stop = keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
        _fit(model, train, val, cfg.finetune_learning_rate,
             (cfg.head_epochs, cfg.head_epochs + cfg.finetune_epochs), class_weight,
             [csv, progress, stop])
    if not history.exists():
        pd.DataFrame(columns=["epoch", "accuracy", "loss"]).to_csv(history, index=False)


def run(ctx: StageContext) -> dict[str, Any]:
    cfg, seed = ctx.config.model, ctx.config.seed
    table, n_classes = labelled_tiles(ctx)
    train_rows, val_rows = split_train_val(table, cfg, seed)
    weights = resolve_weights(get_backbone(cfg.backbone), cfg.weights, cfg.input_size_px,
                              cfg.weights_dir)
    ctx.log.info("backbone %s, weights %s", cfg.backbone, weights or "random init (weights: none)")
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    cache = TileCache(ctx.input("ingest", "cache"))
    shards, offsets, y = (table[c].to_numpy() for c in ("shard", "offset", "label"))
    train = tile_dataset(cache, shards[train_rows], offsets[train_rows], y[train_rows],
                         cfg.batch_size, cfg.input_size_px, shuffle_seed=seed)
    val = tile_dataset(cache, shards[val_rows], offsets[val_rows], y[val_rows],
                       cfg.batch_size, cfg.input_size_px)
    bands = cache.take(shards[:1], offsets[:1]).shape[-1]
    model = build_classifier(cfg.backbone, cfg.input_size_px, bands, n_classes, weights,
                             dropout=cfg.dropout, seed=seed)
    class_weight = balanced_class_weight(y[train_rows])
    train_two_phases(model, cfg, train, val, class_weight, ctx.out / "history.csv", ctx.log)
    model.save(ctx.out / "model.keras")
    metrics = {**evaluate(model, val, y[val_rows], n_classes),
               "n_train": len(train_rows), "n_val": len(val_rows), "class_weight": class_weight,
               "backbone": cfg.backbone, "weights": str(weights) if weights else "none"}
    (ctx.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return {"train_tiles": len(train_rows), "val_tiles": len(val_rows),
            "val_accuracy": round(metrics["val_accuracy"], 4)}
