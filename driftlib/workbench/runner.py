"""The runner: executes the four notebooks for one run date and writes `outputs/<date>/`.

Each notebook runs in its own process (papermill chdirs process-wide and can hang after the last
cell) under a wall-clock limit. The date folder is built in a staging folder and swapped in at the
end, so a crash never leaves half a report and other dates are never touched. One `RunResult` is
the whole outcome: there is no failure state anywhere else.
"""
from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable

import filelock

from driftlib.workbench import report

from driftlib.workbench import results
from driftlib.config import Params
from driftlib.workbench.preflight import check_components
from driftlib.core.contracts import (EXIT_FAILED, EXIT_OK, NOTEBOOKS, REQUIRED_PARAMETERS, notebook_spec,
                                     typed_result, drift_exit_code)
from driftlib.core.errors import ConfigError, DriftlibError
from driftlib.core.clock import utc_now
from driftlib.core import lifeline



class RunLocked(DriftlibError):
    exit_code = 1


class OutputsUnwritable(DriftlibError):
    """The outputs (or state) folder ran out of space or failed to write: one line, exit 1."""

    exit_code = 1


#: OS errors that mean "the disk", not "a bug": reported as one line naming the path.
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}


@dataclass
class NotebookRun:
    name: str
    status: str = "pending"  # success | failed | skipped | timeout
    duration_s: float = 0.0
    notebook: str | None = None
    html: str | None = None
    error: str | None = None
    result: dict[str, Any] | None = None


@dataclass
class RunResult:
    run_date: str
    model: str
    output_dir: Path
    started: str = ""
    finished: str = ""
    duration_s: float = 0.0
    notebooks: list[NotebookRun] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        ok = all(nb.status == "success" for nb in self.notebooks)
        return "success" if ok and self.notebooks else "failed"

    @property
    def outcome(self) -> str:
        """`status` refined for people: a success whose notebooks lost an artefact says so."""
        if self.status != "success":
            return "failed"
        return "success with warnings" if self.warnings else "success"

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.status == "success" else EXIT_FAILED

    def result_of(self, name: str) -> dict[str, Any]:
        return next((nb.result or {} for nb in self.notebooks if nb.name == name), {})

    def drift_exit_code(self) -> int:
        """Exit code for `--fail-on-drift`: 3 data drift, 4 concept drift, 5 both, else 0."""
        drift = typed_result("02", self.result_of("02_data_drift"))
        concept = typed_result("03", self.result_of("03_concept_drift"))
        return drift_exit_code(bool(drift.dataset_drift), concept.concept_drift)

    def to_dict(self) -> dict[str, Any]:
        return {"run_date": self.run_date, "status": self.status, "outcome": self.outcome,
                "model": self.model,
                "started": self.started, "finished": self.finished,
                "duration_s": round(self.duration_s, 2), "warnings": self.warnings,
                "notebooks": [asdict(nb) for nb in self.notebooks]}


def _iso(ts: datetime) -> str:
    return ts.isoformat(timespec="seconds")


def parse_run_date(value: str | date | None, clock: Callable[[], datetime] = utc_now) -> str:
    if value is None:
        return clock().date().isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise ConfigError(f"--date: '{value}' is not a date (YYYY-MM-DD)") from None


PACKAGED_NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def notebook_dir(params: Params) -> Path:
    """`run.notebooks` when set (your own copies), else the notebooks installed with the package."""
    return PACKAGED_NOTEBOOKS if params.run.notebooks is None else params.path(params.run.notebooks)


def check_notebooks(params: Params, names: list[str]) -> None:
    """Every notebook exists and declares the parameters the runner passes: fail before running."""
    import papermill as pm

    for name in names:
        path = notebook_dir(params) / f"{name}.ipynb"
        if not path.is_file():
            raise ConfigError(f"{params.source_file}: field 'run.notebooks': {path} not found")
        declared = pm.inspect_notebook(str(path))
        missing = [p for p in REQUIRED_PARAMETERS if p not in declared]
        if missing:
            raise ConfigError(f"{path}: parameters cell lacks {', '.join(missing)}")


