"""The files under monitoring/: alert rules (promtool-checked and unit-tested), the Grafana dashboard,
provisioning, the example Prometheus config and the systemd units."""
from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from driftlib.monitoring import textfile as metrics

from driftlib.monitoring import generate as monitoring
from driftlib.config import load_params

ROOT = Path(__file__).resolve().parents[1]
MON = ROOT / "monitoring"
DEMO = ROOT / "params" / "demo.yaml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package prometheus; "
                                                             ".ci/run installs it)")
BUILTIN = {"up"}
QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


def demo_params():
    return load_params(DEMO, check_files=False)


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (ours all start with driftlib_; `up` is Prometheus')."""
    bare = QUOTED.sub('""', expr)
    return set(re.findall(r"\b(driftlib_[a-zA-Z0-9_]+)", bare)) | (BUILTIN & set(re.findall(r"\b(\w+)\s*\{", bare)))


def rule_exprs() -> list[tuple[str, str]]:
    groups = yaml.safe_load((MON / monitoring.RULES_FILE).read_text())["groups"]
    return [(r["alert"], r["expr"]) for g in groups for r in g["rules"]]


# -- generated files are current -----------------------------------------------------------------
def test_committed_rules_and_dashboard_are_what_the_params_render():
    for rel, text in monitoring.expected_files(demo_params(), "params/demo.yaml").items():
        assert (MON / rel).read_text() == text, (
            f"monitoring/{rel} is stale: run python -m driftlib.monitoring --params params/demo.yaml --out monitoring")


def test_rule_thresholds_are_the_params_values():
    p = demo_params()
    exprs = dict(rule_exprs())
    assert exprs["DriftlibDatasetDriftPersistent"].endswith(f">= {p.monitoring.drift_consecutive_runs}")
    assert exprs["DriftlibPipelineStale"].endswith(f"> {int(p.monitoring.expected_interval_hours * 3600)}")
    assert exprs["DriftlibPerformanceDrop"].count(f") > {p.monitoring.performance_drop:g}") == 2
    assert exprs["DriftlibServiceErrorRate"].endswith(f"> {p.monitoring.max_error_ratio:g}")
    assert f'job="{p.monitoring.service_job}"' in exprs["DriftlibServiceDown"]
    assert all(f'model="{p.name}"' in e for a, e in exprs.items() if not a.startswith("DriftlibService"))


def test_changed_params_change_the_rules():
    p = demo_params().model_copy(deep=True)
    p.monitoring.drift_consecutive_runs, p.monitoring.expected_interval_hours = 5, 1.5
    p.concept.metric = "rmse"
    exprs = {r["alert"]: r for r in monitoring.alert_rules(p)["groups"][0]["rules"]}
    assert exprs["DriftlibDatasetDriftPersistent"]["expr"].endswith(">= 5")
    assert exprs["DriftlibPipelineStale"]["expr"].endswith("> 5400")
    assert exprs["DriftlibRunMetricsMissing"]["for"] == "1h30m"
    assert "group_left" in exprs["DriftlibPerformanceDrop"]["expr"]  # lower rmse is better: sign flips


def test_rules_use_only_catalogued_metrics():
    for alert, expr in rule_exprs():
        names = metric_names(expr)
        assert names, alert
        assert names <= metrics.exposed_names() | BUILTIN, (alert, names - metrics.exposed_names())


# -- promtool ------------------------------------------------------------------------------------
@needs_promtool
def test_promtool_checks_the_rules_and_the_example_config():
    proc = promtool("check", "rules", str(MON / monitoring.RULES_FILE))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = promtool("check", "config", str(MON / "prometheus" / "prometheus.yml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_promtool
def test_promtool_unit_tests_cover_firing_and_not_firing_for_every_alert():
    proc = promtool("test", "rules", "alerts.test.yml", cwd=MON / "prometheus")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tests = yaml.safe_load((MON / "prometheus" / "alerts.test.yml").read_text())["tests"]
    cases = [c for t in tests for c in t["alert_rule_test"]]
    for alert, _ in rule_exprs():
        outcomes = {bool(c["exp_alerts"]) for c in cases if c["alertname"] == alert}
        assert outcomes == {True, False}, f"{alert}: needs a firing and a not-firing case"


@needs_promtool
def test_promtool_unit_tests_catch_a_wrong_threshold(tmp_path):
    p = demo_params().model_copy(deep=True)
    p.monitoring.drift_consecutive_runs = 4
    (tmp_path / "alerts.yml").write_text(monitoring.render_rules(p))
    shutil.copy(MON / "prometheus" / "alerts.test.yml", tmp_path)
    proc = promtool("test", "rules", "alerts.test.yml", cwd=tmp_path)
    assert proc.returncode != 0 and "DriftlibDatasetDriftPersistent" in proc.stdout + proc.stderr


# -- the Grafana dashboard -----------------------------------------------------------------------
def dashboard() -> dict:
    return json.loads((MON / monitoring.DASHBOARD_FILE).read_text())


def test_every_dashboard_metric_is_in_the_catalogue():
    exprs = monitoring.panel_exprs(dashboard())
    assert len(exprs) >= 20
    for title, expr in exprs:
        names = metric_names(expr)
        assert names, title
        assert names <= metrics.exposed_names() | BUILTIN, (title, names - metrics.exposed_names())


@needs_promtool
def test_every_dashboard_expression_is_valid_promql(tmp_path):
    subst = {"$__rate_interval": "5m", "$model": ".*", "$job": ".*"}
    rules = []
    for i, (title, expr) in enumerate(monitoring.panel_exprs(dashboard())):
        for var, value in subst.items():
            expr = expr.replace(var, value)
        assert "$" not in expr, (title, expr)
        rules.append({"record": f"dashboard:panel_{i}", "expr": expr})
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    proc = promtool("check", "rules", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dashboard_structure_and_required_panels():
    d = dashboard()
    panels = d["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    ds = yaml.safe_load((MON / "grafana/provisioning/datasources/driftlib.yaml").read_text())["datasources"][0]
    assert ds["type"] == "prometheus" and ds["url"].startswith("http://127.0.0.1")
    for p in panels:
        if p["type"] == "row":
            continue
        assert p["datasource"]["uid"] == ds["uid"]
        assert all(t["datasource"]["uid"] == ds["uid"] for t in p["targets"])
        assert p["fieldConfig"]["defaults"]["unit"]
    cells = set()
    for p in panels:  # no two panels overlap on the 24-column grid
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not (cells & mine), p["title"]
        cells |= mine
    by_metric = {name: p["type"] for p in panels for t in p.get("targets", []) for name in metric_names(t["expr"])}
    assert by_metric["driftlib_feature_drifted"] in ("status-history", "heatmap", "table")
    colors = {p["title"]: {k: v["color"] for m in p["fieldConfig"]["defaults"]["mappings"]
                           for k, v in m["options"].items()}
              for p in panels if p["type"] != "row" and p["fieldConfig"]["defaults"]["mappings"]}
    assert colors["Drifted features over time (heatmap)"] == {"1": "red", "0": "green"}
    assert colors["Dataset drift (latest run)"] == {"1": "red", "0": "green"}
    assert colors["Latest run"] == colors["Service up"] == {"1": "green", "0": "red"}
    for name in ("driftlib_drifted_features_ratio", "driftlib_performance", "driftlib_run_success",
                 "driftlib_current_model_info", "driftlib_http_requests_total",
                 "driftlib_http_request_duration_seconds_bucket", "driftlib_feature_drift_score"):
        assert name in by_metric, name
    kinds = {t["expr"] for p in panels for t in p.get("targets", []) if "driftlib_performance{" in t["expr"]}
    assert kinds, "performance realized vs estimated panel"
    assert [v["name"] for v in d["templating"]["list"]] == ["model", "job"]


def test_dashboard_shows_searched_slices_and_the_regression_error_estimate():
    """Every gauge of notebook 02/03's slice searches and of direct loss estimation is on a panel; the
    estimate is drawn with its bounds beside the realized error, and its reliability flag is coloured."""
    panels = [p for p in dashboard()["panels"] if p["type"] != "row"]
    by_metric = {}
    for p in panels:
        for t in p["targets"]:
            for name in metric_names(t["expr"]):
                by_metric.setdefault(name, []).append((p["title"], t["expr"]))
    slices = [name for name in metrics.exposed_names() if name.endswith("_slices")]
    dle = [name for name in metrics.exposed_names() if name.startswith("driftlib_estimated_regression_error")]
    assert {"driftlib_degraded_slices", "driftlib_drifted_slices"} <= set(slices) and len(dle) == 4
    for name in slices + dle:
        assert name in by_metric, f"no panel shows {name}"
    (title, _), *_ = by_metric["driftlib_estimated_regression_error"]
    panel = next(p for p in panels if p["title"] == title)
    exprs = [t["expr"] for t in panel["targets"]]
    assert panel["type"] == "timeseries"
    for bound in ("driftlib_estimated_regression_error_lower", "driftlib_estimated_regression_error_upper"):
        assert any(bound in e for e in exprs), bound
    realized = [e for e in exprs if "driftlib_performance{" in e]
    assert realized and 'kind="realized"' in realized[0] and "mae" in realized[0], exprs
    (flag_title, _), = by_metric["driftlib_estimated_regression_error_reliable"]
    flag = next(p for p in panels if p["title"] == flag_title)
    colors = {k: v["color"] for m in flag["fieldConfig"]["defaults"]["mappings"] for k, v in m["options"].items()}
    assert colors == {"1": "green", "0": "red"}


def test_dashboard_provisioning_points_at_a_folder_of_json_files():
    prov = yaml.safe_load((MON / "grafana/provisioning/dashboards/driftlib.yaml").read_text())
    (provider,) = prov["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]
    assert dashboard()["uid"] == monitoring.DASHBOARD_UID


# -- systemd units -------------------------------------------------------------------------------
UNITS = sorted((MON / "systemd").glob("*@.*"))


def _instantiate(unit: Path, dest: Path) -> Path:
    """Instance `demo`, with /opt/driftlib replaced by this checkout (systemd checks the binary exists)."""
    venv_bin = Path(shutil.which("driftlib") or ROOT / ".venv/bin/driftlib").parent
    text = unit.read_text().replace("/opt/driftlib/.venv/bin", str(venv_bin)).replace("/opt/driftlib", str(ROOT))
    out = dest / unit.name.replace("@.", "@demo.")
    out.write_text(text)
    return out


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_units_verify(tmp_path):
    assert {u.name for u in UNITS} == {"driftlib-run@.service", "driftlib-run@.timer", "driftlib-serve@.service"}
    units = [_instantiate(u, tmp_path) for u in UNITS]
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", *map(str, units)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr


def test_systemd_exec_lines_are_valid_driftlib_commands(tmp_path):
    from driftlib.cli.run import run
    from driftlib.cli.serve import serve

    commands = {"run": run, "serve": serve}
    for unit in UNITS:
        for line in unit.read_text().splitlines():
            if line.startswith("ExecStart="):
                argv = shlex.split(line.split("=", 1)[1].replace("%i", "no-such-model"))
                assert Path(argv[0]).name == "driftlib"
                app = typer.Typer()
                app.command()(commands[argv[1]])
                result = CliRunner().invoke(app, argv[2:])
                # the options parse; the command then stops at the missing params file
                assert result.exit_code == 2 and "params file not found" in result.output, (unit.name, result.output)


def test_timer_schedule_matches_the_scheduler_default():
    from driftlib.cli.schedule import schedule

    timer = (MON / "systemd" / "driftlib-run@.timer").read_text()
    assert "OnCalendar=*-*-* 06:00:00 UTC" in timer
    import inspect

    assert inspect.signature(schedule).parameters["cron"].default.default == "0 6 * * *"
