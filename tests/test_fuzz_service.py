"""schemathesis against the live service, driven by its own /openapi.json (issue 11).

Every operation is fuzzed with valid and invalid bodies (examples, coverage and fuzzing phases)
and all of schemathesis' checks: no 5xx, answers as documented, schema-valid requests accepted
and schema-violating ones refused. Bounded: a fixed number of examples per operation, a time
budget and a fixed seed. Afterwards the inference log must read back with nothing torn or
quarantined and every record inside the contract.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from driftlib.inference_log.sink import read_log
from driftlib.service.client import running_service
from service_world import CATEGORICAL, make_world

# 413 is a legitimate refusal of a schema-violating body (more than service.max_batch items)
CONFIG = """
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
"""
MAX_EXAMPLES, MAX_TIME_S, SEED = 40, 150, 11


def schemathesis_cli() -> list[str]:
    exe = Path(sys.executable).with_name("schemathesis")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("schemathesis")
    if not found:
        pytest.skip("schemathesis is not installed (pip install -e '.[dev]')")
    return [found]


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_leaves_a_clean_log(tmp_path, flights):
    world = make_world(tmp_path, flights)
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    with running_service(world.params_path) as url:
        run = subprocess.run(
            [*schemathesis_cli(), "--config-file", str(config), "run", f"{url}/openapi.json",
             "--checks", "all", "--max-examples", str(MAX_EXAMPLES), "--max-time", str(MAX_TIME_S),
             "--seed", str(SEED), "--no-color"],
            capture_output=True, text=True, timeout=MAX_TIME_S + 120, cwd=tmp_path)
        metrics = httpx.get(f"{url}/metrics").text
    summary = run.stdout[-3000:]
    assert run.returncode == 0, summary
    cases = next((line.strip() for line in run.stdout.splitlines() if "generated" in line), "?")
    served: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics):
        for s in family.samples:
            if s.name == "driftlib_http_requests_total":
                served[s.labels["status"]] = served.get(s.labels["status"], 0) + s.value
    assert sum(served.values()) > 300, served  # the fuzzer really sent traffic
    assert not any(code.startswith("5") for code in served), served  # 0 server errors
    assert served.get("200", 0) > 50 and served.get("422", 0) > 50, served  # valid and invalid bodies
    print(f"schemathesis: {cases}; responses by status: {dict(sorted(served.items()))}")

    predictions = read_log(world.log_dir, "predictions")
    feedback = read_log(world.log_dir, "feedback")
    for got in (predictions, feedback):
        assert got.torn_lines == 0 and got.quarantined == 0, got.quarantined_sample
    frame = predictions.frame
    assert len(frame) > 50
    assert frame["timestamp"].between("1677-12-31", "2262-01-02").all()
    for name in CATEGORICAL:
        values = frame[name].dropna()
        assert values.map(lambda v: isinstance(v, str) and len(v) <= 1000).all()
    if len(feedback.frame):
        assert set(feedback.frame["label"]) <= {0, 1}
