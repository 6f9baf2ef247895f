"""``poverty-pipeline predict-features``: a fit-features model applied to another table."""

import json

import numpy as np
import pandas as pd
import pytest

from pipeline.cli.main import main
from pipeline.evaluation.ridge import RidgeModel

FEATURES = [f"f_{k}" for k in range(8)]


def _table(seed: int, n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    wealth = rng.normal(size=n)
    frame = pd.DataFrame({"id": [f"p{seed}_{i}" for i in range(n)],
                          "lon": rng.uniform(33, 34, n), "lat": rng.uniform(-14, -13, n)})
    for k, name in enumerate(FEATURES):
        frame[name] = wealth * (k % 3 + 1) + rng.normal(scale=0.5 + 0.1 * k, size=n)
    frame["consumption"] = np.exp(0.4 * wealth + 1 + rng.normal(scale=0.2, size=n))
    frame["assets"] = wealth + rng.normal(scale=0.3, size=n)
    return frame


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A model folder with two targets (consumption logged, assets not) and its training table."""
    root = tmp_path_factory.mktemp("apply")
    frame = _table(0)
    table = root / "train.csv"
    frame.to_csv(table, index=False)
    models = {}
    for target, extra in (("consumption", ["--log-target"]), ("assets", [])):
        out = root / target
        assert main(["fit-features", str(table), "--target", target, *extra, "--features", "f_*",
                     "--lat", "lat", "--lon", "lon", "--id", "id", "--block-km", "20",
                     "--bootstrap", "0", "--out", str(out)]) == 0
        models.update(json.loads((out / "model.json").read_text()))
    (root / "both").mkdir()
    (root / "both" / "model.json").write_text(json.dumps(models))
    return root / "both", table, frame, models


@pytest.mark.slow
def test_predictions_on_the_training_table_equal_the_saved_model(fitted, tmp_path, capsys):
    model_dir, table, frame, models = fitted
    out = tmp_path / "pred.csv"
    assert main(["predict-features", str(model_dir), str(table), "--id", "id",
                 "--out", str(out)]) == 0
    pred = pd.read_csv(out)
    assert pred["id"].tolist() == frame["id"].tolist()
    x = frame[FEATURES].to_numpy(dtype=np.float64)
    for target, back in (("consumption", np.exp), ("assets", lambda v: v)):
        expected = back(RidgeModel.from_dict(models[target]).predict(x))
        np.testing.assert_allclose(pred[f"pred_{target}"], expected, rtol=1e-9, atol=1e-9)
        assert not pred[f"ood_{target}"].all()
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["rows"] == 120 and summary["filled_rows"] == 0


@pytest.mark.slow
def test_interval_is_cv_plus_from_the_saved_fold_models(fitted, tmp_path):
    model_dir, table, frame, models = fitted
    out = tmp_path / "pred.parquet"
    assert main(["predict-features", str(model_dir), str(table), "--out", str(out)]) == 0
    pred = pd.read_parquet(out)
    x = frame[FEATURES].to_numpy(dtype=np.float64)
    for target, back in (("consumption", np.exp), ("assets", lambda v: v)):
        interval = models[target]["interval"]
        assert interval["method"] == "cv_plus" and len(interval["fold_models"]) >= 2
        # CV+ by hand: k-th smallest of mu_k(i)(x) + |R_i|, k-th largest of mu_k(i)(x) - |R_i|
        mu = np.stack([RidgeModel.from_dict(m).predict(x) for m in interval["fold_models"]])
        r = np.abs(np.asarray(interval["residuals"]))
        centre = mu[np.asarray(interval["fold"])]
        k = int(np.ceil(interval["coverage"] * (len(r) + 1)))
        upper = np.sort(centre + r[:, None], axis=0)[k - 1]
        lower = -np.sort(-(centre - r[:, None]), axis=0)[k - 1]
        np.testing.assert_allclose(pred[f"upper_{target}"], back(upper), rtol=1e-9)
        np.testing.assert_allclose(pred[f"lower_{target}"], back(lower), rtol=1e-9)
        assert (pred[f"lower_{target}"] < pred[f"upper_{target}"]).all()
        inside = (pred[f"lower_{target}"] <= pred[f"pred_{target}"]) & (
            pred[f"pred_{target}"] <= pred[f"upper_{target}"])
        assert inside.mean() > 0.95  # CV+ need not be centred on the full model, but nearly is


@pytest.mark.slow
def test_far_rows_are_out_of_distribution_and_ordinary_rows_are_not(fitted, tmp_path):
    model_dir = fitted[0]
    new = _table(1, n=3)  # rows 1 and 2: new places drawn like the training ones
    new.loc[0, FEATURES] = [1e6 * (-1) ** k for k in range(len(FEATURES))]  # against the pattern
    new.loc[2, "f_3"] = np.nan
    path = tmp_path / "new.parquet"
    new.to_parquet(path)
    out = tmp_path / "pred.csv"
    assert main(["predict-features", str(model_dir), str(path), "--target", "assets",
                 "--out", str(out)]) == 0
    pred = pd.read_csv(out)
    assert list(pred.columns) == ["pred_assets", "lower_assets", "upper_assets", "ood_assets"]
    assert pred["ood_assets"].tolist()[:2] == [True, False]
    assert np.isfinite(pred["pred_assets"]).all()  # the missing f_3 was filled, not dropped


@pytest.mark.slow
def test_missing_values_are_filled_and_counted(fitted, tmp_path, capsys):
    model_dir, _, frame, models = fitted
    holes = frame.copy()
    holes.loc[[4, 7], "f_2"] = np.nan
    holes.loc[7, "f_5"] = np.nan
    path = tmp_path / "holes.csv"
    holes.to_csv(path, index=False)
    assert main(["predict-features", str(model_dir), str(path), "--out",
                 str(tmp_path / "p.csv")]) == 0
    printed = capsys.readouterr().out
    assert json.loads(printed.strip().splitlines()[-1])["filled_rows"] == 2
    assert "2 row(s) had missing feature values" in printed
    pred = pd.read_csv(tmp_path / "p.csv")
    x = frame[FEATURES].to_numpy(dtype=np.float64)
    model = models["assets"]
    fill = dict(zip(model["keep"], model["fill"]))
    x[4, 2] = fill[2]
    np.testing.assert_allclose(pred["pred_assets"][4], RidgeModel.from_dict(model).predict(x)[4],
                               rtol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("change, message", [
    (lambda f: f.drop(columns=["f_3"]), "missing feature column(s) f_3"),
    (lambda f: f.assign(f_6=["1,5"] + list(f["f_6"][1:])),
     "'f_6' is not numeric (data row 1: '1,5')"),
])
def test_unusable_tables_exit_2_with_one_line(fitted, tmp_path, capsys, change, message):
    model_dir, _, frame, _ = fitted
    path = tmp_path / "bad.csv"
    change(frame).to_csv(path, index=False)
    code = main(["predict-features", str(model_dir), str(path), "--out", str(tmp_path / "p.csv")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and str(path) in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (["--target", "income"], "no model for --target 'income'"),
    (["--id", "cluster"], "no column 'cluster' (--id)"),
    (["--out", "pred.xlsx"], "unsupported output format"),
])
def test_bad_arguments_exit_2(fitted, tmp_path, capsys, args, message):
    model_dir, table, _, _ = fitted
    code = main(["predict-features", str(model_dir), str(table), "--out",
                 str(tmp_path / "p.csv"), *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_a_folder_without_a_model_exits_2(fitted, tmp_path, capsys):
    _, table, _, _ = fitted
    code = main(["predict-features", str(tmp_path), str(table), "--out", str(tmp_path / "p.csv")])
    assert code == 2 and "run `poverty-pipeline fit-features" in capsys.readouterr().err


def test_a_model_too_small_to_cross_validate_says_it_has_no_interval(tmp_path, capsys):
    table = tmp_path / "small.csv"
    _table(3, n=12).to_csv(table, index=False)  # enough to fit, too few to score any scheme
    out = tmp_path / "small"
    assert main(["fit-features", str(table), "--target", "assets", "--features", "f_*",
                 "--bootstrap", "0", "--out", str(out)]) == 0
    assert "no CV scheme could be scored (12 rows)" in capsys.readouterr().out
    pred = tmp_path / "pred.csv"
    assert main(["predict-features", str(out), str(table), "--out", str(pred)]) == 0
    printed = capsys.readouterr().out
    assert "the assets model has no prediction interval" in printed
    frame = pd.read_csv(pred)
    assert frame["lower_assets"].isna().all() and frame["pred_assets"].notna().all()
