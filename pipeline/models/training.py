"""The two-phase fine-tuning loop, run one epoch at a time and checkpointed after every epoch.

Phases (the Keras transfer-learning recipe): ``head`` trains the new softmax head with the backbone
frozen; ``finetune`` unfreezes the backbone's top layers (BatchNorm stays frozen) at a lower
learning rate, with early stopping on validation loss (patience :data:`PATIENCE`; the weights of
the best epoch are restored at the end).

A :class:`Checkpoints` folder holds, after every epoch, the whole model with its optimizer state
(``epoch_NNNN.keras``), the best fine-tuning weights so far (``best_NNNN.weights.h5``) and
``state.json`` (epochs done, history, early-stopping counters, the dropout RNG state). The state
file is replaced last and atomically, so it always names complete files. :func:`fit_epochs`
started on a folder that holds a checkpoint continues after its last epoch; because each epoch's
batches are a pure function of ``(seed, epoch)`` (see
:func:`pipeline.models.datasets.tile_dataset`), a resumed training ends with the same weights as
an uninterrupted one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.errors import StageError
from pipeline.models.classifier import (
    OUTPUT_LAYER,
    RADIANCE_LAYER,
    load_classifier,
    set_backbone_trainable,
)

if TYPE_CHECKING:  # TensorFlow takes seconds to load: imported where used
    import keras
    import tensorflow as tf

PATIENCE = 2
STATE_FILE = "state.json"


@dataclass(frozen=True)
class Phase:
    """One epoch's training regime."""

    name: str
    learning_rate: float
    unfreeze_layers: int
    early_stopping: bool


def epoch_plan(head_epochs: int, finetune_epochs: int, unfreeze_layers: int,
               learning_rate: float, finetune_learning_rate: float) -> list[Phase]:
    """The phase of every epoch: ``head_epochs`` head epochs, then the fine-tuning epochs.

    Fine-tuning is left out when ``unfreeze_layers`` or ``finetune_epochs`` is 0.
    """
    head = Phase("head", learning_rate, 0, early_stopping=False)
    plan = [head] * head_epochs
    if unfreeze_layers and finetune_epochs:
        plan += [Phase("finetune", finetune_learning_rate, unfreeze_layers, True)] * finetune_epochs
    return plan


@dataclass
class TrainState:
    """Progress of a training, saved with every checkpoint.

    Attributes:
        epoch: Epochs completed.
        history: One row per completed epoch: epoch (1-based), phase, loss, val_loss and the
            objective's metric (accuracy, or mean_absolute_error), training and validation.
        best_val_loss: Lowest validation loss of the fine-tuning phase so far.
        wait: Fine-tuning epochs since that best.
        stopped: Early stopping has ended the fine-tuning.
        model_file: The checkpoint of the last completed epoch.
        best_file: The weights of the best fine-tuning epoch.
        rng_states: Values of the model's seed-generator variables (dropout masks).
    """

    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_val_loss: float | None = None
    wait: int = 0
    stopped: bool = False
    model_file: str | None = None
    best_file: str | None = None
    rng_states: list[list[int]] = field(default_factory=list)


class Checkpoints:
    """The checkpoint folder of one training (see the module docstring).

    Args:
        folder: Where checkpoints are kept; created if needed.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def completed(self) -> int:
        """Epochs completed by the checkpointed training (0 when there is none)."""
        path = self.folder / STATE_FILE
        return int(json.loads(path.read_text())["epoch"]) if path.is_file() else 0

    def load(self) -> tuple[keras.Model | None, TrainState]:
        """The model and state of the last completed epoch, or ``(None, TrainState())``."""
        path = self.folder / STATE_FILE
        if not path.is_file():
            return None, TrainState()
        try:
            state = TrainState(**json.loads(path.read_text()))
            model = load_classifier(self.folder / str(state.model_file))
        except (OSError, ValueError, TypeError) as exc:
            raise StageError(
                f"{self.folder}: cannot resume from this training checkpoint ({exc}). Delete "
                "the folder to train from scratch.") from exc
        for var, value in zip(_rng_variables(model), state.rng_states, strict=True):
            var.assign(np.asarray(value, dtype=var.dtype))
        return model, state

    def save(self, model: keras.Model, state: TrainState, is_best: bool) -> None:
        """Write the epoch's model (and best weights), then the state; drop older files."""
        state.model_file = f"epoch_{state.epoch:04d}.keras"
        model.save(self.folder / state.model_file)
        if is_best:
            state.best_file = f"best_{state.epoch:04d}.weights.h5"
            model.save_weights(self.folder / state.best_file)
        state.rng_states = [np.asarray(var.numpy()).tolist() for var in _rng_variables(model)]
        tmp = self.folder / f".{STATE_FILE}.tmp"
        tmp.write_text(json.dumps(asdict(state), indent=1))
        os.replace(tmp, self.folder / STATE_FILE)
        keep = {state.model_file, state.best_file, STATE_FILE}
        for old in [*self.folder.glob("epoch_*.keras"), *self.folder.glob("best_*.weights.h5")]:
            if old.name not in keep:
                old.unlink()

    def restore_best(self, model: keras.Model, state: TrainState) -> None:
        """Load the best fine-tuning weights into ``model``, if there are any."""
        if state.best_file is not None:
            model.load_weights(self.folder / state.best_file)


