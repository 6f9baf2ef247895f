"""Tests for pipeline.models.training and .devices: phases, checkpoints, resume, device plans."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from pipeline.errors import StageError
from pipeline.models import build_classifier
from pipeline.models.devices import plan_devices, training_devices
from pipeline.models.training import (
    Checkpoints,
    TrainState,
    epoch_plan,
    fit_epochs,
    update_early_stopping,
    write_scalars,
)

RNG = np.random.default_rng(0)
X = RNG.uniform(0, 255, (48, 32, 32, 3)).astype("float32")
Y = (X[:, :, :, 0].mean(axis=(1, 2)) > 127).astype("int64") + (np.arange(48) % 2)


def batches(epoch: int) -> tf.data.Dataset:
    """A different, reproducible order every epoch (as tile_dataset gives)."""
    order = np.random.default_rng([1, epoch]).permutation(len(X))
    return tf.data.Dataset.from_tensor_slices((X[order], Y[order])).batch(16)


VAL = tf.data.Dataset.from_tensor_slices((X[:16], Y[:16])).batch(16)
PLAN = epoch_plan(1, 2, 4, 1e-2, 1e-3)


def build() -> keras.Model:
    return build_classifier("mobilenet_0.25", 32, 3, 3, None, dropout=0.5, seed=0)


class Killed(Exception):
    """Stands in for a SIGKILL right after a checkpoint was written."""


def kill_after(epochs: int):
    def on_epoch(state: TrainState) -> None:
        if state.epoch == epochs:
            raise Killed

    return on_epoch


def train(folder: Path, on_epoch=None, builder=build) -> tuple[keras.Model, TrainState]:
    with training_devices(plan_devices([]), seed=0):
        return fit_epochs(builder, PLAN, batches, VAL, {0: 1.0, 1: 1.0, 2: 2.0},
                          Checkpoints(folder), on_epoch)


def assert_same_weights(a: keras.Model, b: keras.Model) -> None:
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


def test_epoch_plan_phases() -> None:
    assert [p.name for p in PLAN] == ["head", "finetune", "finetune"]
    assert PLAN[0].unfreeze_layers == 0 and PLAN[1].unfreeze_layers == 4
    assert [p.learning_rate for p in PLAN] == [1e-2, 1e-3, 1e-3]
    assert not PLAN[0].early_stopping and PLAN[2].early_stopping
    assert [p.name for p in epoch_plan(2, 3, 0, 1e-3, 1e-4)] == ["head", "head"]


def test_early_stopping_counts_epochs_without_improvement() -> None:
    state = TrainState()
    flags = [update_early_stopping(state, {"val_loss": v}) for v in (1.0, 0.8, 0.9, 0.85)]
    assert flags == [True, True, False, False]
    assert state.best_val_loss == 0.8 and state.wait == 2 and state.stopped


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[keras.Model, TrainState, Path]:
    """One uninterrupted training, and its checkpoint folder."""
    folder = tmp_path_factory.mktemp("reference")
    return (*train(folder), folder)


@pytest.mark.slow
def test_same_seed_gives_the_same_weights_and_history(reference, tmp_path: Path) -> None:
    model_a, state_a, _ = reference
    model_b, state_b = train(tmp_path / "b")
    assert_same_weights(model_a, model_b)
    assert state_a.history == state_b.history
    assert [row["phase"] for row in state_a.history] == ["head", "finetune", "finetune"]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(state_a.history[0])


@pytest.mark.slow
def test_a_killed_training_resumes_from_its_last_checkpoint(reference, tmp_path: Path) -> None:
    reference, ref_state, _ = reference
    for kill_epoch in (1, 2):  # at the phase boundary and inside fine-tuning
        folder = tmp_path / f"killed_{kill_epoch}"
        with pytest.raises(Killed):
            train(folder, kill_after(kill_epoch))
        assert Checkpoints(folder).completed() == kill_epoch
        assert [p.name for p in folder.glob("epoch_*.keras")] == [f"epoch_{kill_epoch:04d}.keras"]

        def no_rebuild() -> keras.Model:
            raise AssertionError("a resumed training must not start from scratch")

        resumed, state = train(folder, builder=no_rebuild)
        assert state.history == ref_state.history
        assert_same_weights(resumed, reference)


@pytest.mark.slow
def test_best_finetune_weights_are_restored(reference) -> None:
    model, state, folder = reference
    best_epoch = 1 + int(np.argmin([row["val_loss"] for row in state.history[1:]])) + 1
    assert state.best_file == f"best_{best_epoch:04d}.weights.h5"
    restored = build()
    restored.load_weights(folder / state.best_file)
    assert_same_weights(model, restored)


def test_cpu_plan_and_gpu_plans() -> None:
    cpu = plan_devices([])
    assert (cpu.strategy, cpu.dtype_policy, cpu.deterministic) == ("default", "float32", True)
    assert cpu.describe() == "CPU, one device, float32"
    one = plan_devices(["/physical_device:GPU:0"])
    assert (one.strategy, one.dtype_policy, one.deterministic) == (
        "default", "mixed_float16", False)
    two = plan_devices(["/physical_device:GPU:0", "/physical_device:GPU:1"])
    assert two.strategy == "mirrored" and two.describe() == "2 GPUs, MirroredStrategy, mixed_float16"


def test_dtype_policy_is_restored_after_training() -> None:
    plan = plan_devices(["/physical_device:GPU:0"])  # mixed precision builds fine on a CPU
    with training_devices(plan, seed=0):
        model = build()
        assert keras.config.dtype_policy().name == "mixed_float16"
    assert keras.config.dtype_policy().name == "float32"
    assert model.get_layer("nightlight_class").compute_dtype == "float32"
    assert model.get_layer("features").compute_dtype == "float16"


def test_scalars_are_written_for_tensorboard(tmp_path: Path) -> None:
    write_scalars(tmp_path, {"epoch": 3, "phase": "head", "loss": 0.5, "val_loss": 0.7,
                             "accuracy": 0.25})
    found = {}
    for run in ("train", "validation"):
        for path in (tmp_path / run).glob("events.out.tfevents.*"):
            for event in tf.compat.v1.train.summary_iterator(str(path)):
                for value in event.summary.value:
                    tensor = tf.make_ndarray(value.tensor)
                    found[(run, value.tag, event.step)] = float(tensor)
                    assert value.metadata.plugin_data.plugin_name == "scalars"
    assert found == {("train", "epoch_loss", 3): 0.5, ("train", "epoch_accuracy", 3): 0.25,
                     ("validation", "epoch_loss", 3): pytest.approx(0.7)}


def test_unreadable_checkpoint_names_the_folder(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text('{"epoch": 1, "model_file": "epoch_0001.keras"}')
    with pytest.raises(StageError, match=f"{tmp_path}.*Delete the folder"):
        Checkpoints(tmp_path).load()
