"""The train and extract stages on the tiny world: outputs, determinism, resume after a kill,
frozen ImageNet features."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.engine import runner
from pipeline.config.schema import load_config, parse_config
from pipeline.errors import ConfigError, PipelineError
from pipeline.engine.executor import LocalExecutor
from pipeline.models import build_classifier, feature_model, get_backbone
from pipeline.models.classifier import load_classifier
from pipeline.models.training import Checkpoints
from pipeline.engine.runner import run_pipeline
from pipeline.stages import PIPELINE
from pipeline.engine.shards import run_shard
from pipeline.stages import extract
from pipeline.engine.context import StageContext
from pipeline.engine.rundir import RESUME_DIR, RunDir
from pipeline.engine.stage import Stage
from pipeline.engine.resume import close_resume_dir, open_resume_dir, resume_key
from pipeline.models.validation import split_train_val

MODEL = {"head_epochs": 1, "finetune_epochs": 2}
FOLDED = {**MODEL, "input_size_px": 64}  # twice the 32 px tiles: the upsampling is in the stem


def run_until(config_path: Path, stage: str = "extract") -> None:
    run_pipeline(load_config(config_path, env={}), PIPELINE, until_stage=stage, quiet=True, progress=False)


@pytest.fixture(scope="module")
def reference(make_tiny_config, tmp_path_factory) -> Path:
    """An uninterrupted run up to extract; returns its run directory."""
    path = make_tiny_config(tmp_path_factory.mktemp("reference"), model=FOLDED)
    run_until(path)
    return path.parent / "run"


def weights_of(run_dir: Path) -> list[np.ndarray]:
    return load_classifier(run_dir / "train" / "model.keras").get_weights()


@pytest.mark.slow
def test_train_writes_history_tensorboard_and_metrics(reference: Path) -> None:
    history = pd.read_csv(reference / "train" / "history.csv")
    assert history.columns[:6].tolist() == ["epoch", "phase", "loss", "accuracy", "val_loss",
                                            "val_accuracy"]
    assert history["epoch"].tolist()[0] == 1 and history["phase"].iloc[0] == "head"
    assert set(history["phase"].iloc[1:]) == {"finetune"}
    metrics = json.loads((reference / "train" / "metrics.json").read_text())
    cm = np.array(metrics["confusion_matrix"])
    assert cm.shape == (3, 3) and cm.sum() == metrics["n_val"]
    np.testing.assert_allclose(metrics["per_class_accuracy"],
                               cm.diagonal() / np.maximum(cm.sum(axis=1), 1))
    assert metrics["epochs"] == len(history)
    for run in ("train", "validation"):
        assert list((reference / "train" / "tensorboard" / run).glob("events.out.tfevents.*"))
    assert not (reference / RESUME_DIR).exists()


@pytest.mark.slow
def test_extract_features_are_the_models_feature_layer(reference: Path) -> None:
    catalog = pd.read_parquet(reference / "ingest" / "tiles.parquet")
    features = np.load(reference / "extract" / "features.npy")
    cache = [np.load(p) for p in sorted((reference / "ingest" / "cache").glob("shard_*.npy"))]
    tiles = np.stack([cache[s][o] for s, o in zip(catalog["shard"], catalog["offset"])])
    model = feature_model(load_classifier(reference / "train" / "model.keras"))
    assert model.inputs[0].shape[1:] == tiles.shape[1:]  # 32 px tiles for a 64 px network
    np.testing.assert_allclose(features, model(tiles.astype(np.float32)).numpy(), rtol=1e-4,
                               atol=1e-5)
    index = pd.read_parquet(reference / "extract" / "index.parquet")
    assert index["tile_id"].tolist() == catalog["tile_id"].tolist()
    assert index["row"].tolist() == list(range(len(catalog)))


class Killed(Exception):
    pass


def kill_extract_in_shard(shard: int, config_path: Path, monkeypatch) -> None:
    """Run up to extract with cache shard ``shard`` killed; the run fails naming it."""
    original_shard = extract.extract_shard

    def die_on_shard(job):
        if job.shard == shard:
            raise Killed(f"killed in shard {shard}")
        return original_shard(job)

    monkeypatch.setattr(extract, "extract_shard", die_on_shard)
    with pytest.raises(PipelineError, match=f"shard {shard}"):
        run_until(config_path)
    monkeypatch.undo()


@pytest.mark.slow
def test_killed_train_and_extract_resume_and_match_an_uninterrupted_run(
        reference, make_tiny_config, tmp_path, monkeypatch) -> None:
    path = make_tiny_config(tmp_path, model=FOLDED)
    run_dir = tmp_path / "run"
    original_save = Checkpoints.save

    def save_then_die(self, model, state, is_best):
        original_save(self, model, state, is_best)
        if state.epoch == 2:
            raise Killed("killed after epoch 2")

    monkeypatch.setattr(Checkpoints, "save", save_then_die)
    with pytest.raises(PipelineError, match="killed after epoch 2"):
        run_until(path)
    assert len(list((run_dir / RESUME_DIR / "train").glob("*/checkpoints/state.json"))) == 1
    monkeypatch.undo()

    kill_extract_in_shard(1, path, monkeypatch)
    assert (run_dir / "train" / "model.keras").exists() and not (run_dir / "extract").exists()
    run_until(path)

    log = (run_dir / "run.log").read_text()
    assert "resuming training after epoch 2 of 3" in log
    assert "resuming extract: 2 of 3 shard(s) already done" in log
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["stages"]["extract"]["shards"] == {"shards": 3, "reused": 2, "ran": 1,
                                                       "retried": 0}
    for a, b in zip(weights_of(run_dir), weights_of(reference), strict=True):
        np.testing.assert_array_equal(a, b)
    pd.testing.assert_frame_equal(pd.read_csv(run_dir / "train" / "history.csv"),
                                  pd.read_csv(reference / "train" / "history.csv"))
    np.testing.assert_array_equal(np.load(run_dir / "extract" / "features.npy"),
                                  np.load(reference / "extract" / "features.npy"))
    assert not (run_dir / RESUME_DIR).exists()


class OwnFilesOnly(LocalExecutor):
    """The local executor, noting the files of its stage folder that each shard changed."""

    def __init__(self) -> None:
        self.changed: dict[tuple[str, int], set[Path]] = {}

    def run(self, tasks):
        for task in tasks:
            stage_dir = task.folder.parents[1]  # .tmp-<stage>/_shards/<map>/
            before = file_digests(stage_dir)
            record = run_shard(task)
            after = file_digests(stage_dir)
            self.changed[stage_dir.name, task.index] = {
                path for path, digest in after.items() if before.get(path) != digest}
            yield record


def file_digests(folder: Path) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


def rerun_extract(reference: Path, make_tiny_config, folder: Path) -> Path:
    """A copy of the reference run directory with extract to run again; returns the config."""
    shutil.copytree(reference, folder / "run")
    shutil.rmtree(folder / "run" / "extract")
    return make_tiny_config(folder, model=FOLDED)


@pytest.mark.slow
def test_each_extract_shard_writes_only_its_own_file(reference, make_tiny_config, tmp_path,
                                                     monkeypatch) -> None:
    path = rerun_extract(reference, make_tiny_config, tmp_path)
    backend = OwnFilesOnly()
    monkeypatch.setattr(runner, "make_executor", lambda config: backend)
    run_until(path)
    changed = {key: files for key, files in backend.changed.items() if key[0] == ".tmp-extract"}
    assert len(changed) == 3
    for (_, index), files in changed.items():  # its result, then its record: nothing shared
        assert {(p.parent.name, p.name) for p in files} == {
            ("00-extract", f"shard_{index:05d}.npy"), ("00-extract", f"shard_{index:05d}.json")}
    np.testing.assert_array_equal(np.load(tmp_path / "run" / "extract" / "features.npy"),
                                  np.load(reference / "extract" / "features.npy"))


@pytest.mark.slow
def test_a_truncated_shard_file_is_run_again_not_trusted(reference, make_tiny_config, tmp_path,
                                                         monkeypatch) -> None:
    path = rerun_extract(reference, make_tiny_config, tmp_path)
    kill_extract_in_shard(2, path, monkeypatch)
    shard_file = tmp_path / "run" / ".tmp-extract" / "_shards" / "00-extract" / "shard_00000.npy"
    assert (shard_file.parent / "shard_00000.json").exists()
    shard_file.write_bytes(shard_file.read_bytes()[:-300])  # cut short after its record
    run_until(path)
    log = (tmp_path / "run" / "run.log").read_text()
    assert "shard_00000.npy: cannot read this shard result" in log
    assert "resuming extract: 1 of 3 shard(s) already done" in log
    np.testing.assert_array_equal(np.load(tmp_path / "run" / "extract" / "features.npy"),
                                  np.load(reference / "extract" / "features.npy"))
    assert not (tmp_path / "run" / ".tmp-extract").exists()


def fake_imagenet_weights(path: Path) -> Path:
    """A seeded random MobileNet 0.25 weights file standing in for the ImageNet one."""
    backbone = get_backbone("mobilenet_0.25").factory((32, 32, 3), None, None)
    rng = np.random.default_rng(11)
    for var in backbone.weights:
        shape = tuple(var.shape)
        value = rng.uniform(0.5, 1.5, shape) if "variance" in var.path else rng.normal(0, 0.1, shape)
        var.assign(value.astype("float32"))
    backbone.save_weights(path)
    return path


@pytest.mark.slow
def test_frozen_mode_gives_untrained_backbone_features(make_tiny_config, tmp_path) -> None:
    weights = fake_imagenet_weights(tmp_path / "fake.weights.h5")
    path = make_tiny_config(tmp_path, model={**MODEL, "weights": str(weights)},
                            features={"mode": "frozen"})
    run_until(path)
    run_dir = tmp_path / "run"
    frozen = np.load(run_dir / "extract" / "features.npy")
    tiles = np.load(run_dir / "ingest" / "cache" / "shard_00000.npy")[:5]
    backbone = feature_model(build_classifier("mobilenet_0.25", 32, 3, 2, weights))
    np.testing.assert_allclose(frozen[:5], backbone(tiles.astype(np.float32)).numpy(),
                               rtol=1e-4, atol=1e-5)
    path.write_text(path.read_text().replace("mode: frozen", "mode: finetuned"))
    run_until(path)
    manifest = json.loads((run_dir / "manifest.json").read_text())["stages"]
    assert manifest["train"]["status"] == "skipped" and manifest["extract"]["status"] == "done"
    assert not np.allclose(np.load(run_dir / "extract" / "features.npy")[:5], frozen[:5])


def test_features_mode_is_validated(tmp_path) -> None:
    data = {"name": "t", "run_dir": "r", "features": {"mode": "imagenet"},
            "data": {"tiles": {"path": "t"}, "nightlights": {"path": "n"},
                     "survey": {"path": "s", "outcomes": ["y"]}},
            "regression": {"targets": [{"column": "y"}]}}
    with pytest.raises(ConfigError, match="features.mode"):
        parse_config(data, base_dir=tmp_path)


def test_resume_dir_is_keyed_by_config_and_inputs(make_tiny_config, tmp_path) -> None:
    config = load_config(make_tiny_config(tmp_path), env={})
    stage = Stage(name="train", version=1, inputs=(), outputs=(), config=("model",),
                  run=lambda ctx: {})
    source = tmp_path / "input.bin"
    source.write_bytes(b"a")
    run = RunDir(tmp_path / "run")
    ctx = StageContext.open(stage, config, run, tmp_path / "out", _Log(), None)
    first = open_resume_dir(ctx, [source])
    (first / "state.json").write_text("{}")
    assert open_resume_dir(ctx, [source]) == first and (first / "state.json").exists()
    assert first.parent == run.resume_dir("train")
    other = config.model_copy(update={"model": config.model.model_copy(update={"dropout": 0.5})})
    changed = StageContext.open(stage, other, run, ctx.out, _Log(), None)
    assert resume_key(changed, [source]) != resume_key(ctx, [source])
    unread = StageContext.open(stage, config.model_copy(update={"seed": 9}), run, ctx.out,
                               _Log(), None)
    assert resume_key(unread, [source]) == resume_key(ctx, [source])  # seed is not declared
    source.write_bytes(b"ab")
    second = open_resume_dir(ctx, [source])
    assert second != first and not first.exists()
    close_resume_dir(second)
    assert not (tmp_path / "run" / RESUME_DIR).exists()


class _Log:
    def info(self, *args, **kwargs) -> None:
        pass


@pytest.mark.slow
def test_radiance_objective_regresses_standardised_log_radiance(make_tiny_config,
                                                                tmp_path) -> None:
    from sklearn.metrics import r2_score

    from pipeline.models.datasets import TileCache, tile_dataset

    path = make_tiny_config(tmp_path, model={**MODEL, "objective": "radiance"})
    run_until(path, "train")
    run_dir, config = tmp_path / "run", load_config(path, env={})
    model = load_classifier(run_dir / "train" / "model.keras")
    assert model.layers[-1].name == "nightlight_radiance" and model.output_shape == (None, 1)
    assert "val_mean_absolute_error" in pd.read_csv(run_dir / "train" / "history.csv")
    metrics = json.loads((run_dir / "train" / "metrics.json").read_text())
    assert metrics["objective"] == "radiance" and "confusion_matrix" not in metrics
    catalog = pd.read_parquet(run_dir / "ingest" / "tiles.parquet")
    labels = pd.read_parquet(run_dir / "label" / "labels.parquet")
    keep = (labels["label"] >= 0) & labels["train_ok"]
    table = catalog[keep.to_numpy()].reset_index(drop=True)
    target = np.log1p(np.clip(labels["label_radiance"][keep].to_numpy(), 0, None))
    train_rows, val_rows = split_train_val(table["lon"].to_numpy(), table["lat"].to_numpy(),
                                           config.model.validation_block_km,
                                           config.model.validation_share, config.seed)
    scaling = metrics["target_scaling"]
    assert scaling["log1p_radiance_mean"] == pytest.approx(target[train_rows].mean())
    assert scaling["log1p_radiance_sd"] == pytest.approx(target[train_rows].std())
    y_val = (target[val_rows] - scaling["log1p_radiance_mean"]) / scaling["log1p_radiance_sd"]
    rows = table.iloc[val_rows]
    val = tile_dataset(TileCache(run_dir / "ingest" / "cache"), rows["shard"].to_numpy(),
                       rows["offset"].to_numpy(), None, 16, config.model.input_size_px)
    pred = model.predict(val, verbose=0).ravel()
    assert metrics["val_r2"] == pytest.approx(r2_score(y_val, pred), abs=1e-5)