def _rng_variables(model: keras.Model) -> list[keras.Variable]:
    return [var for var in model.variables if "seed_generator_state" in var.path]


LOSSES = {
    OUTPUT_LAYER: ("sparse_categorical_crossentropy", ["accuracy"]),
    RADIANCE_LAYER: ("mean_squared_error", ["mean_absolute_error"]),
}
"""Loss and metrics by the model's output layer (its objective)."""


def _compile(model: keras.Model, phase: Phase) -> None:
    import keras

    set_backbone_trainable(model, phase.unfreeze_layers)
    loss, metrics = LOSSES[model.layers[-1].name]
    model.compile(optimizer=keras.optimizers.Adam(phase.learning_rate), loss=loss,
                  metrics=metrics)


def update_early_stopping(state: TrainState, logs: Mapping[str, float]) -> bool:
    """Update the counters with this epoch's validation loss; True when it is the best yet."""
    loss = float(logs["val_loss"])
    if state.best_val_loss is None or loss < state.best_val_loss:
        state.best_val_loss, state.wait = loss, 0
        return True
    state.wait += 1
    state.stopped = state.wait >= PATIENCE
    return False


def fit_epochs(
    build: Callable[[], keras.Model],
    plan: list[Phase],
    train_data: Callable[[int], tf.data.Dataset],
    val_data: tf.data.Dataset,
    class_weight: dict[int, float] | None,
    checkpoints: Checkpoints,
    on_epoch: Callable[[TrainState], None] | None = None,
) -> tuple[keras.Model, TrainState]:
    """Train epoch by epoch along ``plan``, resuming from ``checkpoints`` where they exist.

    Args:
        build: Returns the fresh, uncompiled classifier (called only without a checkpoint).
        plan: The phase of each epoch (:func:`epoch_plan`).
        train_data: ``epoch -> dataset`` of (images, labels) batches of that epoch.
        val_data: Validation (images, labels) batches.
        class_weight: Loss weight of each class, or None.
        checkpoints: Where each epoch is saved and a killed training is resumed from.
        on_epoch: Called with the state after each epoch is saved (logging).

    Returns:
        The trained model (best fine-tuning weights restored) and the final state.
    """
    model, state = checkpoints.load()
    compiled = plan[state.epoch - 1] if model is not None and state.epoch else None
    if model is None:
        model = build()
    for epoch in range(state.epoch, len(plan)):
        phase = plan[epoch]
        if state.stopped and phase.early_stopping:
            break
        if phase != compiled:
            _compile(model, phase)
            compiled = phase
        history = model.fit(train_data(epoch), validation_data=val_data, initial_epoch=epoch,
                            epochs=epoch + 1, class_weight=class_weight, shuffle=False,
                            verbose=0)
        logs = {k: float(v[-1]) for k, v in history.history.items() if k != "learning_rate"}
        is_best = phase.early_stopping and update_early_stopping(state, logs)
        state.epoch = epoch + 1
        state.history.append({"epoch": epoch + 1, "phase": phase.name, **logs})
        checkpoints.save(model, state, is_best)
        if on_epoch is not None:
            on_epoch(state)
    checkpoints.restore_best(model, state)
    return model, state


def _scalar_metadata() -> bytes:
    """TensorBoard's marker for a scalar summary (written without the tensorboard package)."""
    from tensorflow.core.framework import summary_pb2

    meta = summary_pb2.SummaryMetadata()
    meta.plugin_data.plugin_name = "scalars"
    return meta.SerializeToString()


def write_scalars(folder: Path, row: Mapping[str, Any]) -> None:
    """Append one epoch's metrics as TensorBoard scalars under ``folder/train`` and ``/validation``.

    The tags are those of ``keras.callbacks.TensorBoard`` (``epoch_loss``, ``epoch_accuracy``),
    at step ``row["epoch"]``. Reading them needs ``pip install tensorboard``; writing does not.
    """
    import tensorflow as tf

    meta = _scalar_metadata()
    for run, prefix in (("train", ""), ("validation", "val_")):
        values = {key.removeprefix(prefix): value for key, value in row.items()
                  if isinstance(value, float) and key.startswith(prefix)
                  and (prefix or not key.startswith("val_"))}
        writer = tf.summary.create_file_writer(str(folder / run))
        with writer.as_default():
            for key, value in values.items():
                tf.summary.write(f"epoch_{key}", tf.constant(value, tf.float32),
                                 step=int(row["epoch"]), metadata=meta)
        writer.close()
