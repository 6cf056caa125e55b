"""Executes one notebook with papermill in its own process and classifies the outcome.

Run as `python -m driftlib.workbench.worker SPEC.json`. papermill chdirs process-wide and can hang after
the last cell, so the runner gives every notebook its own process and a wall-clock limit; this
worker only translates papermill's exceptions into a status the runner can trust. It dies with
its runner, kernel included (`driftlib.core.lifeline`): an orphan must not promote a model.

`python -m driftlib.workbench.worker --warm NOTEBOOK CWD` is the same worker started ahead of its
turn (issue 14): it starts the notebook's kernel and imports, in a throwaway namespace, the modules
the notebook imports (kernel start and imports cost 3-5 s per notebook), then waits for the path of
its spec on stdin while the previous notebook runs. The notebook then executes in that kernel,
cells and outputs exactly as in a kernel started for it; an empty stdin (the runner skipped the
notebook) ends the worker. Warming up is best effort: if it fails, papermill starts its own kernel.
"""
from __future__ import annotations

import ast
import json
import os
import sys
from pathlib import Path

from driftlib.core import lifeline

#: Never imported ahead: Evidently is imported only by the cell that makes its report, when enabled.
NOT_PRELOADED = ("evidently",)
#: Environment of the kernels. OpenMP threads that spin while they wait (libgomp's default) make
#: scikit-learn's many small parallel regions (a gradient-boosting predict is one per tree) 5-10x
#: slower whenever another process holds a core, as the warming next kernel does; sleeping waits
#: change no result (same threads, same arithmetic). A value set by the user wins.
KERNEL_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}
#: The extra arguments nbclient gives a kernel it starts itself (history kept in memory).
KERNEL_ARGUMENTS = ["--HistoryManager.hist_file=:memory:"]


def classify(exc: BaseException, spec: dict | None = None) -> tuple[str, str]:
    """(status, one-line error) from the exception type, never from notebook metadata."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, CellTimeoutError):
        spec = spec or {}
        cell = timed_out_cell(spec["output"]) if spec.get("output") else None
        return "timeout", (f"{cell or 'a cell'} exceeded run.cell_timeout_s = "
                           f"{spec.get('cell_timeout', '?')} s")
    if isinstance(exc, DeadKernelError):
        return "failed", "the kernel died (out of memory?)"
    if isinstance(exc, PapermillExecutionError):
        return "failed", f"{exc.ename}: {exc.evalue}".strip()[:500]
    return "failed", f"{type(exc).__name__}: {exc}"[:500]


def timed_out_cell(output: str) -> str | None:
    """`cell N (`first line…`)` for the cell papermill started last, numbered from 1 as in the
    source notebook (the injected-parameters cell does not count); None if unreadable."""
    import nbformat

    try:
        nb = nbformat.read(output, as_version=4)
    except Exception:  # noqa: BLE001 - the message degrades to "a cell"
        return None
    cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    started = [i for i, c in enumerate(cells) if c.metadata.get("papermill", {}).get("start_time")]
    if not started:
        return None
    lines = [ln.strip() for ln in cells[started[-1]].source.splitlines() if ln.strip()]
    first = lines[0] if lines else ""
    first = first if len(first) <= 60 else first[:59] + "…"
    return f"cell {started[-1] + 1} (`{first}`)"


# -- warming up ---------------------------------------------------------------------------------
def import_statements(notebook: str | Path) -> list[str]:
    """The top-level `import` / `from … import` statements of the notebook's code cells, in order
    (IPython magics left out, Evidently never), plus pyplot for a `%matplotlib` notebook."""
    nb = json.loads(Path(notebook).read_text())
    found: list[str] = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        lines = source.splitlines()
        if any(ln.lstrip().startswith("%matplotlib") for ln in lines):
            found.append("import matplotlib.pyplot")
        code = "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in lines)
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            if any(n.split(".")[0] in NOT_PRELOADED for n in names):
                continue
            found.append(ast.unparse(node))
    return list(dict.fromkeys(found))


def warm_up_code(statements: list[str]) -> str:
    """One statement run silently in the kernel: each import in a namespace of its own, so the
    notebook's namespace stays empty; a failing import is left for its cell to report."""
    return ("exec(compile(" + repr(
        "import warnings\n"
        "with warnings.catch_warnings():\n"
        "    warnings.simplefilter('ignore')\n"
        f"    for _s in {statements!r}:\n"
        "        try:\n"
        "            exec(_s, {})\n"
        "        except Exception:\n"
        "            pass\n") + ", '<driftlib warm-up>', 'exec'), {})")


