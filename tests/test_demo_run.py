"""The demo config end to end, from real ImageNet weights, at the demo seed.

Jean et al.'s claim on the demo world: image features beat nightlights for log consumption
on the same folds. This is the run `make demo` does (into a temporary folder).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pipeline.config.schema import load_config
from pipeline.demo import WorldSpec, generate_world
from pipeline.engine.runner import run_pipeline
from pipeline.stages import PIPELINE

pytestmark = pytest.mark.slow  # the demo world through the whole pipeline

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo_metrics(weights_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    generate_world(folder / "data" / "demo", WorldSpec(), progress=False)
    (folder / "configs").mkdir()
    config_path = folder / "configs" / "demo.yaml"
    config_path.write_text((REPO / "configs" / "demo.yaml").read_text())
    config = load_config(config_path, env={"POVERTY_PIPELINE_WEIGHTS_DIR": str(weights_dir)})
    run_pipeline(config, PIPELINE, quiet=True, progress=False)
    train = json.loads((config.run_dir / "train" / "metrics.json").read_text())
    assert train["weights"].endswith("mobilenet_2_5_224_tf_no_top.h5")
    return json.loads((config.run_dir / "fit" / "metrics.json").read_text())


@pytest.mark.parametrize("scheme", ["random", "spatial"])
def test_model_beats_nightlights_on_log_consumption(demo_metrics, scheme):
    result = demo_metrics["targets"]["consumption_pc_day"]["schemes"][scheme]["all"]
    assert result["n"] == 400
    assert result["model"]["r2"] > result["nightlights"]["r2"]
    assert result["model"]["r2"] > 0.4


def test_model_beats_nightlights_most_among_the_poor(demo_metrics):
    schemes = demo_metrics["targets"]["consumption_pc_day"]["schemes"]["random"]
    gain_all = schemes["all"]["model"]["r2"] - schemes["all"]["nightlights"]["r2"]
    gain_poor = schemes["below_p50"]["model"]["r2"] - schemes["below_p50"]["nightlights"]["r2"]
    assert gain_poor > gain_all > 0


def test_gain_over_nightlights_is_clear_of_zero_under_spatial_cv(demo_metrics):
    schemes = demo_metrics["targets"]["consumption_pc_day"]["schemes"]["spatial"]
    for subset in ("all", "below_p50"):
        low, high = schemes[subset]["model_vs"]["nightlights"]["r2_gain_ci"]
        assert 0 < low < high, subset
