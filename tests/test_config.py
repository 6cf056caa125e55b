"""Bad configuration fails before any notebook runs: exit code 2, one line naming file and field."""
from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from driftlib.cli import app
from driftlib.config import load_params
from driftlib.core.errors import ConfigError
from tests.conftest import ROOT, write_params


def _write(tmp_path, data) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return str(path)


def _base(tmp_path) -> dict:
    return yaml.safe_load(write_params(tmp_path).read_text())


def test_demo_and_example_params_load():
    for name in ("demo.yaml", "example_csv.yaml"):
        params = load_params(ROOT / "params" / name)
        assert params.root_dir == ROOT


@pytest.mark.parametrize("mutate, expected", [
    (lambda d: d.update(bogus=1), "unknown key 'bogus'"),
    (lambda d: d["drift"].update(min_rows="many"), "field 'drift.min_rows'"),
    (lambda d: d["drift"].update(drift_shar=0.3), "unknown key 'drift.drift_shar'"),
    (lambda d: d.pop("columns"), "missing required key 'columns'"),
    (lambda d: d["reference"].update(path="nope/missing.parquet"), "field 'reference.path': no file matches"),
    (lambda d: d["production"].update(path=None), "production.path is required"),
    (lambda d: d.update(task="ranking"), "field 'task'"),
])
def test_bad_params_name_file_and_field(tmp_path, mutate, expected):
    data = _base(tmp_path)
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError) as err:
        load_params(path)
    assert expected in str(err.value) and "bad.yaml" in str(err.value)


def test_not_yaml_reports_line(tmp_path):
    with pytest.raises(ConfigError, match=r"bad.yaml: not valid YAML \(line 2\)"):
        load_params(_write(tmp_path, "name: x\n  bad: [\n"))


def test_cli_exits_2_with_one_line_before_running(tmp_path):
    data = _base(tmp_path)
    data["drift"]["min_rows"] = "many"
    result = CliRunner().invoke(app, ["run", "--params", _write(tmp_path, data)])
    assert result.exit_code == 2
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "bad.yaml" in lines[0] and "drift.min_rows" in lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "outputs").exists()


def test_cli_missing_params_file(tmp_path):
    result = CliRunner().invoke(app, ["run", "--params", str(tmp_path / "absent.yaml")])
    assert result.exit_code == 2 and "params file not found" in result.output


def test_bad_run_date_is_exit_2(slice_project):
    result = CliRunner().invoke(app, ["run", "--params", str(slice_project), "--date", "2013-13-45"])
    assert result.exit_code == 2 and "--date" in result.output


def test_relative_paths_resolve_against_root_not_cwd(tmp_path, monkeypatch):
    params = load_params(write_params(tmp_path), check_files=False)
    monkeypatch.chdir("/")
    assert params.path("data/x.csv") == tmp_path / "data" / "x.csv"
