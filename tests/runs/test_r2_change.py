"""The r² table of a run and its change from another run (`runs table --vs`), cell by cell."""

from __future__ import annotations

import json

from pipeline.cli.main import main
from pipeline.runs.summary import change_lines


def metrics(model: float, nl: float, skipped: bool = False) -> dict:
    cell = {"n": 100, "model": {"r2": model}, "nightlights": {"r2": nl}}
    random = {"skipped": "too few clusters"} if skipped else {"all": cell, "below_p50": cell}
    return {"targets": {"y": {"log": True, "schemes": {"random": random,
                                                        "spatial": {"all": cell}}}}}


def test_change_lines_give_every_cell_and_the_largest_change():
    lines = change_lines(metrics(0.62, 0.40), metrics(0.60, 0.43))
    assert lines[0].split() == ["log", "y", "random", "all", "max", "|Δr²|", "0.0300", "(NL)",
                                "model", "+0.0200", "NL", "-0.0300"]
    assert len(lines) == 4  # random all, random below_p50, spatial all, the largest
    assert lines[-1].strip() == "largest |Δr²| over the table: 0.0300 (log y random all NL)"
    assert change_lines(metrics(0.6, 0.4), metrics(0.6, 0.4, skipped=True))[-1].endswith(
        "0.0000 (log y spatial all model)")


def test_runs_table_prints_the_table_and_the_change(tmp_path, capsys):
    for name, (model, nl) in {"a": (0.61, 0.4), "b": (0.6, 0.4)}.items():
        (tmp_path / name / "fit").mkdir(parents=True)
        (tmp_path / name / "fit" / "metrics.json").write_text(json.dumps(metrics(model, nl)))
    assert main(["runs", "table", str(tmp_path / "a"), "--vs", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "r2 model  0.610" in out and "largest |Δr²| over the table: 0.0100" in out
    assert main(["runs", "table", str(tmp_path / "a"), "--vs", str(tmp_path / "none")]) == 0
    assert "change of r²" not in capsys.readouterr().out  # no such run: the table only
