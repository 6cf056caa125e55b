"""A versioned model registry in a local directory: cards, sha256-checked loading, atomic promotion.

Layout (DESIGN.md contract)::

    <root>/v0001/model.joblib   the artifact (joblib; loading a pickle executes code)
    <root>/v0001/card.json      version, created, sha256, training window, schema, metrics, gate ...
    <root>/CURRENT              the current version, one line, switched with os.replace
    <root>/history.jsonl        one record per promotion / rollback
    <root>/.lock                filelock guarding version allocation and pointer switches

A version directory appears whole (staged, then renamed into place), and CURRENT is the single
commit point of a promotion: a crash at any step leaves either the old or the new model current.
History is appended after the pointer switch; if a crash falls between the two, the next locked
operation notices that CURRENT is not the last recorded version and appends the missing record.
"""
from __future__ import annotations

import hashlib
import html
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import joblib
from filelock import FileLock

from driftlib.core.errors import ConfigError, DriftlibError
from driftlib.core.clock import utc_now
from driftlib.core.jsonio import atomic_open, fsync_dir, to_jsonable, write_json
from driftlib.core.lifeline import ensure_runner_alive

ARTIFACT = "model.joblib"
CARD = "card.json"
POINTER = "CURRENT"
HISTORY = "history.jsonl"
STATUSES = ("candidate", "rejected")
_VERSION_RE = re.compile(r"^v(\d{4,})$")
PROMOTE_STEPS = ("locked", "verified", "temp_written", "fsynced", "replaced", "dir_synced", "recorded")


class IntegrityError(DriftlibError):
    """An artifact does not match the sha256 in its card: refuse to unpickle it."""


class UnknownVersion(ConfigError):
    """The user named a version that is not in the registry (exit code 2)."""


class RegistryEmpty(DriftlibError):
    """There is no current model yet."""


def sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


@dataclass
class LoadedModel:
    """A verified model with the card it was registered under."""

    model: Any
    version: str
    card: dict = field(repr=False)


