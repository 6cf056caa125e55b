"""The foreground cron loop, with an injected clock: no test waits for real time."""
from __future__ import annotations

import logging
import shlex
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest
import typer
from typer.testing import CliRunner

from driftlib.core.errors import ConfigError
from driftlib.workbench.schedule import MAX_SLEEP_S, CronScheduler, TickOutcome, pipeline_job

UTC = timezone.utc


class FakeClock:
    def __init__(self, start: datetime):
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)


@dataclass
class Job:
    clock: FakeClock
    takes: timedelta = timedelta(minutes=5)
    fail_on: set = field(default_factory=set)
    ticks: list = field(default_factory=list)
    running: bool = False

    def __call__(self, tick: datetime) -> TickOutcome:
        assert not self.running, "two runs overlapped"
        assert self.clock.now >= tick, "started before its cron time"
        self.running = True
        self.ticks.append(tick)
        try:
            self.clock.now += self.takes
            if len(self.ticks) in self.fail_on:
                raise RuntimeError("kernel died")
            return TickOutcome(tick.isoformat(), "success", 0)
        finally:
            self.running = False


def test_runs_at_each_cron_time_in_order():
    clock = FakeClock(datetime(2024, 1, 1, 5, 0, tzinfo=UTC))
    job = Job(clock)
    outcomes = CronScheduler("0 6 * * *", job, clock=clock, sleep=clock.sleep).run(max_runs=3)
    assert job.ticks == [datetime(2024, 1, d, 6, 0, tzinfo=UTC) for d in (1, 2, 3)]
    assert [o.status for o in outcomes] == ["success"] * 3
    assert max(clock.sleeps) <= MAX_SLEEP_S  # the clock is re-read at least once a minute


def test_a_failed_run_is_logged_and_the_schedule_goes_on(caplog):
    clock = FakeClock(datetime(2024, 1, 1, 5, 0, tzinfo=UTC))
    job = Job(clock, fail_on={1})
    with caplog.at_level(logging.INFO, logger="driftlib.workbench.schedule"):
        outcomes = CronScheduler("0 6 * * *", job, clock=clock, sleep=clock.sleep).run(max_runs=2)
    assert [o.status for o in outcomes] == ["error", "success"]
    assert "RuntimeError: kernel died" in outcomes[0].message
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "kernel died" in errors[0].getMessage()


def test_ticks_passing_during_a_long_run_are_skipped_not_queued(caplog):
    clock = FakeClock(datetime(2024, 1, 1, 5, 0, tzinfo=UTC))
    job = Job(clock, takes=timedelta(days=2, hours=1))  # 06:00 run ends on day 3 at 07:00
    with caplog.at_level(logging.WARNING, logger="driftlib.workbench.schedule"):
        outcomes = CronScheduler("0 6 * * *", job, clock=clock, sleep=clock.sleep).run(max_runs=2)
    assert job.ticks == [datetime(2024, 1, 1, 6, tzinfo=UTC), datetime(2024, 1, 4, 6, tzinfo=UTC)]
    assert outcomes[0].missed_ticks == 2
    assert "skipped 2 cron time(s)" in caplog.text


def test_stop_ends_the_loop_after_the_current_run():
    clock = FakeClock(datetime(2024, 1, 1, 5, 0, tzinfo=UTC))
    scheduler = None

    def job(tick):
        scheduler.stop()
        return TickOutcome(tick.isoformat(), "success", 0)

    scheduler = CronScheduler("*/10 * * * *", job, clock=clock, sleep=clock.sleep)
    assert len(scheduler.run()) == 1


def test_invalid_cron_is_a_config_error():
    with pytest.raises(ConfigError, match="--cron: 'every day'"):
        CronScheduler("every day", lambda tick: None)


# -- the pipeline job ------------------------------------------------------------------------------
class Locked(Exception):
    pass


@dataclass
class FakeNb:
    name: str
    status: str


@dataclass
class FakeRun:
    status: str
    exit_code: int
    notebooks: list


def test_pipeline_job_runs_the_tick_date_and_reports_status():
    calls = []

    def run_pipeline(params, run_date):
        calls.append(run_date)
        if run_date == "2024-01-02":
            raise Locked("another driftlib run for 'm' is in progress")
        nbs = [FakeNb("02_data_drift", "success"), FakeNb("03_concept_drift", "failed" if run_date == "2024-01-03"
                                                           else "success")]
        return FakeRun("failed" if run_date == "2024-01-03" else "success", 1 if run_date == "2024-01-03" else 0, nbs)

    job = pipeline_job("params", run_pipeline, (Locked,))
    ok, locked, failed = (job(datetime(2024, 1, d, 6, tzinfo=UTC)) for d in (1, 2, 3))
    assert calls == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert (ok.status, ok.exit_code) == ("success", 0)
    assert locked.status == "skipped" and "in progress" in locked.message
    assert (failed.status, failed.exit_code) == ("failed", 1) and "03_concept_drift" in failed.message


def test_a_run_holding_the_real_lock_makes_the_tick_skip(tmp_path):
    from tests.conftest import write_params

    from driftlib.config import load_params
    from driftlib.workbench.runner import run_lock

    params = load_params(write_params(tmp_path), check_files=False)
    held = run_lock(params)
    with held:
        outcome = pipeline_job(params)(datetime(2024, 1, 1, 6, tzinfo=UTC))
    assert outcome.status == "skipped"
    assert "in progress" in outcome.message


# -- the command -----------------------------------------------------------------------------------
def _app() -> typer.Typer:
    from driftlib.cli.schedule import schedule

    app = typer.Typer()
    app.command()(schedule)
    return app


def test_print_crontab_prints_a_runnable_line(tmp_path):
    from tests.conftest import write_params

    params_file = write_params(tmp_path)
    (tmp_path / "data").mkdir()
    for name in ("flights.parquet", "production.parquet"):  # params are checked before printing
        (tmp_path / "data" / name).touch()
    result = CliRunner().invoke(_app(), ["--params", str(params_file), "--cron", "30 5 * * 1-5",
                                         "--print-crontab"])
    assert result.exit_code == 0, result.output
    line = [ln for ln in result.output.splitlines() if not ln.startswith("#")][0]
    assert line.startswith("30 5 * * 1-5 cd ")
    _cd, mkdir, run = (shlex.split(part) for part in line.split(">>", 1)[0].split(" && "))
    assert mkdir[:2] == ["mkdir", "-p"] and line.split(">> ")[1].startswith(mkdir[2])
    command = run
    assert command[1:] == ["-m", "driftlib.cli", "run", "--params", str(params_file.resolve()), "--quiet"]


def test_bad_cron_exits_2_with_one_line(tmp_path):
    from tests.conftest import write_params

    result = CliRunner().invoke(_app(), ["--params", str(write_params(tmp_path)), "--cron", "61 * * * *"])
    assert result.exit_code == 2
    assert "--cron: '61 * * * *' is not a valid cron expression" in result.output
