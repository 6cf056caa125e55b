"""Alertmanager: the route tree, inhibition and receivers of monitoring/alertmanager/alertmanager.yml.

Fast checks: the template's placeholders are the documented variables, `envsubst` renders it, `amtool
check-config` accepts the result and `amtool config routes test` sends every generated alert to the
receiver its severity asks for. End to end (slow): a real Prometheus scrapes a run's textfile served on
127.0.0.1, evaluates the generated rules and sends to a real Alertmanager, which notifies local receivers
(webhook, Slack-compatible webhook, SMTP) and inhibits the drift alerts once the run-failed alert fires.
Every server binds 127.0.0.1 on a free port, keeps its state in tmp_path and is stopped in a finally block
(subprocesses by their own pid).
"""
from __future__ import annotations

import email
import json
import os
import re
import shutil
import socketserver
import subprocess
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterator, Mapping

import httpx
import pytest
import yaml

from driftlib.service.client import free_port
from driftlib.config import load_params, parse_params
from driftlib.monitoring import generate, textfile

ROOT = Path(__file__).resolve().parents[1]
AM_DIR = ROOT / "monitoring" / "alertmanager"
TEMPLATE = AM_DIR / "alertmanager.yml"
ENV_EXAMPLE = AM_DIR / "alertmanager.env.example"
RULES = ROOT / "monitoring" / generate.RULES_FILE
AMTOOL = shutil.which("amtool")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
PROMETHEUS = shutil.which("prometheus")
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
RECEIVER_OF = {"critical": "page", "warning": "notify"}
DRIFT_ALERTS = {"DriftlibDatasetDriftPersistent", "DriftlibImportantFeatureDrift", "DriftlibPerformanceDrop",
                "DriftlibConceptDrift", "DriftlibMultivariateDrift", "DriftlibDriftUntestable",
                "DriftlibInputRecordsSkipped"}
RUN_DOWN_ALERTS = {"DriftlibPipelineFailed", "DriftlibPipelineStale"}
REPORT_OF = {  # the page of the run each alert links to, under monitoring.report_base_url
    "DriftlibDatasetDriftPersistent": "02_data_drift.html", "DriftlibImportantFeatureDrift": "02_data_drift.html",
    "DriftlibMultivariateDrift": "02_data_drift.html", "DriftlibDriftUntestable": "02_data_drift.html",
    "DriftlibPerformanceDrop": "03_concept_drift.html", "DriftlibConceptDrift": "03_concept_drift.html",
    "DriftlibPipelineFailed": "index.html", "DriftlibPipelineStale": "index.html", "DriftlibRunMetricsMissing": None,
    "DriftlibInputRecordsSkipped": None}

needs_amtool = pytest.mark.skipif(AMTOOL is None, reason="amtool not installed (Debian package "
                                                         "prometheus-alertmanager; .ci/run installs it)")


