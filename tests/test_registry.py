"""Registry: cards, sha256-checked loading, atomic promotion, rollback, concurrency."""
from __future__ import annotations

import json
import multiprocessing as mp
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone

import pytest

from driftlib.core.errors import ConfigError, DriftlibError
from driftlib.models.registry import (PROMOTE_STEPS, IntegrityError, Registry, RegistryEmpty,
                               UnknownVersion)


class Clock:
    def __init__(self):
        self.t = datetime(2013, 3, 1, tzinfo=timezone.utc)

    def __call__(self):
        self.t += timedelta(seconds=1)
        return self.t


class Model:
    """A picklable stand-in: predicts its own constant."""

    def __init__(self, value):
        self.value = value

    def predict(self, rows):
        return [self.value] * len(rows)


@pytest.fixture
def reg(tmp_path):
    return Registry(tmp_path / "models", clock=Clock())


def test_register_writes_artifact_and_card(reg):
    v = reg.register(Model(1), {"metrics": {"roc_auc": 0.7}, "parent": None})
    assert v == "v0001"
    card = json.loads((reg.root / v / "card.json").read_text())
    assert card["version"] == v and card["status"] == "candidate"
    assert card["created"] == "2013-03-01T00:00:01+00:00"
    assert len(card["sha256"]) == 64 and card["metrics"] == {"roc_auc": 0.7}
    assert (reg.root / v / "model.joblib").is_file()
    assert reg.current_version() is None  # registering never promotes
    assert reg.register(Model(2), {}) == "v0002"


def test_load_current_and_by_version(reg):
    v1 = reg.register(Model(1), {})
    v2 = reg.register(Model(2), {})
    with pytest.raises(RegistryEmpty):
        reg.load()
    reg.promote(v2, reason="first")
    loaded = reg.load()
    assert (loaded.version, loaded.model.predict([0])) == (v2, [2])
    assert reg.load(v1).model.value == 1
    assert reg.pointer_path.read_text().strip() == v2


def test_tampered_artifact_is_refused(reg):
    v = reg.register(Model(1), {})
    reg.promote(v)
    path = reg.root / v / "model.joblib"
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(IntegrityError, match="sha256"):
        reg.load()
    with pytest.raises(IntegrityError):
        reg.promote(v)


def test_edited_card_hash_is_refused(reg):
    v = reg.register(Model(1), {})
    card_path = reg.root / v / "card.json"
    card = json.loads(card_path.read_text())
    card["sha256"] = "0" * 64
    card_path.write_text(json.dumps(card))
    with pytest.raises(IntegrityError):
        reg.load(v)


@pytest.mark.parametrize("where", ["absolute", "dotdot", "symlink"])
def test_card_artifact_outside_its_version_folder_is_never_unpickled(reg, tmp_path, where):
    """Before: an absolute path outside the registry with a recomputed hash was loaded (its pickle ran)."""
    import joblib

    from driftlib.models.registry import sha256_file

    v = reg.register(Model(1), {})
    evil = tmp_path / "evil.joblib"
    joblib.dump(Model(666), evil)
    card_path = reg.root / v / "card.json"
    card = json.loads(card_path.read_text())
    if where == "absolute":
        card["artifact"] = str(evil)
    elif where == "dotdot":
        card["artifact"] = "../../evil.joblib"
    else:
        (reg.root / v / "link.joblib").symlink_to(evil)
        card["artifact"] = "link.joblib"
    card["sha256"] = sha256_file(evil)
    card_path.write_text(json.dumps(card))
    with pytest.raises(IntegrityError, match="version folder"):
        reg.load(v)
    with pytest.raises(IntegrityError):
        reg.promote(v)


def test_unknown_and_malformed_versions_are_user_errors(reg):
    reg.register(Model(1), {})
    for bad in ("v0009", "../etc", "latest"):
        with pytest.raises(UnknownVersion) as err:
            reg.card(bad)
        assert isinstance(err.value, ConfigError)


def test_rejected_candidate_needs_force(reg):
    v = reg.register(Model(1), {"gate": {"decision": "rejected"}}, status="rejected")
    with pytest.raises(ConfigError, match="rejected"):
        reg.promote(v)
    reg.promote(v, reason="manual override", force=True)
    assert reg.current_version() == v


def test_history_and_rollback(reg):
    v1, v2, v3 = (reg.register(Model(i), {}) for i in range(3))
    reg.promote(v1, "initial")
    reg.promote(v2, "retrained")
    reg.promote(v3, "retrained again")
    assert reg.rollback()["version"] == v2
    assert reg.load().version == v2
    assert reg.rollback()["version"] == v1
    with pytest.raises(DriftlibError, match="no previous"):
        reg.rollback()
    hist = reg.history()
    assert [(h["action"], h["version"], h["previous"]) for h in hist] == [
        ("promote", v1, None), ("promote", v2, v1), ("promote", v3, v2),
        ("rollback", v2, v3), ("rollback", v1, v2)]
    rows = {r["version"]: r for r in reg.list()}
    assert rows[v1]["current"] and not rows[v2]["current"] and rows[v3]["promoted"]
    assert [rows[v]["state"] for v in (v1, v2, v3)] == ["current", "retired", "retired"]
    v4 = reg.register(Model(4), {}, status="rejected")
    assert reg.list()[-1]["state"] == "rejected"
    assert reg.card(v4)["status"] == "rejected"