class Runner:
    """One run date. `progress` receives human-readable lines (the CLI prints them)."""

    def __init__(self, params: Params, run_date: str, *, only: list[str] | None = None,
                 extra: dict[str, dict[str, Any]] | None = None,
                 progress: Callable[[str], None] = lambda line: None,
                 clock: Callable[[], datetime] = utc_now, show_cell_progress: bool = False):
        self.params, self.run_date, self.progress, self.clock = params, run_date, progress, clock
        self.names = list(only or NOTEBOOKS)
        self.extra = extra or {}
        self.show_cell_progress = show_cell_progress
        self.final_dir = params.outputs_dir / run_date

    # -- orchestration ----------------------------------------------------------------------------
    def run(self) -> RunResult:
        outputs = self.params.outputs_dir
        published = False
        try:
            outputs.mkdir(parents=True, exist_ok=True)
            self._recover_leftovers(outputs)
            staging = Path(tempfile.mkdtemp(prefix=f".staging-{self.run_date}-{os.getpid()}-", dir=outputs))
            staging.chmod(0o755)  # mkdtemp makes it private; reports are read by web servers and people
            try:
                if self.final_dir.is_dir() and set(self.names) != set(NOTEBOOKS):
                    shutil.copytree(self.final_dir, staging, dirs_exist_ok=True)
                run = self._run_all(staging)
                self._finish(run, staging)
                self._swap_in(staging)
                published = True
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            run.output_dir = self.final_dir
            self._after_run(run)
        except OSError as err:
            if err.errno not in DISK_ERRNOS:
                raise
            raise disk_error(err, 'run.outputs', None if published else self.final_dir) from None
        return run

    def _recover_leftovers(self, outputs: Path) -> None:
        """Clean what a killed run left in outputs/ (we hold the run lock); a run killed between the
        two renames of `_swap_in` left its date without a folder: put the previous report back."""
        leftovers = sorted(outputs.glob(".old-*"), key=lambda p: p.stat().st_mtime, reverse=True)
        for path in leftovers + sorted(outputs.glob(".staging-*")):
            match = _LEFTOVER.match(path.name)
            pid = int(match["pid"]) if match and match["pid"] else None
            if pid is not None and pid != os.getpid() and lifeline.pid_alive(pid):
                continue  # a live run (of a model sharing this folder) is using it
            target = outputs / match["date"] if match and path.name.startswith(".old-") else None
            if target is not None and not target.exists():
                os.replace(path, target)
                self.progress(f"recovered: {target.name}/ restored from {path.name} "
                              "(a run was killed while publishing it)")
            else:
                shutil.rmtree(path, ignore_errors=True)
                self.progress(f"recovered: removed {path.name} left by an interrupted run")

    def _run_all(self, staging: Path) -> RunResult:
        run = RunResult(run_date=self.run_date, model=self.params.name, output_dir=staging)
        self._render_warnings: list[str] = []
        start = self.clock()
        run.started = _iso(start)
        t0 = time.monotonic()
        previous = self._previous_statuses()
        self._warm: dict[str, _Worker] = {}
        self._closing: list[_Worker] = []  # finished notebooks whose worker still shuts its kernel down
        renders: list[tuple[NotebookRun, Future]] = []
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="driftlib-render") as render_pool:
                for i, name in enumerate(self.names, 1):
                    blocked = [d for d in notebook_spec(name).depends
                               if (d in self.names and self._status(run, d) != "success")
                               or (d not in self.names and previous.get(d) not in (None, "success"))]
                    if blocked:
                        self._discard(name)
                        nb = NotebookRun(name, status="skipped",
                                         error=f"skipped: {', '.join(blocked)} did not succeed")
                        self.progress(f"[{i}/{len(self.names)}] {name}: skipped ({nb.error})")
                    else:
                        self._label = f"[{i}/{len(self.names)}] {name}"
                        self.progress(f"{self._label}: running …")
                        nb, render = self._execute(name, staging, following=self.names[i:i + 1])
                        self.progress(f"[{i}/{len(self.names)}] {name}: {nb.status} in {nb.duration_s:.1f} s"
                                      + (f" — {nb.error}" if nb.error else ""))
                        if render is not None:  # the HTML is written while the next notebook runs
                            renders.append((nb, render_pool.submit(render)))
                    run.notebooks.append(nb)
                for nb, future in renders:
                    nb.html = future.result()
        finally:
            for name in list(self._warm):
                self._discard(name)
            for worker in self._closing:
                worker.close()
        if set(self.names) != set(NOTEBOOKS):
            run.notebooks = self._merge_previous(run.notebooks, staging)
        run.warnings = self._render_warnings + [
            f"{nb.name}: {w}" for nb in run.notebooks for w in notebook_warnings(nb.result)]
        run.finished = _iso(self.clock())
        run.duration_s = time.monotonic() - t0
        return run

    @staticmethod
    def _status(run: RunResult, name: str) -> str | None:
        return next((nb.status for nb in run.notebooks if nb.name == name), None)

    def _previous_statuses(self) -> dict[str, str]:
        summary = self.final_dir / "summary.json"
        if not summary.is_file():
            return {}
        return {nb["name"]: nb["status"] for nb in json.loads(summary.read_text()).get("notebooks", [])}

    def _merge_previous(self, ran: list[NotebookRun], staging: Path) -> list[NotebookRun]:
        """With --only, keep the other notebooks' entries from the date's previous summary."""
        summary = staging / "summary.json"
        old = {nb["name"]: NotebookRun(**nb) for nb in
               (json.loads(summary.read_text()).get("notebooks", []) if summary.is_file() else [])}
        old.update({nb.name: nb for nb in ran})
        return [old[n] for n in NOTEBOOKS if n in old]

    # -- one notebook ---------------------------------------------------------------------------
    def _parameters(self, name: str, staging: Path) -> dict[str, Any]:
        return {"params_file": str(Path(self.params.source_file or "").resolve()),
                "run_date": self.run_date, "output_dir": str(staging), **self.extra.get(name, {})}

    def _execute(self, name: str, staging: Path, following: list[str] = ()
                 ) -> tuple[NotebookRun, Callable[[], str | None] | None]:
        """Run one notebook; the worker of the next one (`following`) warms up meanwhile. Returns the
        run and the call that renders its HTML (None when there is no executed notebook)."""
        nb = NotebookRun(name, notebook=f"{name}.ipynb")
        out_path = staging / nb.notebook
        results.result_path(staging, name).unlink(missing_ok=True)
        parameters = self._parameters(name, staging)
        worker = self._warm.pop(name, None) or self._spawn(name)
        t0 = time.monotonic()
        nb.status, nb.error = self._subprocess(worker, out_path, parameters,
                                               then=lambda: self._prewarm(following))
        nb.duration_s = round(time.monotonic() - t0, 2)
        nb.result = results.load_result(staging, name)
        if nb.status == "success" and nb.result is None:
            nb.status, nb.error = "failed", "the notebook finished without saving its result"
        if not out_path.is_file():
            nb.notebook = None
            return nb, None
        return nb, lambda: self._render(nb, out_path, parameters)

    #: Start each notebook's worker (kernel and imports) while the previous notebook runs (issue 14).
    prewarm = True

    def _spawn(self, name: str) -> "_Worker":
        return _Worker(notebook_dir(self.params) / f"{name}.ipynb", notebook_dir(self.params),
                       show_progress=self.show_cell_progress)

    def _prewarm(self, names: list[str]) -> None:
        for name in names if self.prewarm else ():
            if name not in self._warm:
                self._warm[name] = self._spawn(name)

    def _discard(self, name: str) -> None:
        worker = self._warm.pop(name, None)
        if worker is not None:
            worker.discard()

    def _subprocess(self, worker: "_Worker", out_path: Path, parameters: dict[str, Any],
                    then: Callable[[], None] = lambda: None) -> tuple[str, str | None]:
        """Hand `worker` its spec, call `then` (start the next worker) and wait for the outcome."""
        spec = {"input": str(worker.notebook), "output": str(out_path),
                "parameters": parameters, "cwd": str(worker.cwd),
                "cell_timeout": self.params.run.cell_timeout_s,
                "progress": self.show_cell_progress, "status_file": str(worker.tmp / "status.json"),
                "runner_pid": os.getpid()}
        proc = worker.proc
        try:
            worker.start(spec)
            finished = self._wait(proc, self.params.run.notebook_timeout_s, ready=worker.ready, then=then,
                                  done=Path(spec["status_file"]))
        except BaseException:  # Ctrl-C, SIGTERM handler, …: take the worker and kernel along
            worker.discard()
            raise
        try:
            if not finished:
                lifeline.kill_tree(proc.pid)  # the kernel runs in a session of its own
                proc.wait()
                return "timeout", (f"exceeded run.notebook_timeout_s = {self.params.run.notebook_timeout_s} s "
                                   "(wall-clock limit of one notebook)")
            status_file = Path(spec["status_file"])
            if proc.poll() is None:  # outcome written; the worker is still shutting its kernel down
                self._closing.append(worker)
            if not status_file.is_file():
                return "failed", f"the notebook process exited with code {proc.returncode} without a status"
            outcome = json.loads(status_file.read_text())
            return outcome["status"], outcome["error"]
        finally:
            worker.cleanup()

    heartbeat_s = 30.0

    def _wait(self, proc: subprocess.Popen, timeout_s: float, ready: Path | None = None,
              then: Callable[[], None] = lambda: None, done: Path | None = None) -> bool:
        """Wait for the worker; every `heartbeat_s` say how long it has been running. False on timeout.
        `then` runs once `ready` exists (the worker's kernel is warm), while the notebook runs. The
        notebook is over once `done` (its outcome) exists: the worker's kernel shutdown, about a second,
        then overlaps the next notebook instead of delaying it."""
        t0 = time.monotonic()
        next_tick, pending = t0 + self.heartbeat_s, True
        while (left := timeout_s - (time.monotonic() - t0)) > 0:
            if pending and (ready is None or ready.exists()):
                pending = False
                then()
            if done is not None and done.exists():
                return True
            step = min(left, max(0.0, next_tick - time.monotonic()), 0.05 if pending or done else left)
            try:
                proc.wait(timeout=step)
                return True
            except subprocess.TimeoutExpired:
                if time.monotonic() >= next_tick:
                    next_tick += self.heartbeat_s
                    if not self.show_cell_progress and time.monotonic() - t0 < timeout_s:
                        self.progress(f"{getattr(self, '_label', 'notebook')}: still running, "
                                      f"{time.monotonic() - t0:.0f} s elapsed")
        return proc.poll() is not None

    def _render(self, nb: NotebookRun, out_path: Path, parameters: dict[str, Any]) -> str | None:
        html = out_path.with_suffix(".html")
        shown = {k: (Path(v).name if k == "params_file" else v) for k, v in parameters.items()
                 if k != "output_dir"}
        banner = {"model": self.params.name, "run_date": self.run_date, "status": nb.status,
                  "headline": (nb.result or {}).get("headline"), "error": nb.error, "parameters": shown}
        try:
            report.render_notebook(out_path, html, title=f"{notebook_spec(nb.name).title} — "
                                   f"{self.params.name} — {self.run_date}", banner=banner)
        except Exception as err:  # noqa: BLE001 - a broken render must not hide the run's outcome
            nb.error = (nb.error or "") + f" (HTML rendering failed: {err})"
            self._render_warnings.append(f"{nb.name}: HTML report not written: {type(err).__name__}: {err}")
            return None
        return html.name

    # -- finishing --------------------------------------------------------------------------------
    def _finish(self, run: RunResult, staging: Path) -> None:
        summary = run.to_dict()
        tmp = staging / "summary.json.tmp"
        tmp.write_text(json.dumps(results.to_jsonable(summary), indent=2))
        os.replace(tmp, staging / "summary.json")
        report.write_run_index(staging, summary)

    def _swap_in(self, staging: Path) -> None:
        """Replace outputs/<date> by the staging folder; the old one goes only after the new is in."""
        trash = None
        if self.final_dir.exists():
            trash = self.final_dir.with_name(f".old-{self.run_date}-{os.getpid()}")
            os.replace(self.final_dir, trash)
        try:
            os.replace(staging, self.final_dir)
        except BaseException:
            if trash is not None:
                os.replace(trash, self.final_dir)  # put the previous report back
            raise
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)

    def _after_run(self, run: RunResult) -> None:
        """Index, Prometheus textfile and Evidently workspace: failures here are warnings, not a failed run."""
        summary = run.to_dict()
        for label, hook in (("metrics", _metrics_hook), ("evidently workspace", _workspace_hook)):
            try:
                hook(self.params, run.output_dir, summary)
            except Exception as err:  # noqa: BLE001
                run.warnings.append(f"{label}: {type(err).__name__}: {err}")
        try:
            report.write_index(self.params.outputs_dir, title=f"driftlib reports — {self.params.name}")
        except OSError as err:
            run.warnings.append(f"index: {err.strerror or err}: {err.filename or self.params.outputs_dir}")
        if run.warnings:
            self._finish(run, run.output_dir)


