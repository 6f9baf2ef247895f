"""The scheduling examples in docs/examples, and the commands the README and docs/*.md show,
call the CLI as it really is."""

from __future__ import annotations

import re
import runpy
import shlex
import sys
import types
from pathlib import Path

import yaml

from pipeline.cli.main import _parser
from pipeline.errors import ConfigError, DataVerificationError, LockError
from pipeline.stages import stage_names

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
NO_RETRY_CODES = sorted({ConfigError.exit_code, DataVerificationError.exit_code, LockError.exit_code})


def parse_cli(line: str):
    words = shlex.split(line)
    assert Path(words[0]).name == "poverty-pipeline", line
    return _parser().parse_args(words[1:])


def test_crontab_line():
    line, yearly = [l for l in (EXAMPLES / "crontab").read_text().splitlines()
                    if l.strip() and not l.startswith("#")]
    fields = line.split(None, 5)
    assert fields[:5] == ["0", "2", "*", "*", "1"]
    command = re.search(r"(\S*poverty-pipeline run [^>|&]*)", fields[5]).group(1)
    args = parse_cli(command)
    assert args.command == "run" and args.config == Path("configs/malawi.yaml") and args.quiet
    fields = yearly.split(None, 5)
    assert fields[:5] == ["0", "3", "1", "2", "*"]
    assert [a.command for a in yearly_commands(fields[5].replace("$((Y - 1))", "2024")
                                               .replace("$Y", "2025"))] == ["predict", "change"]


def yearly_commands(text: str) -> list:
    """The poverty-pipeline calls of a shell line, parsed by the real CLI."""
    calls = re.findall(r"(\S*poverty-pipeline (?:predict|change) [^>|&]*)", text)
    return [parse_cli(" ".join(call.split())) for call in calls]


def test_yearly_examples_predict_with_a_bundle_then_change(monkeypatch):
    job = yaml.safe_load((EXAMPLES / "cronjob_yearly.yaml").read_text())
    (container,) = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    script = container["args"][0].replace("$((Y - 1))", "2024").replace("$Y", "2025")
    predict, change = yearly_commands(script)
    assert predict.bundle == Path("/work/data/bundles/malawi-2024")
    assert predict.tiles == Path("/work/data/imagery/2025")
    assert (change.run_a, change.run_b) == (Path("/work/runs/malawi-map-2024"),
                                           Path("/work/runs/malawi-map-2025"))
    rule, = job["spec"]["jobTemplate"]["spec"]["podFailurePolicy"]["rules"]
    assert rule["onExitCodes"]["values"] == NO_RETRY_CODES
    fake_airflow(monkeypatch)
    runpy.run_path(str(EXAMPLES / "airflow_yearly_dag.py"))
    assert [t.task_id for t in TASKS] == ["predict", "change"]
    assert TASKS[1].upstream == ["predict"]
    rendered = [t.bash_command.replace("{{ data_interval_end.year - 1 }}", "2024")
                .replace("{{ data_interval_end.year }}", "2025")
                .replace("{{ var.value.poverty_dask_scheduler }}", "tcp://sched:8786")
                for t in TASKS]
    predict, change = (parse_cli(line) for line in rendered)
    assert predict.command == "predict" and predict.executor == "dask"
    assert change.command == "change" and change.out == Path("/srv/poverty/runs/malawi-change-2025")


def test_kubernetes_cronjob():
    job = yaml.safe_load((EXAMPLES / "cronjob.yaml").read_text())
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "CronJob")
    assert job["spec"]["concurrencyPolicy"] == "Forbid"
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["hostname"]
    (container,) = pod["containers"]
    args = _parser().parse_args(container["args"])
    assert args.command == "run" and args.config == Path("configs/malawi.yaml")
    (rule,) = job["spec"]["jobTemplate"]["spec"]["podFailurePolicy"]["rules"]
    assert rule["onExitCodes"]["values"] == NO_RETRY_CODES
    assert rule["onExitCodes"]["containerName"] == container["name"]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert mounts == {"/work/configs", "/work/data", "/work/runs"}
    dockerfile = EXAMPLES.parents[1] / "Dockerfile"
    if dockerfile.exists():  # the image's user and working directory
        text = dockerfile.read_text()
        assert f"USER {pod['securityContext']['runAsUser']}:" in text and "WORKDIR /work" in text


class FakeTask:
    def __init__(self, task_id: str, bash_command: str, queue: str = "default") -> None:
        self.task_id, self.bash_command, self.queue = task_id, bash_command, queue
        self.upstream: list[str] = []
        TASKS.append(self)

    def __rshift__(self, other: FakeTask) -> FakeTask:
        other.upstream.append(self.task_id)
        return other


class FakeDag:
    def __init__(self, **kwargs) -> None:
        self.kwargs = kwargs

    def __enter__(self) -> FakeDag:
        return self

    def __exit__(self, *exc) -> None:
        return None


TASKS: list[FakeTask] = []


def fake_airflow(monkeypatch) -> None:
    """Airflow's DAG and BashOperator replaced by fakes that record the tasks in TASKS."""
    airflow = types.ModuleType("airflow")
    airflow.DAG = FakeDag
    bash = types.ModuleType("airflow.operators.bash")
    bash.BashOperator = FakeTask
    monkeypatch.setitem(sys.modules, "airflow", airflow)
    monkeypatch.setitem(sys.modules, "airflow.operators", types.ModuleType("airflow.operators"))
    monkeypatch.setitem(sys.modules, "airflow.operators.bash", bash)
    TASKS.clear()


def test_airflow_dag_calls_the_cli_once_per_stage(monkeypatch):
    fake_airflow(monkeypatch)
    runpy.run_path(str(EXAMPLES / "airflow_dag.py"))
    assert [t.task_id for t in TASKS] == stage_names()
    assert [t.upstream for t in TASKS] == [[]] + [[s] for s in stage_names()[:-1]]
    for task in TASKS:
        rendered = (task.bash_command.replace("{{ ts_nodash }}", "20250106T020000")
                    .replace("{{ var.value.poverty_dask_scheduler }}", "tcp://sched:8786"))
        args = parse_cli(rendered)
        assert args.until_stage == task.task_id and args.run_id == "malawi-20250106T020000"
        assert (args.executor == "dask") is (task.task_id in {"ingest", "label", "extract",
                                                              "predict"})
    assert [t.task_id for t in TASKS if t.queue == "gpu"] == ["train"]


def shell_commands(text: str) -> list[str]:
    """The indented shell lines of a Markdown page, with backslash continuations joined."""
    block = re.findall(r"^ {4}(\s*\S.*)$", text, flags=re.M)
    joined: list[str] = []
    for line in block:
        if joined and joined[-1].endswith("\\"):
            joined[-1] = joined[-1][:-1] + " " + line.strip()
        else:
            joined.append(line.strip())
    return joined


def test_commands_shown_in_the_docs_parse_with_the_real_cli():
    pages = [EXAMPLES.parents[1] / "README.md", *sorted(EXAMPLES.parent.glob("*.md"))]
    parsed = []
    for page in pages:
        for line in shell_commands(page.read_text(encoding="utf-8")):
            if not line.startswith(("poverty-pipeline ", "docker run ")):
                continue
            words = shlex.split(line.split(" #")[0])
            at = [i for i, w in enumerate(words) if w.split(":")[0] == "poverty-pipeline"
                  and (i == 0 or words[0] == "docker")]
            if at:
                args = _parser().parse_args(words[at[0] + 1:])
                parsed.append((page.name, args.command))
    assert ("data.md", "init") in parsed and ("operations.md", "export") in parsed
    assert ("scaling.md", "run") in parsed
