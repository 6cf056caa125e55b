"""A foreground cron loop: run a job at each cron time, one at a time, surviving failures.

For teams without a system scheduler (or inside a container). The loop never overlaps runs: a job
runs to the end before the next tick is computed from the clock, so ticks that pass while a run is
still going are skipped and logged; a run started elsewhere (cron, by hand) holds the runner's lock
and makes this tick's run exit as 'skipped'. Clock and sleep are injected so tests need no waiting.
"""
from __future__ import annotations

import html
import logging
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Callable

from croniter import croniter

from driftlib.core.errors import ConfigError
from driftlib.core.clock import utc_now

log = logging.getLogger("driftlib.workbench.schedule")
MAX_SLEEP_S = 60.0  # re-read the clock at least this often (suspend, clock changes, stop requests)


def check_cron(expression: str) -> str:
    if not croniter.is_valid(expression):
        raise ConfigError(f"--cron: '{expression}' is not a valid cron expression (e.g. '0 6 * * *')")
    return expression


@dataclass
class TickOutcome:
    """One cron time: what ran, how it ended, and how many ticks passed while it ran."""

    tick: str
    status: str  # success | failed | skipped | error
    exit_code: int | None = None
    message: str = ""
    duration_s: float = 0.0
    missed_ticks: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def _repr_html_(self) -> str:
        return (f"<p>{html.escape(self.tick)}: <b>{html.escape(self.status)}</b> "
                f"{html.escape(self.message)}</p>")


Job = Callable[[datetime], TickOutcome]


class CronScheduler:
    """`CronScheduler("0 6 * * *", job).run()` calls `job(tick)` at every cron time, in order."""

    def __init__(self, cron: str, job: Job, *, clock: Callable[[], datetime] = utc_now,
                 sleep: Callable[[float], None] = time.sleep, logger: logging.Logger = log):
        self.cron = check_cron(cron)
        self.job, self.clock, self.sleep, self.log = job, clock, sleep, logger
        self._stop = False

    def stop(self) -> None:
        """Finish the current run (if any) and leave the loop at the next clock check."""
        self._stop = True

    def next_tick(self, after: datetime) -> datetime:
        return croniter(self.cron, after).get_next(datetime)

    def missed_since(self, tick: datetime, now: datetime) -> int:
        """Cron times strictly after `tick` and not after `now`: they passed while a run was going."""
        it, count = croniter(self.cron, tick), 0
        while it.get_next(datetime) <= now:
            count += 1
        return count

    def _wait_until(self, when: datetime) -> bool:
        while not self._stop:
            left = (when - self.clock()).total_seconds()
            if left <= 0:
                return True
            self.sleep(min(left, MAX_SLEEP_S))
        return False

    def _run_one(self, tick: datetime) -> TickOutcome:
        self.log.info("run for %s: starting", tick.isoformat())
        t0 = self.clock()
        try:
            outcome = self.job(tick)
        except Exception as err:  # noqa: BLE001 - one broken run must not end the schedule
            outcome = TickOutcome(tick.isoformat(), "error", message=f"{type(err).__name__}: {err}")
        outcome.duration_s = round((self.clock() - t0).total_seconds(), 3)
        outcome.missed_ticks = self.missed_since(tick, self.clock())
        level = logging.INFO if outcome.status in ("success", "skipped") else logging.ERROR
        self.log.log(level, "run for %s: %s in %.1f s%s", tick.isoformat(), outcome.status, outcome.duration_s,
                     f" — {outcome.message}" if outcome.message else "")
        if outcome.missed_ticks:
            self.log.warning("skipped %d cron time(s) that passed while the run for %s was going",
                             outcome.missed_ticks, tick.isoformat())
        return outcome

    def run(self, max_runs: int | None = None) -> list[TickOutcome]:
        """Loop until `stop()` or `max_runs` ticks; return the outcomes (the log has them too)."""
        outcomes: list[TickOutcome] = []
        tick = self.next_tick(self.clock())
        self.log.info("schedule '%s': next run at %s", self.cron, tick.isoformat())
        while (max_runs is None or len(outcomes) < max_runs) and self._wait_until(tick):
            outcomes.append(self._run_one(tick))
            tick = self.next_tick(max(self.clock(), tick))
            if max_runs is None or len(outcomes) < max_runs:
                self.log.info("next run at %s", tick.isoformat())
        return outcomes


def pipeline_job(params, run_pipeline: Callable[..., Any] | None = None,
                 locked: tuple[type[BaseException], ...] | None = None) -> Job:
    """A job running the pipeline for the tick's date; a run already holding the lock means 'skipped'."""
    if run_pipeline is None or locked is None:
        from driftlib.workbench import runner as pipeline

        run_pipeline = run_pipeline or pipeline.run_pipeline
        locked = locked or (pipeline.RunLocked,)

    def job(tick: datetime) -> TickOutcome:
        run_date = tick.date().isoformat()
        try:
            result = run_pipeline(params, run_date=run_date)
        except locked as err:
            return TickOutcome(tick.isoformat(), "skipped", message=str(err))
        status = getattr(result, "status", "failed")
        failed = [nb.name for nb in getattr(result, "notebooks", []) if getattr(nb, "status", "") != "success"]
        message = f"run date {run_date}" + (f"; not successful: {', '.join(failed)}" if failed else "")
        return TickOutcome(tick.isoformat(), status, getattr(result, "exit_code", None), message)

    return job