class Registry:
    """Local-directory model registry. `clock` returns an aware UTC datetime (injected for tests)."""

    def __init__(self, path: str | Path, *, clock: Callable[[], datetime] = utc_now,
                 lock_timeout: float = 60.0):
        self.root = Path(path)
        self.clock = clock
        self.lock_timeout = lock_timeout
        # Fault-injection seam for tests: called with each name in PROMOTE_STEPS during promote().
        self.on_step: Callable[[str], None] | None = None

    @classmethod
    def from_params(cls, params, **kwargs) -> "Registry":
        return cls(params.registry_dir, **kwargs)

    # -- paths -------------------------------------------------------------------------------------
    @property
    def pointer_path(self) -> Path:
        return self.root / POINTER

    @property
    def history_path(self) -> Path:
        return self.root / HISTORY

    def version_dir(self, version: str) -> Path:
        if not isinstance(version, str) or not _VERSION_RE.match(version):
            raise UnknownVersion(f"model version '{version}' is not of the form v0001")
        return self.root / version

    def _lock(self) -> FileLock:
        self.root.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.root / ".lock"), timeout=self.lock_timeout)

    def _now(self) -> str:
        return self.clock().astimezone(timezone.utc).isoformat()

    # -- registering -------------------------------------------------------------------------------
    def register(self, model: Any, card: dict, *, status: str = "candidate") -> str:
        """Store `model` with its card; return the new version. Never touches CURRENT."""
        ensure_runner_alive(f"register a model in {self.root}")
        if status not in STATUSES:
            raise ConfigError(f"registry status '{status}' must be one of {', '.join(STATUSES)}")
        self.root.mkdir(parents=True, exist_ok=True)
        stage = self.root / f".stage-{uuid.uuid4().hex}"
        stage.mkdir()
        try:
            joblib.dump(model, stage / ARTIFACT)
            digest = sha256_file(stage / ARTIFACT)
            size = (stage / ARTIFACT).stat().st_size
            with self._lock():
                version = self._next_version()
                full = {**card, "version": version, "created": self._now(), "status": status,
                        "artifact": ARTIFACT, "sha256": digest, "size_bytes": size}
                write_json(stage / CARD, full, fsync=True)
                os.rename(stage, self.root / version)
                fsync_dir(self.root)
        finally:
            if stage.exists():
                shutil.rmtree(stage, ignore_errors=True)
        return version

    def _next_version(self) -> str:
        numbers = [int(m.group(1)) for p in self.root.iterdir() if (m := _VERSION_RE.match(p.name))]
        return f"v{max(numbers, default=0) + 1:04d}"

    # -- reading -----------------------------------------------------------------------------------
    def versions(self) -> list[str]:
        """Registered versions (with a card), oldest first."""
        if not self.root.is_dir():
            return []
        found = [p.name for p in self.root.iterdir()
                 if _VERSION_RE.match(p.name) and (p / CARD).is_file()]
        return sorted(found, key=lambda v: int(v[1:]))

    def card(self, version: str) -> dict:
        path = self.version_dir(version) / CARD
        if not path.is_file():
            raise UnknownVersion(f"model version '{version}' is not registered in {self.root}")
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            raise IntegrityError(f"{path}: model card is not valid JSON") from None

    def current_version(self) -> str | None:
        try:
            text = self.pointer_path.read_text().strip()
        except FileNotFoundError:
            return None
        return text or None

    def list(self) -> list[dict]:
        """One row per version: card fields, `current`, `promoted` (ever) and `state`
        (current | retired = was current | candidate | rejected)."""
        current = self.current_version()
        promoted = {rec["version"] for rec in self.history()} | ({current} if current else set())
        rows = []
        for v in self.versions():
            card = self.card(v)
            state = ("current" if v == current else "retired" if v in promoted
                     else card.get("status"))
            rows.append({"version": v, "created": card.get("created"), "status": card.get("status"),
                         "state": state, "current": v == current, "promoted": v in promoted,
                         "parent": card.get("parent"), "metrics": card.get("metrics", {}),
                         "gate": (card.get("gate") or {}).get("decision")})
        return rows

    def history(self) -> list[dict]:
        """Promotion/rollback records, oldest first (a torn last line from a crash is skipped)."""
        try:
            lines = self.history_path.read_text().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def artifact_path(self, version: str, card: dict) -> Path:
        """The card's `artifact`, which must be a relative path inside the version folder: a card
        naming a file elsewhere (absolute, `..`, a symlink out) could make `load` unpickle, that
        is run, any file with a recomputed hash."""
        name = card.get("artifact", ARTIFACT)
        folder = self.version_dir(version).resolve()
        if not isinstance(name, str) or not name or Path(name).is_absolute() or "\\" in name:
            raise IntegrityError(f"model {version}: card.json 'artifact' must be a relative path "
                                 f"inside its version folder, got {name!r}")
        path = (folder / name).resolve()
        if folder not in path.parents:
            raise IntegrityError(f"model {version}: card.json 'artifact' {name!r} points outside "
                                 "its version folder; refusing to load it")
        return path

    def verify(self, version: str) -> dict:
        """Return the card if the artifact's sha256 matches it; raise IntegrityError otherwise."""
        card = self.card(version)
        artifact = self.artifact_path(version, card)
        if not artifact.is_file():
            raise IntegrityError(f"{artifact}: artifact of model {version} is missing")
        expected = card.get("sha256")
        actual = sha256_file(artifact)
        if not expected or actual != expected:
            raise IntegrityError(
                f"{artifact}: sha256 {actual[:12]}… does not match the card ({str(expected)[:12]}…); "
                "refusing to load a modified artifact")
        return card

    def load(self, version: str | None = None) -> LoadedModel:
        """Load `version` (default: current) after checking its sha256 against the card."""
        if version is None:
            version = self.current_version()
            if version is None:
                raise RegistryEmpty(f"{self.root}: no current model (train or promote one first)")
        card = self.verify(version)
        model = joblib.load(self.artifact_path(version, card))
        return LoadedModel(model=model, version=version, card=card)

    def current_model(self):
        """The current version's fitted model (pass the bound method where a model is needed lazily)."""
        return self.load().model

    # -- switching ---------------------------------------------------------------------------------
    def _step(self, name: str) -> None:
        if self.on_step is not None:
            self.on_step(name)

    def _stack(self) -> list[str]:
        """Versions that were current, innermost last: promote pushes, rollback pops."""
        stack: list[str] = []
        for rec in self.history():
            if rec.get("action") == "rollback":
                if stack:
                    stack.pop()
                if not stack or stack[-1] != rec["version"]:
                    stack.append(rec["version"])
            else:
                stack.append(rec["version"])
        current = self.current_version()
        if current and (not stack or stack[-1] != current):
            stack.append(current)
        return stack

    def _append_history(self, record: dict) -> None:
        line = json.dumps(to_jsonable(record), allow_nan=False) + "\n"
        with open(self.history_path, "a") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def _repair(self) -> None:
        """Append the record a crash between pointer switch and history append left out."""
        for stale in self.root.glob(f".{POINTER}.*.tmp"):  # temp pointers of crashed promotions
            stale.unlink(missing_ok=True)
        current = self.current_version()
        recorded = [r["version"] for r in self.history()]
        if current and (not recorded or recorded[-1] != current):
            prev = recorded[-1] if recorded else None
            self._append_history({"time": self._now(), "action": "promote", "version": current,
                                  "previous": prev, "reason": "recovered: pointer switched, "
                                  "history record missing after an interrupted promotion"})

    def _switch(self, version: str, action: str, reason: str) -> dict:
        """Point CURRENT at `version`; caller holds the lock."""
        ensure_runner_alive(f"{action} model {version}")
        self._step("locked")
        self._repair()
        self.verify(version)
        self._step("verified")
        previous = self.current_version()
        # temp pointer (.CURRENT.*.tmp), fsynced, renamed over CURRENT, directory fsynced
        with atomic_open(self.pointer_path, "w", fsync=True, before_replace=lambda: self._step("fsynced"),
                         after_replace=lambda: self._step("replaced")) as fh:
            fh.write(version + "\n")
            self._step("temp_written")
        self._step("dir_synced")
        record = {"time": self._now(), "action": action, "version": version,
                  "previous": previous, "reason": reason}
        self._append_history(record)
        self._step("recorded")
        return record

    def promote(self, version: str, reason: str = "", *, force: bool = False) -> dict:
        """Make `version` current (after a sha256 check); return the history record.

        A candidate the gate rejected is only promoted with `force=True` (a human override).
        """
        card = self.card(version)
        if card.get("status") == "rejected" and not force:
            raise ConfigError(f"model {version} was rejected by the gate; "
                              "promote it with force=True (CLI: --force) to override")
        with self._lock():
            return self._switch(version, "promote", reason)

    def rollback(self, reason: str = "rollback") -> dict:
        """Make the previously current version current again; return the history record."""
        with self._lock():
            self._repair()
            stack = self._stack()
            if len(stack) < 2:
                raise DriftlibError(f"{self.root}: no previous current version to roll back to")
            return self._switch(stack[-2], "rollback", reason)

    # -- display -----------------------------------------------------------------------------------
    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{'&#9654; ' if r['current'] else ''}{html.escape(r['version'])}</td>"
            f"<td>{html.escape(str(r['created'])[:19])}</td><td>{html.escape(str(r['state']))}</td>"
            f"<td>{html.escape(str(r['gate']))}</td><td>{html.escape(str(r['parent']))}</td></tr>"
            for r in self.list())
        # the folder's name only: a report must not print the machine's absolute paths
        return (f"<p>Model registry <code>{html.escape(self.root.name)}/</code></p><table>"
                "<tr><th>version</th><th>created</th><th>state</th><th>gate</th><th>parent</th></tr>"
                f"{rows}</table>")
