"""Command line for ``fit-features`` (fit and cross-validate a cluster feature table a user
brings) and ``predict-features`` (apply the saved model to another table).

Kept apart from :mod:`pipeline.cli.main` (which wires it in); the work is in
:mod:`pipeline.evaluation.table` and :mod:`pipeline.evaluation.apply`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The ``fit-features`` and ``predict-features`` commands."""
    fit = sub.add_parser("fit-features", help="ridge with nested, spatial CV on a feature table "
                                              "(CSV/Parquet) you bring; no image stages")
    fit.add_argument("table", type=Path, metavar="TABLE")
    fit.add_argument("--target", required=True, metavar="COL", help="the outcome column")
    fit.add_argument("--log-target", action="store_true", help="fit log(outcome); rows <= 0 are "
                                                               "excluded and counted")
    fit.add_argument("--features", action="append", required=True, metavar="SPEC",
                     help="feature columns: a glob such as 'mosaiks_*', or COL,COL; repeatable")
    fit.add_argument("--id", metavar="COL", help="cluster id column (default: row number)")
    fit.add_argument("--lat", metavar="COL", help="latitude column (WGS84); with --lon enables "
                                                  "spatial CV")
    fit.add_argument("--lon", metavar="COL", help="longitude column (WGS84)")
    fit.add_argument("--country", metavar="COL", help="country column: leave-one-country-out CV "
                                                      "and the country-mean baseline")
    fit.add_argument("--weight", metavar="COL", help="cluster weight column (survey weights): "
                     "used in the ridge fit and every metric; rows without a positive weight "
                     "are excluded and counted")
    fit.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    fit.add_argument("--folds", type=int, default=5, help="outer CV folds (default 5)")
    fit.add_argument("--block-km", type=float, default=10.0,
                     help="spatial CV block side in km (default 10)")
    fit.add_argument("--buffer-km", type=float, default=0.0,
                     help="drop training clusters within this distance of a test cluster")
    fit.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the "
                                                                 "r² intervals (default 1000)")
    fit.add_argument("--seed", type=int, default=0)
    apply = sub.add_parser("predict-features", help="apply a fit-features model to another "
                                                    "feature table (CSV/Parquet)")
    apply.add_argument("model_dir", type=Path, metavar="MODEL_DIR",
                       help="the fit-features --out folder (its model.json)")
    apply.add_argument("table", type=Path, metavar="TABLE")
    apply.add_argument("--out", type=Path, required=True, metavar="FILE",
                       help="predictions, .csv or .parquet")
    apply.add_argument("--id", metavar="COL", help="id column copied into the output")
    apply.add_argument("--target", metavar="NAME", help="only this target (default: all)")


_FLAGS = {"folds": "--folds", "spatial_block_km": "--block-km", "buffer_km": "--buffer-km",
          "bootstrap": "--bootstrap"}  # RegressionConfig field -> the fit-features option


def regression_settings(target: str, log_target: bool, folds: int, block_km: float,
                        buffer_km: float, bootstrap: int):
    """The settings ``fit-features`` uses: the regression section's defaults, plus the options
    (checked as the config checks them)."""
    from pydantic import ValidationError

    from pipeline.config.schema import RegressionConfig, TargetConfig
    from pipeline.errors import ConfigError
    from pipeline.evaluation.settings import CvSettings

    try:
        cfg = RegressionConfig(targets=(TargetConfig(column=target, log=log_target),),
                               folds=folds, spatial_block_km=block_km, buffer_km=buffer_km,
                               bootstrap=bootstrap, baselines=("region_mean",))
    except ValidationError as exc:
        problems = "; ".join(f"{_FLAGS.get(str(e['loc'][0]), '.'.join(map(str, e['loc'])))}: "
                             f"{e['msg']}; got {e['input']!r}" for e in exc.errors())
        raise ConfigError(f"fit-features: {problems}.") from None
    return CvSettings.of(cfg)


def interval_lines(interval: dict) -> list[str]:
    """One line per interval method: nominal vs measured coverage on held-out blocks, width."""
    lines = []
    for method, entry in (interval.get("methods") or {}).items():
        if entry.get("held_out_coverage") is None:
            continue
        lines.append(f"interval {method:<15} nominal {entry['nominal']:.2f}  held-out blocks "
                     f"{entry['held_out_coverage']:.3f}  mean width {entry['mean_width']}")
    return lines


def cmd_fit_features(args: argparse.Namespace) -> int:
    from pipeline.evaluation.table import TableSpec, fit_feature_table
    from pipeline.outputs.evaluation_figures import write_plots

    if (args.lat is None) != (args.lon is None):
        from pipeline.errors import ConfigError

        raise ConfigError("fit-features: give both --lat and --lon, or neither.")
    cfg = regression_settings(args.target, args.log_target, args.folds, args.block_km,
                              args.buffer_km, args.bootstrap)
    spec = TableSpec(target=args.target, features=tuple(args.features),
                     log_target=args.log_target, id=args.id, lat=args.lat, lon=args.lon,
                     country=args.country, weight=args.weight)
    entry, result, y = fit_feature_table(args.table, spec, args.out, cfg, args.seed)
    label = f"log {args.target}" if args.log_target else args.target
    write_plots(args.out, args.target, label, entry["schemes"], result.predictions, None, y)
    for scheme, subsets in entry["schemes"].items():
        result = subsets.get("all", {})
        if "model" in result:
            print(f"{scheme:<8} n={result['n']:<5} r2 {result['model']['r2']:.3f} "
                  f"(95% CI {result['model']['r2_ci'][0]:.3f}..{result['model']['r2_ci'][1]:.3f})"
                  if result["model"].get("r2_ci") else
                  f"{scheme:<8} n={result['n']:<5} r2 {result['model']['r2']:.3f}")
        else:
            print(f"{scheme:<8} skipped: {subsets.get('skipped', 'too few clusters')}")
    for line in interval_lines(entry.get("interval") or {}):
        print(line)
    if not any("model" in subsets.get("all", {}) for subsets in entry["schemes"].values()):
        print(f"no CV scheme could be scored ({entry['n']} rows): {args.out / 'model.json'} is "
              "fitted on every row but has no cross-validated r² and no prediction interval.")
    print(json.dumps({"out": str(args.out), "features": entry["features"], "n": entry["n"]}))
    return 0


def cmd_predict_features(args: argparse.Namespace) -> int:
    from pipeline.evaluation.apply import predict_feature_table, write_predictions

    applied = predict_feature_table(args.model_dir, args.table, args.id, args.target)
    write_predictions(applied.frame, args.out)
    if applied.filled_rows:
        print(f"{args.table}: {applied.filled_rows} row(s) had missing feature values, filled "
              "with the training medians.")
    for name in applied.no_interval:
        print(f"{args.model_dir / 'model.json'}: the {name} model has no prediction interval (no "
              f"CV scheme could run when it was fitted); lower_{name}/upper_{name} are empty.")
    print(json.dumps({"out": str(args.out), "rows": len(applied.frame),
                      "filled_rows": applied.filled_rows, "ood_rows": applied.ood_rows}))
    return 0


COMMANDS = {"fit-features": cmd_fit_features, "predict-features": cmd_predict_features}