def env_example() -> dict[str, str]:
    """KEY=VALUE lines of alertmanager.env.example (comments and blank lines skipped)."""
    pairs = (line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#"))
    return {key.strip(): value for key, value in pairs}


def render(env: Mapping[str, str]) -> str:
    """What `envsubst` makes of the template: each placeholder replaced, unset ones by ''."""
    return PLACEHOLDER.sub(lambda m: env.get(m.group(1), ""), TEMPLATE.read_text())


def amtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([AMTOOL, *args], capture_output=True, text=True, timeout=30)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("alertmanager") / "alertmanager.yml"
    path.write_text(render(env_example()))
    return path


def generated_rules() -> list[dict]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


# -- the template ----------------------------------------------------------------------------------
def test_placeholders_are_exactly_the_documented_variables():
    text = TEMPLATE.read_text()
    assert text.count("$") == len(PLACEHOLDER.findall(text)), "a dollar sign envsubst would replace"
    assert set(PLACEHOLDER.findall(text)) == set(env_example())


@pytest.mark.skipif(shutil.which("envsubst") is None, reason="envsubst (gettext-base) not installed")
def test_envsubst_renders_what_the_tests_check():
    proc = subprocess.run(["envsubst"], input=TEMPLATE.read_text(), capture_output=True, text=True, timeout=30,
                          env={"PATH": os.environ.get("PATH", ""), **env_example()})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == render(env_example())


@needs_amtool
def test_amtool_accepts_the_rendered_config(rendered):
    proc = amtool("check-config", str(rendered))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 receivers" in proc.stdout and "2 inhibit rules" in proc.stdout


@needs_amtool
@pytest.mark.parametrize("unset", ["SMTP_SMARTHOST", "SLACK_WEBHOOK_URL", "DRIFTLIB_WEBHOOK_URL"])
def test_amtool_rejects_a_config_rendered_without_a_variable(tmp_path, unset):
    env = {k: v for k, v in env_example().items() if k != unset}
    path = tmp_path / "alertmanager.yml"
    path.write_text(render(env))
    assert amtool("check-config", str(path)).returncode != 0


def test_receivers_route_tree_and_inhibition(rendered):
    config = yaml.safe_load(rendered.read_text())
    receivers = {r["name"]: r for r in config["receivers"]}
    assert set(receivers) == set(RECEIVER_OF.values())
    for receiver in receivers.values():
        assert {"webhook_configs", "email_configs", "slack_configs"} <= set(receiver), receiver["name"]
    route = config["route"]
    assert route["group_by"] == ["model", "severity"] and route["receiver"] == "notify"
    assert {r["matchers"][0]: r["receiver"] for r in route["routes"]} == {
        f'severity="{s}"': receiver for s, receiver in RECEIVER_OF.items()}
    names = {r["alert"] for r in generated_rules()}

    def alertnames(matcher: str) -> set[str]:
        found = re.fullmatch(r'alertname=~?"([A-Za-z|]+)"', matcher)
        assert found, matcher
        return set(found.group(1).split("|"))

    (drift,) = [r for r in config["inhibit_rules"] if r["equal"] == ["model"]]
    assert alertnames(drift["source_matchers"][0]) == RUN_DOWN_ALERTS
    assert alertnames(drift["target_matchers"][0]) == DRIFT_ALERTS
    for rule in config["inhibit_rules"]:  # only alerts the rule file defines
        assert alertnames(rule["source_matchers"][0]) | alertnames(rule["target_matchers"][0]) <= names


# -- routing of every generated alert ---------------------------------------------------------------
def _route_cases() -> list[tuple[str, dict[str, str]]]:
    cases = []
    for rule in generated_rules():
        labels = {"alertname": rule["alert"], **rule["labels"]}
        if rule["alert"].startswith("DriftlibService"):
            labels.update(job="driftlib", instance="127.0.0.1:8000")
        else:
            labels["model"] = "flights-late"
        cases.append((RECEIVER_OF[rule["labels"]["severity"]], labels))
    cases.append(("notify", {"alertname": "SomethingElse", "model": "flights-late"}))  # no severity: notify
    return cases


@needs_amtool
@pytest.mark.parametrize(("receiver", "labels"), _route_cases(), ids=lambda v: v.get("alertname", v)
                         if isinstance(v, dict) else v)
def test_amtool_routes_each_alert_to_its_receiver(rendered, receiver, labels):
    proc = amtool("config", "routes", "test", f"--config.file={rendered}", f"--verify.receivers={receiver}",
                  *(f"{k}={v}" for k, v in labels.items()))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == receiver


def test_every_run_alert_carries_summary_run_date_and_report_link():
    base = load_params(ROOT / "params" / "demo.yaml", check_files=False).monitoring.report_base_url
    assert base == "http://127.0.0.1:8080"  # the documented default
    for rule in generated_rules():
        annotations = rule["annotations"]
        assert annotations["summary"], rule["alert"]
        if rule["alert"].startswith("DriftlibService"):
            continue
        assert set(annotations) >= {"run_date", "report_url"}, rule["alert"]
        assert "driftlib_run_date_timestamp_seconds" in annotations["run_date"], rule["alert"]
        report = REPORT_OF[rule["alert"]]
        if report:
            assert f'{base}/{{{{ (. | first | value | toTime).Format "2006-01-02" }}}}/{report}' in \
                annotations["report_url"], rule["alert"]
        assert annotations["report_url"].endswith(f"{base}/index.html{{{{ end }}}}" if report else f"{base}/index.html")


def test_the_textfile_carries_the_run_date_not_the_finish_time(tmp_path):
    params = parse_params({"name": "m1", "root": str(tmp_path), "reference": {"path": "ref.csv"},
                           "columns": {"timestamp": "ts"}, "monitoring": {"textfile_dir": "metrics"}},
                          str(tmp_path / "params.yaml"))
    finished = datetime(2026, 1, 5, 6, 30, tzinfo=timezone.utc)  # a backfill: run today for 2013-05-01
    path = textfile.write_run_metrics(params, run_summary("2013-05-01", "success", finished))
    samples = {s.name: s.value for s in textfile.read_textfile(path).get("driftlib_run_date_timestamp_seconds", [])}
    assert samples == {"driftlib_run_date_timestamp_seconds": datetime(2013, 5, 1, tzinfo=timezone.utc).timestamp()}


# -- end to end: Prometheus -> Alertmanager -> receivers ---------------------------------------------
def wait_for(check: Callable, what: str, procs: Mapping[str, subprocess.Popen] = {}, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"{what}: {name} exited with {proc.returncode}: {_log_tail(proc)}")
        try:
            result = check()
        except httpx.HTTPError:
            result = None
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def _log_tail(proc: subprocess.Popen) -> str:
    return getattr(proc, "log_tail", lambda: "")()


@contextmanager
def started(name: str, argv: list[str], ready_url: str, log: Path) -> Iterator[subprocess.Popen]:
    """Run `argv` in its own session, wait until `ready_url` answers 200, stop it by its pid."""
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        proc.log_tail = lambda: log.read_text(errors="replace")[-800:]
        try:
            wait_for(lambda: httpx.get(ready_url, timeout=1).status_code == 200, f"{name} ready", {name: proc})
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


@contextmanager
def serving(server: socketserver.BaseServer) -> Iterator[int]:
    """Serve `server` (bound to 127.0.0.1) from a thread; yield its port; shut it down at the end."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


class Received:
    """What the local receivers got: (path, JSON body) for HTTP, raw messages for SMTP."""

    def __init__(self):
        self.lock = threading.Lock()
        self.http: list[tuple[str, dict]] = []
        self.mail: list[str] = []

    def posts(self, path: str) -> list[dict]:
        with self.lock:
            return [body for p, body in self.http if p == path]


def webhook_server(received: Received) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"null")
            with received.lock:
                received.http.append((self.path, body))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


def metrics_server(path: Path) -> ThreadingHTTPServer:
    """/metrics answers with the run's textfile, as node_exporter's textfile collector would."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = path.read_bytes() if self.path == "/metrics" else b""
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


def smtp_server(received: Received) -> socketserver.ThreadingTCPServer:
    """Just enough SMTP (no TLS, no auth) to accept Alertmanager's e-mails."""
    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            self.wfile.write(b"220 127.0.0.1 test sink\r\n")
            for raw in iter(self.rfile.readline, b""):
                command = raw.decode(errors="replace").strip().upper()
                if command == "DATA":
                    self.wfile.write(b"354 end with <CRLF>.<CRLF>\r\n")
                    lines = list(iter(lambda: self.rfile.readline(), b".\r\n"))
                    with received.lock:
                        received.mail.append(b"".join(lines).decode(errors="replace"))
                    self.wfile.write(b"250 queued\r\n")
                elif command == "QUIT":
                    self.wfile.write(b"221 bye\r\n")
                    return
                else:  # EHLO/HELO (no extensions), MAIL, RCPT, RSET, NOOP
                    self.wfile.write(b"250 ok\r\n")

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    return Server(("127.0.0.1", 0), Handler)


def run_summary(run_date: str, status: str, finished: datetime) -> dict:
    """A run of `run_date` (backfilled: it finished now) whose data-drift notebook found drift."""
    drift = {"dataset_drift": True, "share_drifted": 0.75, "drifted_columns": ["dep_hour"], "n_rows": 4000,
             "columns": [{"column": "dep_hour", "method": "K-S p_value", "score": 0.001, "threshold": 0.05,
                          "drifted": True},
                         {"column": "carrier", "method": "chi-square p_value", "score": 0.4, "threshold": 0.05,
                          "drifted": False}]}
    notebooks = [{"name": "02_data_drift", "status": "success", "duration_s": 3.0, "result": drift}]
    if status != "success":
        notebooks.append({"name": "03_concept_drift", "status": "failed", "duration_s": 1.0, "result": None})
    return {"run_date": run_date, "status": status, "started": (finished - timedelta(minutes=5)).isoformat(),
            "finished": finished.isoformat(), "duration_s": 300.0, "notebooks": notebooks}


def alertnames(payload: dict) -> set[str]:
    return {a["labels"]["alertname"] for a in payload["alerts"]}


def firing(posts: list[dict], name: str) -> list[dict]:
    return [p for p in posts if p["status"] == "firing" and name in alertnames(p)]


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.skipif(None in (PROMETHEUS, ALERTMANAGER), reason="prometheus and prometheus-alertmanager not "
                    "installed (Debian packages; .ci/run installs them)")
def test_prometheus_and_alertmanager_notify_the_receivers_and_inhibit_drift(tmp_path):
    base_url = "http://reports.test/driftlib"
    params = parse_params({"name": "flights-e2e", "root": str(tmp_path), "reference": {"path": "ref.csv"},
                           "columns": {"timestamp": "ts"},
                           "monitoring": {"textfile_dir": "metrics", "evidently_workspace": None,
                                          "drift_consecutive_runs": 1, "important_features": ["dep_hour"],
                                          "report_base_url": base_url + "/"}},
                          str(tmp_path / "params.yaml"))
    now = datetime.now(timezone.utc)
    prom_file = textfile.write_run_metrics(params, run_summary("2013-05-01", "success", now))
    rules = tmp_path / "alerts.yml"
    rules.write_text(generate.render_rules(params))
    received = Received()

    with serving(webhook_server(received)) as hook_port, serving(smtp_server(received)) as smtp_port, \
            serving(metrics_server(prom_file)) as metrics_port:
        hook = f"http://127.0.0.1:{hook_port}"
        env = {**env_example(), "DRIFTLIB_WEBHOOK_URL": f"{hook}/webhook", "SLACK_WEBHOOK_URL": f"{hook}/slack",
               "SLACK_CHANNEL": "#e2e", "SMTP_SMARTHOST": f"127.0.0.1:{smtp_port}",
               "SMTP_FROM": "alertmanager@test.invalid", "SMTP_AUTH_USERNAME": "", "SMTP_AUTH_PASSWORD": "",
               "SMTP_REQUIRE_TLS": "false", "ALERT_EMAIL_TO": "ml-oncall@test.invalid"}
        am_config = yaml.safe_load(render(env))
        # The committed tree and receivers, with the waits shortened so the test takes seconds.
        for route in (am_config["route"], *am_config["route"]["routes"]):
            route.update(group_wait="1s", group_interval="1s", repeat_interval="2s")
        (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(am_config, sort_keys=False))
        am_port, prom_port = free_port(), free_port()
        am = f"http://127.0.0.1:{am_port}"
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules)],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
            "scrape_configs": [{"job_name": "node",
                                "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}]}]}))
        with started("alertmanager", [ALERTMANAGER, f"--config.file={tmp_path / 'alertmanager.yml'}",
                                      f"--storage.path={tmp_path / 'am-data'}",
                                      f"--web.listen-address=127.0.0.1:{am_port}",
                                      f"--web.external-url={am}", "--cluster.listen-address=",
                                      "--log.level=warn"],
                     f"{am}/-/ready", tmp_path / "alertmanager.log") as am_proc, \
                started("prometheus", [PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}",
                                       f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                       f"--web.listen-address=127.0.0.1:{prom_port}",
                                       f"--web.external-url=http://127.0.0.1:{prom_port}",
                                       "--rules.alert.resend-delay=1s", "--log.level=warn"],
                        f"http://127.0.0.1:{prom_port}/-/ready", tmp_path / "prometheus.log") as prom_proc:
            procs = {"alertmanager": am_proc, "prometheus": prom_proc}

            # 1. a run with data drift: one warning notification for the model, on every channel
            (payload,) = wait_for(lambda: firing(received.posts("/webhook"), "DriftlibDatasetDriftPersistent")[:1],
                                  "the data-drift notification", procs)
            (tmp_path / "notification.json").write_text(json.dumps(payload, indent=2))
            print("\nwebhook notification (data drift):\n" + json.dumps(payload, indent=2))
            assert payload["receiver"] == "notify" and payload["version"] == "4"
            assert payload["groupLabels"] == {"model": "flights-e2e", "severity": "warning"}
            assert alertnames(payload) == {"DriftlibDatasetDriftPersistent", "DriftlibImportantFeatureDrift"}
            report = f"{base_url}/2013-05-01/02_data_drift.html"
            for alert in payload["alerts"]:
                assert alert["status"] == "firing"
                assert alert["annotations"]["run_date"] == "2013-05-01"
                assert alert["annotations"]["report_url"] == report
                assert alert["annotations"]["summary"]
            by_name = {a["labels"]["alertname"]: a["labels"] for a in payload["alerts"]}
            assert by_name["DriftlibDatasetDriftPersistent"] == {
                "alertname": "DriftlibDatasetDriftPersistent", "model": "flights-e2e", "severity": "warning"}
            assert by_name["DriftlibImportantFeatureDrift"]["feature"] == "dep_hour"

            (slack,) = wait_for(lambda: received.posts("/slack")[:1], "the Slack-compatible notification", procs)
            assert slack["channel"] == "#e2e"
            (attachment,) = slack["attachments"]
            assert attachment["title"] == "[FIRING] warning, model flights-e2e"
            assert attachment["title_link"] == report and attachment["color"] == "warning"
            assert f"<{report}|report>" in attachment["text"] and "(run 2013-05-01)" in attachment["text"]

            mail = email.message_from_string(wait_for(lambda: received.mail[:1], "the e-mail", procs)[0])
            assert mail["To"] == "ml-oncall@test.invalid"
            assert mail["Subject"] == "[driftlib FIRING:2] warning, model flights-e2e"
            html = next(part for part in mail.walk() if part.get_content_type() == "text/html")
            assert report in html.get_payload(decode=True).decode()

            # without inhibition the warning is repeated (repeat_interval 2 s here)
            wait_for(lambda: len(firing(received.posts("/webhook"), "DriftlibDatasetDriftPersistent")) >= 2,
                     "a repeated data-drift notification", procs)

            # 2. the next run fails: the run-failed alert pages, and inhibits the model's drift alerts
            textfile.write_run_metrics(params, run_summary("2013-05-02", "failed", datetime.now(timezone.utc)))
            (page,) = wait_for(lambda: firing(received.posts("/webhook"), "DriftlibPipelineFailed")[:1],
                               "the run-failed notification", procs)
            print("webhook notification (run failed):\n" + json.dumps(page, indent=2))
            assert page["receiver"] == "page" and alertnames(page) == {"DriftlibPipelineFailed"}
            assert page["groupLabels"] == {"model": "flights-e2e", "severity": "critical"}
            (failed,) = page["alerts"]
            assert failed["annotations"]["run_date"] == "2013-05-02"
            assert failed["annotations"]["report_url"] == f"{base_url}/2013-05-02/index.html"

            def suppressed() -> list[dict]:
                alerts = httpx.get(f"{am}/api/v2/alerts", timeout=5).json()
                source = [a for a in alerts if a["labels"]["alertname"] == "DriftlibPipelineFailed"]
                drift = [a for a in alerts if a["labels"]["alertname"] in DRIFT_ALERTS]
                done = source and len(drift) == 2 and all(
                    a["status"]["state"] == "suppressed" and a["status"]["inhibitedBy"] == [source[0]["fingerprint"]]
                    for a in drift)
                return drift if done else []

            wait_for(suppressed, "the drift alerts to be inhibited", procs)
            time.sleep(1.5)  # a flush that started before the inhibition may still be delivering
            before = len(received.posts("/webhook"))
            time.sleep(5)  # more than two repeat intervals
            later = received.posts("/webhook")[before:]
            assert not [p for p in later if alertnames(p) & DRIFT_ALERTS], later
            # Prometheus still fires them: only Alertmanager holds them back
            rules_api = httpx.get(f"http://127.0.0.1:{prom_port}/api/v1/alerts", timeout=5).json()
            still_firing = {a["labels"]["alertname"] for a in rules_api["data"]["alerts"] if a["state"] == "firing"}
            assert still_firing & DRIFT_ALERTS == {"DriftlibDatasetDriftPersistent", "DriftlibImportantFeatureDrift"}
