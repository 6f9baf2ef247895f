"""train: fine-tune an ImageNet backbone to predict the night-time lights of each tile.

Inputs: ``ingest/tiles.parquet`` + ``ingest/cache/``, ``label/labels.parquet`` (the tiles with
``label >= 0`` and ``train_ok``) and ``label/bins.json``; the backbone's
weights (``model.weights``: imagenet | none | path, resolved through ``model.weights_dir``, the
Keras cache, then a download).
Outputs (``train/``):
    model.keras   the network; takes raw 0..255 pixels (preprocessing is in the graph);
                  its layer ``features`` is the feature layer that ``extract`` uses.
    history.csv   one row per epoch (1-based): epoch, phase, loss, val_loss, and accuracy /
                  val_accuracy (objective ``classes``) or mean_absolute_error /
                  val_mean_absolute_error (objective ``radiance``).
    metrics.json  ``classes``: validation accuracy, per-class accuracy, confusion matrix, class
                  weights; ``radiance``: validation R², Spearman and RMSE of the standardised
                  target and its scaling. Both: epochs run, whether early stopping ended
                  training, the weights file used, tile counts.
    tensorboard/  TensorBoard event files, runs ``train`` and ``validation`` (epoch_loss,
                  epoch_accuracy per epoch).

Objective (``model.objective``): ``classes`` is Jean et al.'s: softmax over the nightlight
classes of ``label``, class weights balancing the skewed classes. ``radiance`` regresses the
tile's log(1 + radiance), standardised over the training tiles (mean squared error): the finer
target keeps the ordering inside each class that three classes throw away.

Recipe (Keras transfer learning, :mod:`pipeline.models.training`): backbone frozen while the new
head trains, then the top ``model.unfreeze_layers`` layers unfrozen (BatchNorm kept frozen) at a
lower learning rate, with early stopping on validation loss. Tiles are augmented (flips, 90°
rotations, colour jitter). The validation tiles are whole spatial blocks of
``model.validation_block_km``, so validation measures more than memorised places.

Every epoch is checkpointed (model, optimizer, early-stopping state) in
``run_dir/.resume/train/<key>/`` (see :mod:`pipeline.engine.resume`); a killed training resumes
after its last completed epoch and ends with the weights an uninterrupted one would have.
The devices are found at run time (:mod:`pipeline.models.devices`): CPU (deterministic for a
seed), one GPU or several GPUs (MirroredStrategy), mixed precision on GPUs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from pipeline.config.schema import Config
from pipeline.models import BackboneSpec, Weights, build_classifier, get_backbone, resolve_weights
from pipeline.models.datasets import TileCache, tile_dataset
from pipeline.models.devices import detect_devices, training_devices
from pipeline.models.targets import balanced_class_weight, training_targets
from pipeline.models.training import (
    Checkpoints,
    TrainState,
    epoch_plan,
    fit_epochs,
    write_scalars,
)
from pipeline.models.validation import evaluate_classes, evaluate_radiance, split_train_val
from pipeline.engine.context import StageContext
from pipeline.engine.resume import close_resume_dir, open_resume_dir
from pipeline.engine.stage import Stage


def input_files(config: Config) -> list[Path]:
    return Weights.parse(config.model.weights).files()


def labelled_tiles(ctx: StageContext) -> tuple[pd.DataFrame, int]:
    """Catalog rows of the tiles that have a nightlight class and that ``label`` put in the
    training set (``train_ok``, after dark-class balancing), and the number of classes."""
    catalog = gpd.read_parquet(ctx.input("ingest", "tiles.parquet"))
    labels = pd.read_parquet(ctx.input("label", "labels.parquet"))
    n_classes = int(json.loads(ctx.input("label", "bins.json").read_text())["n_classes"])
    keep = labels["label"].to_numpy() >= 0
    if "train_ok" in labels:
        keep &= labels["train_ok"].to_numpy(dtype=bool)
    table = catalog.assign(label=labels["label"].to_numpy(),
                           label_radiance=labels["label_radiance"].to_numpy())
    return table[keep].reset_index(drop=True), n_classes


def upstream_files(ctx: StageContext) -> list[Path]:
    """The upstream artifacts train reads (they key its resume folder)."""
    return [ctx.input("ingest", "tiles.parquet"), ctx.input("ingest", "cache"),
            ctx.input("label", "labels.parquet"), ctx.input("label", "bins.json")]


def epoch_reporter(ctx: StageContext, total: int, tensorboard: Path) -> Any:
    """Called after each epoch: one log line (console and run.log) and TensorBoard scalars."""

    def report(state: TrainState) -> None:
        row = state.history[-1]
        values = " ".join(f"{k} {v:.4f}" for k, v in sorted(row.items()) if isinstance(v, float))
        ctx.log.info("epoch %d/%d (%s): %s", row["epoch"], total, row["phase"], values)
        write_scalars(tensorboard, row)

    return report


def train_model(ctx: StageContext, table: pd.DataFrame, n_classes: int, spec: BackboneSpec,
                weights: Path | None, split: tuple[np.ndarray, np.ndarray], y: np.ndarray,
                work: Path) -> tuple[Any, TrainState, Any]:
    """Build (or resume) and train the network on ``spec``'s backbone initialised from
    ``weights``, on targets ``y``; returns (model, state, validation batches)."""
    cfg, seed = ctx.config.model, ctx.config.seed
    train_rows, val_rows = split
    cache = TileCache(ctx.input("ingest", "cache"))
    shards, offsets = (table[c].to_numpy() for c in ("shard", "offset"))
    tiles = cache.tile_shape(int(shards[0]))
    side = spec.fed_px(cfg.input_size_px, tiles.size_px)
    plan = epoch_plan(cfg.head_epochs, cfg.finetune_epochs, cfg.unfreeze_layers,
                      cfg.learning_rate, cfg.finetune_learning_rate)
    devices = detect_devices()
    ctx.log.info("training on %s", devices.describe())

    def build() -> Any:
        return build_classifier(spec, cfg.input_size_px, tiles.bands, n_classes, weights,
                                dropout=cfg.dropout, seed=seed, objective=cfg.objective,
                                tile_px=tiles.size_px)

    def train_data(epoch: int) -> Any:
        return tile_dataset(cache, shards[train_rows], offsets[train_rows], y[train_rows],
                            cfg.batch_size, side, shuffle_seed=seed, epoch=epoch)

    val = tile_dataset(cache, shards[val_rows], offsets[val_rows], y[val_rows],
                       cfg.batch_size, side)
    checkpoints = Checkpoints(work / "checkpoints")
    if checkpoints.completed():
        ctx.log.info("resuming training after epoch %d of %d from the checkpoint in %s",
                     checkpoints.completed(), len(plan), work)
    with training_devices(devices, seed):
        weight = balanced_class_weight(y[train_rows]) if cfg.objective == "classes" else None
        model, state = fit_epochs(build, plan, train_data, val, weight, checkpoints,
                                  epoch_reporter(ctx, len(plan), work / "tensorboard"))
    return model, state, val


def write_history(history: list[dict[str, Any]], path: Path) -> None:
    """``history.csv``: one row per epoch (1-based), its phase, loss and accuracy, train and val."""
    columns = ["epoch", "phase", "loss", "accuracy", "val_loss", "val_accuracy"]
    frame = pd.DataFrame(history)
    frame.reindex(columns=[*columns, *[c for c in frame.columns if c not in columns]]).to_csv(
        path, index=False)


def run(ctx: StageContext) -> dict[str, Any]:
    cfg, seed = ctx.config.model, ctx.config.seed
    table, n_classes = labelled_tiles(ctx)
    split = split_train_val(table["lon"].to_numpy(), table["lat"].to_numpy(),
                            cfg.validation_block_km, cfg.validation_share, seed)
    spec = get_backbone(cfg.backbone)
    weights = resolve_weights(spec, Weights.parse(cfg.weights), cfg.input_size_px,
                              cfg.weights_dir)
    ctx.log.info("backbone %s, weights %s", cfg.backbone, weights or "random init (weights: none)")
    work = open_resume_dir(ctx, upstream_files(ctx))
    y, scaling = training_targets(table, cfg.objective, split[0])
    model, state, val = train_model(ctx, table, n_classes, spec, weights, split, y, work)
    model.save(ctx.out / "model.keras")
    write_history(state.history, ctx.out / "history.csv")
    if cfg.objective == "classes":
        scores = {**evaluate_classes(model, val, y[split[1]], n_classes),
                  "class_weight": balanced_class_weight(y[split[0]])}
    else:
        scores = {**evaluate_radiance(model, val, y[split[1]]), "target_scaling": scaling}
    metrics = {"objective": cfg.objective, **scores,
               "n_train": len(split[0]), "n_val": len(split[1]),
               "epochs": state.epoch, "early_stopped": state.stopped,
               "backbone": cfg.backbone, "weights": str(weights) if weights else "none"}
    (ctx.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    if (work / "tensorboard").exists():
        shutil.move(work / "tensorboard", ctx.out / "tensorboard")
    close_resume_dir(work)
    score = "val_accuracy" if cfg.objective == "classes" else "val_r2"
    return {"train_tiles": len(split[0]), "val_tiles": len(split[1]),
            score: round(metrics[score], 4)}


STAGE = Stage(
    name="train",
    version=3,
    inputs=("ingest", "label"),
    outputs=("model.keras", "history.csv", "metrics.json"),
    config=("model", "seed"),
    run=run,
    input_files=input_files,
)