class _Worker:
    """A notebook worker process, started (kernel warming up) before its spec is known; its spec's
    path goes to its stdin. `discard` ends it and its kernel (a skipped notebook, an interrupt)."""

    def __init__(self, notebook: Path, cwd: Path, *, show_progress: bool = False):
        self.notebook, self.cwd = notebook, cwd
        self.tmp = Path(tempfile.mkdtemp(prefix="driftlib-nb-"))
        self.ready = self.tmp / "ready"  # touched by the worker once its kernel is warm
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "driftlib.workbench.worker", "--warm", str(notebook), str(cwd),
             str(self.ready)],
            start_new_session=True, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=None if show_progress else subprocess.DEVNULL,
            env={**os.environ, lifeline.RUNNER_PID_ENV: str(os.getpid())})

    def start(self, spec: dict[str, Any]) -> None:
        spec_path = self.tmp / "spec.json"
        spec_path.write_text(json.dumps(spec))
        try:
            self.proc.stdin.write(f"{spec_path}\n".encode())
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass  # the worker died while warming up: reported as exiting without a status

    def discard(self) -> None:
        lifeline.kill_tree(self.proc.pid)
        self.proc.wait()
        self.cleanup()

    def close(self, grace_s: float = 10.0) -> None:
        """Let a finished worker shut its kernel down; past `grace_s`, end it and its kernel."""
        try:
            self.proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self.discard()

    def cleanup(self) -> None:
        try:
            if self.proc.stdin and not self.proc.stdin.closed:
                self.proc.stdin.close()
        except OSError:
            pass
        shutil.rmtree(self.tmp, ignore_errors=True)


