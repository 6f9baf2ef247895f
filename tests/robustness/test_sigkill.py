"""SIGKILL inside every stage, then rerun: finished stages are skipped and the killed ones give
the outputs of an uninterrupted run.

One uninterrupted reference run gives each stage's duration; then one run directory is killed
once inside each stage in turn (the kill point a seeded random fraction of that duration after
the stage shows ``running`` in the manifest), each rerun resuming the stage killed before.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from robust_cli import ENV, cli

from pipeline.stages import stage_names

pytestmark = pytest.mark.slow  # a run killed inside every stage

STAGES = stage_names()


def manifest(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "manifest.json").read_text())["stages"]
    except (OSError, ValueError, KeyError):
        return {}


def kill_inside(config: Path, run_dir: Path, stage: str, delay_s: float, *args: str) -> bool:
    """Start a run, SIGKILL it ``delay_s`` after ``stage`` starts; True if it died inside it.

    "Starts" means this run marked it running: a stage an earlier kill left ``running`` (with
    its ``.tmp-`` folder) has an older ``started`` time and does not count.
    """
    before = manifest(run_dir).get(stage, {}).get("started")
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "run", str(config), "--quiet",
                             *args], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        end = time.time() + 240
        while not ((entry := manifest(run_dir).get(stage, {})).get("status") == "running"
                   and entry.get("started") != before
                   and (run_dir / f".tmp-{stage}").exists()):
            if proc.poll() is not None:  # the stage came and went between two looks
                assert proc.returncode == 0, f"the run failed (exit {proc.returncode})"
                return False
            assert time.time() < end, f"{stage} never started"
            time.sleep(0.005)
        time.sleep(delay_s)
    finally:
        proc.kill()  # SIGKILL on POSIX, TerminateProcess on Windows
        proc.wait()
    return manifest(run_dir)[stage]["status"] == "running"


# TensorFlow inference on several threads is not bitwise reproducible: float outputs of the
# stages that run a network are compared within 1e-6, every other file byte for byte.
NETWORK_FILES = ("baselines/imagenet_features.npy", "aggregate/imagenet_features.npy")
HEX_ID = re.compile(rb"_[0-9a-f]{32}")  # folium's random element ids in map.html


def same(ref: Path, run: Path, rel: str) -> bool:
    a, b = ref / rel, run / rel
    if rel in NETWORK_FILES:
        return np.allclose(np.load(a), np.load(b), rtol=1e-6, atol=1e-6)
    if rel.endswith(".gpkg"):  # carries its write time
        return gpd.read_file(a).equals(gpd.read_file(b))
    if rel.endswith(".keras"):  # a zip with a save date and layer names: compare the weights
        import keras

        wa, wb = (keras.saving.load_model(p, safe_mode=True, compile=False).get_weights()
                  for p in (a, b))
        return len(wa) == len(wb) and all(np.allclose(x, y, rtol=1e-5, atol=1e-6)
                                          for x, y in zip(wa, wb))
    if rel.endswith("map.html"):
        return HEX_ID.sub(b"", a.read_bytes()) == HEX_ID.sub(b"", b.read_bytes())
    return a.read_bytes() == b.read_bytes()


def files(run: Path, stage: str) -> list[str]:
    """A stage's files; TensorBoard event files (named by time and pid) as their folder only;
    report.html left out (it names the run folder, the time and the latest run's statuses)."""
    out = {p.relative_to(run).as_posix() for p in (run / stage).rglob("*") if p.is_file()}
    out = {str(Path(f).parent) if "tfevents" in f else f for f in out}
    return sorted(out - {"export/report.html"})


def differences(ref: Path, run: Path) -> list[str]:
    """Files of the stage folders that differ between two run directories."""
    out = []
    for stage in STAGES:
        if files(ref, stage) != files(run, stage):
            out.append(f"{stage}: file lists differ")
            continue
        out += [rel for rel in files(ref, stage) if "tensorboard" not in rel
                and not same(ref, run, rel)]
    return out


def test_sigkill_inside_every_stage_then_resume(finished_run, make_tiny_config, tmp_path):
    seconds = {name: entry["seconds"] for name, entry in manifest(finished_run).items()}
    (tmp_path / "killed").mkdir()
    config = make_tiny_config(tmp_path / "killed",  # the finished_run fixture's config
                              export={"units": {"consumption_pc_day": "USD/day"}})
    run_dir = tmp_path / "killed" / "run"
    rng = random.Random(8)
    for index, stage in enumerate(STAGES):
        delay = rng.uniform(0.0, 0.5) * seconds[stage]
        inside = kill_inside(config, run_dir, stage, delay)
        for _ in range(3):  # finished before the kill landed: run it again, kill at once
            if inside:
                break
            inside = kill_inside(config, run_dir, stage, 0.0, "--from", stage)
        assert inside, f"could not kill inside {stage}"
        state = manifest(run_dir)
        assert all(state[s]["status"] in ("done", "skipped") for s in STAGES[:index]), state
        assert not (run_dir / stage).exists() or state[stage]["status"] == "running"
    final = cli("run", config, "--quiet")
    assert final.returncode == 0, final.stderr
    state = manifest(run_dir)
    assert [state[s]["status"] for s in STAGES] == ["skipped"] * (len(STAGES) - 1) + ["done"]
    assert not list(run_dir.glob(".tmp-*"))
    assert differences(finished_run, run_dir) == []
    status = cli("status", run_dir)  # what a person sees after the resume
    assert status.returncode == 0 and status.stdout.count("skipped") == len(STAGES) - 1