class WarmKernel:
    """A kernel started in `cwd` as nbclient would start it, with the notebook's imports done."""

    def __init__(self, notebook: str, cwd: str | None, timeout_s: float = 120.0):
        from jupyter_client import AsyncKernelManager
        from jupyter_core.utils import run_sync

        self.notebook, self.cwd, self._run_sync = notebook, cwd, run_sync
        self.km = AsyncKernelManager(kernel_name="python3")
        run_sync(self.km.start_kernel)(cwd=cwd, extra_arguments=list(KERNEL_ARGUMENTS))
        try:
            run_sync(self._preload)(warm_up_code(import_statements(notebook)), timeout_s)
        except BaseException:
            self.shutdown()
            raise

    async def _preload(self, code: str, timeout_s: float) -> None:
        kc = self.km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=timeout_s)
            msg_id = kc.execute(code, silent=True, store_history=False, allow_stdin=False)
            while True:  # the reply to our request (silent: no execution count, no outputs)
                reply = await kc.get_shell_msg(timeout=timeout_s)
                if reply.get("parent_header", {}).get("msg_id") == msg_id:
                    return
        finally:
            kc.stop_channels()

    def alive(self) -> bool:
        return bool(self._run_sync(self._is_alive)())

    async def _is_alive(self) -> bool:
        return await self.km.is_alive()

    def shutdown(self) -> None:
        try:
            self._run_sync(self._shutdown)()
        except Exception:  # noqa: BLE001 - the worker exits next; lifeline takes the rest
            pass

    async def _shutdown(self) -> None:
        try:
            if await self.km.is_alive():
                await self.km.shutdown_kernel(now=False)
        finally:
            await self.km.cleanup_resources()


def warm_kernel(notebook: str, cwd: str | None) -> WarmKernel | None:
    try:
        return WarmKernel(notebook, cwd)
    except Exception:  # noqa: BLE001 - best effort: papermill starts a kernel of its own
        return None


# -- executing ----------------------------------------------------------------------------------
def execute(spec: dict, kernel: WarmKernel | None = None) -> dict:
    import papermill as pm

    usable = (kernel is not None and kernel.notebook == spec["input"] and kernel.cwd == spec.get("cwd")
              and kernel.alive())
    extra = {"km": kernel.km} if usable else {}
    try:
        pm.execute_notebook(
            spec["input"], spec["output"], parameters=spec["parameters"], kernel_name="python3",
            cwd=spec.get("cwd"), execution_timeout=spec.get("cell_timeout"),
            progress_bar=spec.get("progress", False), request_save_on_cell_execute=True, **extra,
        )
        return {"status": "success", "error": None}
    except Exception as exc:  # noqa: BLE001 - every failure becomes a classified status
        status, error = classify(exc, spec)
        return {"status": status, "error": error}


def run_spec(spec_path: Path, kernel: WarmKernel | None = None, *, tied: bool = False) -> int:
    spec = json.loads(spec_path.read_text())
    if spec.get("runner_pid") and not tied:
        lifeline.die_with_parent(int(spec["runner_pid"]))
    outcome = execute(spec, kernel)
    from driftlib.core.jsonio import atomic_write_text  # imported during the warm-up

    atomic_write_text(spec["status_file"], json.dumps(outcome))  # the runner moves on once it exists
    return 0 if outcome["status"] == "success" else 1


def warm_main(notebook: str, cwd: str, ready: str | None = None) -> int:
    runner = os.environ.get(lifeline.RUNNER_PID_ENV, "")
    tied = runner.isdigit()
    if tied:
        lifeline.die_with_parent(int(runner))
    kernel = warm_kernel(notebook, cwd or None)
    try:
        import papermill  # noqa: F401 - imported while the previous notebook runs, not after

        import driftlib.core.jsonio  # noqa: F401 - the outcome's writer (pulls in pandas)
    except ImportError:
        pass
    if ready:  # the runner starts the next worker only now: two warm-ups at once slow both down
        Path(ready).touch()
    try:
        line = sys.stdin.readline().strip()
        if not line:  # the runner skipped this notebook (or went away)
            return 0
        return run_spec(Path(line), kernel, tied=tied)
    finally:
        if kernel is not None:
            kernel.shutdown()


def main(argv: list[str]) -> int:
    for key, value in KERNEL_ENV.items():
        os.environ.setdefault(key, value)  # inherited by the kernel this worker starts
    if argv and argv[0] == "--warm":
        return warm_main(argv[1], argv[2], argv[3] if len(argv) > 3 else None)
    return run_spec(Path(argv[0]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