_LEFTOVER = re.compile(r"^\.(?:staging|old)-(?P<date>\d{4}-\d{2}-\d{2})(?:-(?P<pid>\d+)(?=-|$))?")


def notebook_warnings(result: dict[str, Any] | None) -> list[str]:
    """A notebook result's `warnings` (artefacts it could not write …) as a list of strings."""
    found = (result or {}).get("warnings") or []
    return [found] if isinstance(found, str) else [str(w) for w in found]


def disk_error(err: OSError, field_name: str, untouched: Path | None = None) -> DriftlibError:
    """One line naming the path instead of a traceback; read-only/permission is configuration (2)."""
    where, what = err.filename or "?", err.strerror or str(err)
    state = f" ({untouched} was left as it was)" if untouched is not None else ""
    if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return ConfigError(f"field '{field_name}': cannot write {where}: {what}{state}")
    return OutputsUnwritable(f"cannot write {where}: {what}{state}")


def _metrics_hook(params: Params, output_dir: Path, summary: dict) -> None:
    try:
        from driftlib.monitoring import textfile as metrics
    except ImportError:
        return
    metrics.write_run_metrics(params, summary)


def _workspace_hook(params: Params, output_dir: Path, summary: dict) -> None:
    if not params.monitoring.evidently_workspace:
        return
    try:
        from driftlib.monitoring import workspace
    except ImportError:
        return
    workspace.add_run(params, output_dir, summary)