def test_rollback_after_promote_following_rollback(reg):
    v1, v2, v3 = (reg.register(Model(i), {}) for i in range(3))
    reg.promote(v1)
    reg.promote(v2)
    reg.rollback()
    reg.promote(v3)
    assert reg.rollback()["version"] == v1  # v2 was rolled back: it is not "previous" any more


def _consistent(reg: Registry, allowed: set[str]) -> str:
    current = reg.current_version()
    assert current in allowed
    assert reg.load().version == current  # loadable, sha256 ok
    assert not list(reg.root.glob(".stage-*"))
    return current


@pytest.mark.parametrize("step", PROMOTE_STEPS)
def test_failure_at_each_promote_step_leaves_old_or_new(reg, step):
    v1, v2 = reg.register(Model(1), {}), reg.register(Model(2), {})
    reg.promote(v1)

    def boom(name):
        if name == step:
            raise RuntimeError(f"injected at {name}")

    reg.on_step = boom
    with pytest.raises(RuntimeError):
        reg.promote(v2)
    reg.on_step = None
    current = _consistent(reg, {v1, v2})
    assert current == (v2 if PROMOTE_STEPS.index(step) >= PROMOTE_STEPS.index("replaced") else v1)
    v3 = reg.register(Model(3), {})
    reg.promote(v3)  # the registry still works, and history agrees with the pointer
    assert reg.history()[-1]["version"] == v3
    assert reg.history()[-2]["version"] == current
    assert reg.rollback()["version"] == current
    assert not list(reg.root.glob(".CURRENT.*.tmp"))


_CRASH = """
import os, sys
from driftlib.models.registry import Registry
reg = Registry(sys.argv[1])
step = sys.argv[2]
reg.on_step = lambda name: os._exit(9) if name == step else None
reg.promote(sys.argv[3])
"""


@pytest.mark.parametrize("step", ["temp_written", "fsynced", "replaced", "dir_synced"])
def test_process_killed_mid_promote_leaves_old_or_new(reg, step):
    v1, v2 = reg.register(Model(1), {}), reg.register(Model(2), {})
    reg.promote(v1)
    proc = subprocess.run([sys.executable, "-c", _CRASH, str(reg.root), step, v2])
    assert proc.returncode == 9
    current = _consistent(reg, {v1, v2})
    reg.promote(v1, "after crash")
    assert [h["version"] for h in reg.history()][-2:] == [current, v1]


def test_concurrent_registers_get_distinct_versions(reg):
    out: list[str] = []
    threads = [threading.Thread(target=lambda i=i: out.append(reg.register(Model(i), {})))
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(out) == [f"v{i:04d}" for i in range(1, 9)]
    assert reg.versions() == sorted(out)


def _promote_many(root: str, versions: list[str], rounds: int) -> None:
    reg = Registry(root)
    for i in range(rounds):
        reg.promote(versions[i % len(versions)], reason="race")


def test_concurrent_promotes_keep_pointer_and_history_consistent(reg):
    versions = [reg.register(Model(i), {}) for i in range(3)]
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_promote_many, args=(str(reg.root), versions[k:] + versions[:k], 15))
             for k in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    hist = reg.history()
    assert len(hist) == 45
    assert reg.current_version() == hist[-1]["version"]
    for before, after in zip(hist, hist[1:]):  # every switch saw the pointer the previous one left
        assert after["previous"] == before["version"]
    assert reg.load().version in versions
    assert not list(reg.root.glob(".CURRENT.*.tmp"))


def test_register_help_says_a_pickle_is_code():
    from typer.testing import CliRunner

    from driftlib.cli.models import app

    out = CliRunner().invoke(app, ["register", "--help"], terminal_width=200)
    assert out.exit_code == 0 and "a joblib/pickle file is code" in " ".join(out.output.split())


# -- components chosen by name: one helper, one message ----------------------------------------------
def test_named_components_give_one_line_config_errors_naming_the_field():
    import pandas as pd

    from driftlib.config import RetrainConfig
    from driftlib.core.names import Names
    from driftlib.inference_log.sink import SINKS
    from driftlib.models.estimators import ESTIMATORS
    from driftlib.models.training import STRATEGIES, training_window

    from driftlib.concept.estimate import CALIBRATORS
    from driftlib.concept.onset import DETECTORS
    from driftlib.concept.shift import LEARNERS
    from driftlib.drift.multivariate import DETECTORS as MULTIVARIATE
    from driftlib.drift.stats import STAT_TESTS

    for names, field, kind in [(ESTIMATORS, "model.estimator", "estimator"), (SINKS, "log.sink", "sink"),
                               (STRATEGIES, "retrain.strategy", "strategy"), (LEARNERS, "concept.learner", "learner"),
                               (CALIBRATORS, "concept.calibration", "calibrator"),
                               (DETECTORS, "concept.detectors", "detector"), (MULTIVARIATE, "detectors", "detector"),
                               (STAT_TESTS, "drift.columns.method", "stat test")]:
        assert isinstance(names, Names) and names.field == field
        with pytest.raises(ConfigError, match=rf"^p.yaml: field '{field}': unknown {kind} 'nope' \(choose from ") as err:
            names.get("nope", source="p.yaml")
        assert "\n" not in str(err.value) and err.value.exit_code == 2
    assert {"all", "sliding", "weighted"} == set(STRATEGIES) and "jsonl" in SINKS
    cfg = RetrainConfig(strategy="all")
    frame = pd.DataFrame({"t": pd.to_datetime(["2024-01-01", "2024-02-01"], utc=True)})
    rows, weights = training_window(cfg, frame, "t", pd.Timestamp("2024-01-15", tz="UTC"))
    assert len(rows) == 1 and weights is None
