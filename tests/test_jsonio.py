"""core.jsonio: the one atomic writer (text, bytes, JSON, any writer taking a path)."""
from __future__ import annotations

import json

import pytest

from driftlib.core.jsonio import atomic_open, atomic_path, atomic_write_bytes, atomic_write_text, write_json


def test_writers_replace_whole_files_and_leave_no_temporaries(tmp_path):
    target = tmp_path / "deep" / "x.txt"
    assert atomic_write_text(target, "é\n") == target and target.read_bytes() == "é\n".encode()
    atomic_write_bytes(target, b"\x00\x01", fsync=True)
    assert target.read_bytes() == b"\x00\x01"
    write_json(tmp_path / "v.json", {"a": float("nan")}, fsync=True)
    assert json.loads((tmp_path / "v.json").read_text()) == {"a": None}
    with atomic_path(tmp_path / "p.bin") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".p.bin.") and tmp.name.endswith(".tmp")
        tmp.write_bytes(b"ok")
    assert (tmp_path / "p.bin").read_bytes() == b"ok"
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_failing_writer_leaves_the_old_file(tmp_path):
    target = tmp_path / "x.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(target, "w") as fh:
            fh.write("half")
            raise RuntimeError("disk on fire")
    with pytest.raises(RuntimeError):
        with atomic_path(target, before_replace=lambda: (_ for _ in ()).throw(RuntimeError())) as tmp:
            tmp.write_text("new")
    assert target.read_text() == "old" and not list(tmp_path.glob(".*.tmp"))


def test_hooks_run_around_the_rename(tmp_path):
    target, seen = tmp_path / "CURRENT", []
    with atomic_open(target, fsync=True, before_replace=lambda: seen.append(target.exists()),
                     after_replace=lambda: seen.append(target.read_text())) as fh:
        fh.write("v0001\n")
    assert seen == [False, "v0001\n"]