def run_lock(params: Params) -> filelock.FileLock:
    """An OS-level lock: released by the kernel when a run is killed, so stale locks recover."""
    params.state_dir.mkdir(parents=True, exist_ok=True)
    return filelock.FileLock(str(params.state_dir / "run.lock"))


def run_pipeline(params: Params, run_date: str | None = None, *, only: list[str] | None = None,
                 wait: bool = False, extra: dict[str, dict[str, Any]] | None = None,
                 progress: Callable[[str], None] = lambda line: None,
                 clock: Callable[[], datetime] = utc_now, show_cell_progress: bool = False) -> RunResult:
    """Run the notebooks for one date under the params' run lock."""
    run_date = parse_run_date(run_date, clock)
    names = list(only or NOTEBOOKS)
    unknown = [n for n in names if n not in NOTEBOOKS]
    if unknown:
        raise ConfigError(f"--only: unknown notebook {', '.join(unknown)} (choose from {', '.join(NOTEBOOKS)})")
    check_notebooks(params, names)
    check_components(params)
    try:
        lock = run_lock(params)
    except OSError as err:
        if err.errno not in DISK_ERRNOS:
            raise
        raise disk_error(err, "run.state_dir") from None
    try:
        lock.acquire(timeout=-1 if wait else 0)
    except filelock.Timeout:
        raise RunLocked(f"another driftlib run for '{params.name}' is in progress "
                        f"(lock {lock.lock_file}); use --wait to queue behind it") from None
    except OSError as err:
        if err.errno not in DISK_ERRNOS:
            raise
        raise disk_error(err, "run.state_dir") from None
    try:
        return Runner(params, run_date, only=names, extra=extra, progress=progress, clock=clock,
                      show_cell_progress=show_cell_progress).run()
    finally:
        lock.release()
