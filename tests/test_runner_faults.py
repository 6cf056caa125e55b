"""The runner under faults: killed runner, interrupted publish, full or read-only disk, lost artefacts,
per-cell timeout naming the cell, and the end-of-run summary on a terminal."""
from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from driftlib.cli import app
from driftlib.cli.run import print_summary
from driftlib.core import lifeline
from driftlib.workbench import runner as runner_mod
from driftlib.workbench.runner import NotebookRun, RunResult, run_pipeline
from tests.test_pipeline import _fake_project

ROOT = Path(__file__).resolve().parents[1]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# -- the runner killed with SIGKILL ----------------------------------------------------------------
def _alive(pid: int) -> bool:
    return lifeline.pid_alive(pid)


@pytest.mark.slow
def test_kill_9_of_the_runner_takes_worker_and_kernel_along(tmp_path):
    psutil = pytest.importorskip("psutil")
    marker, effect = tmp_path / "kernel.pid", tmp_path / "side-effect"
    body = (f"import os, time, pathlib\npathlib.Path({str(marker)!r}).write_text(str(os.getpid()))\n"
            f"time.sleep(5)\npathlib.Path({str(effect)!r}).write_text('promoted by an orphan')\n"
            "time.sleep(60)")
    params = _fake_project(tmp_path, {"01_reference_capture": body})
    proc = subprocess.Popen([sys.executable, "-m", "driftlib.cli", "run", "--params", params.source_file,
                             "--date", "2024-02-01", "--only", "01", "-q"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while not (marker.is_file() and marker.read_text()) and time.monotonic() < deadline:
            assert proc.poll() is None, "the run ended before its notebook started"
            time.sleep(0.2)
        kernel = int(marker.read_text())
        tree = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
        assert kernel in tree and len(tree) >= 2  # worker and kernel (at least)
        t_kill = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        while any(_alive(p) for p in tree) and time.monotonic() - t_kill < 5:
            time.sleep(0.1)
        assert not [p for p in tree if _alive(p)], "worker or kernel outlived the runner"
        time.sleep(max(0.0, 6 - (time.monotonic() - t_kill)))
        assert not effect.exists(), "the orphaned notebook carried on after its runner died"
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in (tree if "tree" in locals() else []):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def test_side_effects_refuse_when_the_runner_is_gone(tmp_path, monkeypatch):
    from driftlib.models.registry import Registry

    monkeypatch.setenv(lifeline.RUNNER_PID_ENV, str(_dead_pid()))
    with pytest.raises(lifeline.RunnerGone, match="has died"):
        Registry(tmp_path / "models").register({"a": 1}, {"metrics": {}})
    assert not (tmp_path / "models").exists() or not list((tmp_path / "models").glob("v*"))
    monkeypatch.setenv(lifeline.RUNNER_PID_ENV, str(os.getpid()))
    assert Registry(tmp_path / "models").register({"a": 1}, {"metrics": {}})


def test_worker_dies_with_its_parent_and_kills_its_children(tmp_path):
    """The worker half alone: a parent that vanishes takes the worker's own session-leader child."""
    child_pid = tmp_path / "child.pid"
    script = (
        "import os, subprocess, sys, time\n"
        "from driftlib.core import lifeline\n"
        "lifeline.die_with_parent(int(sys.argv[1]), poll_s=0.1)\n"
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], start_new_session=True)\n"
        f"open({str(child_pid)!r}, 'w').write(f'{{os.getpid()}} {{c.pid}}')\n"
        "time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", (
        "import subprocess, sys, os, time\n"
        "subprocess.Popen([sys.executable, '-c', sys.argv[1], str(os.getpid())])\n"
        "time.sleep(60)"), script], cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while not (child_pid.is_file() and child_pid.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        worker, child = map(int, child_pid.read_text().split())
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 5
        while (_alive(worker) or _alive(child)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(worker) and not _alive(child)
    finally:
        parent.kill()


# -- leftovers in outputs/ ------------------------------------------------------------------------------
@pytest.mark.slow
def test_next_run_restores_a_report_lost_between_the_two_renames(tmp_path):
    params = _fake_project(tmp_path, {})
    out = params.outputs_dir
    run_pipeline(params, "2024-02-01", only=["01_reference_capture"])
    dead = _dead_pid()
    # a run killed between `final -> .old` and `staging -> final`: the date has no folder any more
    os.replace(out / "2024-02-01", out / f".old-2024-02-01-{dead}")
    (out / f".staging-2024-02-01-{dead}-abcd1234").mkdir()
    (out / f".staging-2024-02-01-{dead}-abcd1234" / "summary.json").write_text("{}")
    (out / ".staging-2024-01-05-old_style").mkdir()  # name from before the pid was in it
    (out / f".old-2024-01-09-{dead}").mkdir()  # its date folder is still there: just trash
    (out / "2024-01-09").mkdir()
    alive = out / f".staging-2024-02-03-{os.getppid()}-live0001"  # a live process's: untouched
    alive.mkdir()
    lines: list[str] = []
    run = run_pipeline(params, "2024-02-02", only=["01_reference_capture"], progress=lines.append)
    assert run.status == "success"
    restored = json.loads((out / "2024-02-01" / "summary.json").read_text())
    assert restored["run_date"] == "2024-02-01" and restored["status"] == "success"
    assert (out / "2024-01-09").is_dir()
    left = sorted(p.name for p in out.iterdir() if p.name.startswith("."))
    assert left == [alive.name]
    assert any("restored" in line and "2024-02-01" in line for line in lines)
    assert "2024-02-01" in (out / "index.html").read_text()


@pytest.mark.slow
def test_failed_second_rename_puts_the_previous_report_back(tmp_path, monkeypatch):
    params = _fake_project(tmp_path, {})
    out = params.outputs_dir
    run_pipeline(params, "2024-02-01", only=["01_reference_capture"])
    real_replace = os.replace

    def replace(src, dst):
        if Path(src).name.startswith(".staging-"):
            raise OSError(errno.EIO, os.strerror(errno.EIO), str(src))
        return real_replace(src, dst)

    monkeypatch.setattr(runner_mod.os, "replace", replace)
    with pytest.raises(runner_mod.OutputsUnwritable, match="Input/output error"):
        run_pipeline(params, "2024-02-01", only=["01_reference_capture"])
    monkeypatch.undo()
    assert json.loads((out / "2024-02-01" / "summary.json").read_text())["status"] == "success"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


# -- disk full, read-only ----------------------------------------------------------------------------
def _assert_one_line_error(result, code: int, *needles: str) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    errors = [ln for ln in result.output.splitlines() if ln.startswith("driftlib: error:")]
    assert len(errors) == 1, result.output
    for needle in needles:
        assert needle in errors[0], errors[0]


@pytest.mark.slow
def test_disk_full_while_publishing_is_one_line_and_keeps_the_previous_report(tmp_path, monkeypatch):
    params = _fake_project(tmp_path, {})
    out = params.outputs_dir
    run_pipeline(params, "2024-02-01", only=["01_reference_capture"])

    def full(folder, summary):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(Path(folder) / "index.html"))

    monkeypatch.setattr(runner_mod.report, "write_run_index", full)
    result = CliRunner().invoke(app, ["run", "--params", params.source_file, "--date", "2024-02-01",
                                      "--only", "01", "-q"])
    _assert_one_line_error(result, 1, "No space left on device", "index.html", "left as it was")
    assert json.loads((out / "2024-02-01" / "summary.json").read_text())["status"] == "success"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def _readonly_runner(outputs: Path) -> list[str] | None:
    """A command prefix under which `outputs` is read-only: a private read-only bind mount for root
    (chmod does not stop root), plain permissions otherwise; None when neither is possible."""
    if os.geteuid() != 0:
        outputs.chmod(0o555)
        return []
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if shutil.which("unshare") is None or probe.returncode != 0:
        return None
    return ["unshare", "-m", "sh", "-c",
            f'mount --bind "{outputs}" "{outputs}" && mount -o remount,ro,bind "{outputs}" && exec "$@"', "sh"]


@pytest.mark.slow
def test_read_only_outputs_folder_is_one_line_exit_2(tmp_path):
    params = _fake_project(tmp_path, {})
    out = params.outputs_dir
    out.mkdir()
    prefix = _readonly_runner(out)
    if prefix is None:
        pytest.skip("cannot make a read-only folder here (root without mount namespaces)")
    try:
        proc = subprocess.run([*prefix, sys.executable, "-m", "driftlib.cli", "run", "--params",
                               params.source_file, "--date", "2024-02-01", "-q"],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
    finally:
        out.chmod(0o755)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("driftlib: error: field 'run.outputs': cannot write")
    assert str(out) in lines[0] and ("Read-only" in lines[0] or "Permission denied" in lines[0])


# -- lost artefacts: success with warnings ------------------------------------------------------------
@pytest.mark.slow
def test_notebook_warnings_make_a_success_with_warnings(tmp_path):
    save = ("from driftlib.workbench import results\nresults.save_result(output_dir, '02_data_drift', "
            "{'headline': 'no drift', 'warnings': ['Evidently HTML not written: disk full']})")
    params = _fake_project(tmp_path, {"02_data_drift": save})
    result = CliRunner().invoke(app, ["run", "--params", params.source_file, "--date", "2024-02-01", "-q"])
    assert result.exit_code == 0, result.output
    summary = json.loads((params.outputs_dir / "2024-02-01" / "summary.json").read_text())
    assert summary["status"] == "success" and summary["outcome"] == "success with warnings"
    assert summary["warnings"] == ["02_data_drift: Evidently HTML not written: disk full"]
    assert "SUCCESS WITH WARNINGS" in result.output
    assert "02_data_drift: Evidently HTML not written: disk full" in result.output


@pytest.mark.slow
def test_a_clean_run_is_a_plain_success(tmp_path):
    params = _fake_project(tmp_path, {})
    run = run_pipeline(params, "2024-02-01", only=["01_reference_capture"])
    summary = json.loads((params.outputs_dir / "2024-02-01" / "summary.json").read_text())
    assert run.outcome == summary["outcome"] == "success" and summary["warnings"] == []


# -- per-cell timeout names the cell and the setting -------------------------------------------------
@pytest.mark.slow
def test_cell_timeout_names_the_cell_and_the_setting(tmp_path):
    body = "importance = 1  # a long computation\nimport time; time.sleep(60)"
    params = _fake_project(tmp_path, {"01_reference_capture": body}, cell_timeout_s=2)
    run = run_pipeline(params, "2024-02-01", only=["01_reference_capture"])
    nb = run.notebooks[0]
    assert nb.status == "timeout"
    # markdown, parameters, this cell: the third of the source notebook (injected cell not counted)
    assert nb.error == "cell 3 (`importance = 1  # a long computation`) exceeded run.cell_timeout_s = 2 s"


# -- the terminal ---------------------------------------------------------------------------------------
def test_summary_wraps_headlines_at_words(capsys):
    headline = ("data drift in 5 of 8 columns: dep_hour, distance, temperature_at_origin, humidity, "
                "wind_speed_knots; share 0.62 above the 0.50 threshold")
    run = RunResult("2024-02-01", "m", Path("/tmp/out/2024-02-01"), duration_s=1.0,
                    notebooks=[NotebookRun("02_data_drift", "success", 1.0, result={"headline": headline})])
    print_summary(run, width=80)
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.strip() and not ln.startswith(("Run ", "Reports"))]
    assert len(lines) > 1 and all(len(ln) <= 80 for ln in lines)
    words = " ".join(ln.strip() for ln in lines).split()
    assert " ".join(words).endswith(headline)  # every word whole, in order
    indent = lines[0].index("data drift")
    assert all(ln.startswith(" " * indent) for ln in lines[1:])


@pytest.mark.slow
def test_progress_shows_elapsed_time_while_a_notebook_runs(tmp_path, monkeypatch):
    params = _fake_project(tmp_path, {"01_reference_capture": (
        "import time; time.sleep(3)\n" + "from driftlib.workbench import results\n"
        "results.save_result(output_dir, '01_reference_capture', {'headline': 'fine'})")})
    monkeypatch.setattr(runner_mod.Runner, "heartbeat_s", 1.0)
    lines: list[str] = []
    run_pipeline(params, "2024-02-01", only=["01_reference_capture"], progress=lines.append)
    ticks = [ln for ln in lines if "still running" in ln]
    assert ticks and ticks[0].startswith("[1/1] 01_reference_capture: still running, ")
    assert ticks[-1].endswith(" s elapsed") and int(ticks[-1].split(", ")[1].split()[0]) >= 2


def test_the_next_notebook_starts_once_the_outcome_is_written_not_when_the_kernel_is_gone(tmp_path):
    """A worker writes its outcome, then shuts its kernel down (about a second, more with worker
    processes): the run goes on at the outcome instead of waiting for the process to exit."""
    import subprocess
    import sys
    import time

    from driftlib.config import parse_params
    from driftlib.workbench.runner import Runner

    params = parse_params({"name": "m", "root": str(tmp_path), "reference": {"path": "r.csv"},
                           "columns": {"timestamp": "ts"}}, str(tmp_path / "p.yaml"))
    runner = Runner(params, "2024-01-01")
    done = tmp_path / "status.json"
    proc = subprocess.Popen([sys.executable, "-c", f"import pathlib, time; pathlib.Path({str(done)!r})"
                             ".write_text('{}'); time.sleep(30)"])
    try:
        t0 = time.monotonic()
        assert runner._wait(proc, timeout_s=20, done=done) is True
        assert time.monotonic() - t0 < 10 and proc.poll() is None  # went on while the worker still ran
    finally:
        proc.kill()
        proc.wait()
