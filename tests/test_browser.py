"""The reports as people see them: a small run opened in headless Chromium.

Chromium is driven over the DevTools protocol (`--remote-debugging-port=0`, the port read back from
DevToolsActivePort, one websocket per page): console errors and uncaught exceptions are collected,
every request is recorded (none may leave the machine), and a JS probe measures the page at 1280 px:
no horizontal overflow, the verdict row and headline inside the first screen, every link resolving.
Screenshots of the index and the concept report go to outputs/screenshots/ (see README).
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from conftest import ROOT, train_model

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-port=0", "about:blank"]
WIDTH, HEIGHT = 1280, 900
SCREENSHOTS = ROOT / "outputs" / "screenshots"
LOCAL_SCHEMES = {"file", "data", "about", "blob", "chrome", "devtools"}

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (.ci/run installs it)")]

PROBE = """(() => {
  const vis = (sel) => { const el = document.querySelector(sel); if (!el) return null;
    const r = el.getBoundingClientRect(); const s = getComputedStyle(el);
    return {top: r.top, bottom: r.bottom, height: r.height, shown: s.display !== 'none' && s.visibility !== 'hidden'}; };
  const wide = [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > innerWidth + 1
      && !e.closest('.jp-OutputArea-output, details:not([open])') && getComputedStyle(e).position !== 'fixed')
    .slice(0, 5).map(e => e.tagName + '.' + e.className);
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth, innerHeight,
          verdicts: vis('#dl-verdicts'), headline: vis('#dl-headline'), runs: vis('#runs tr:nth-child(2)'),
          trend: vis('#trend'), wide, opblocks: document.querySelectorAll('.opblock').length,
          text: document.body ? document.body.innerText.slice(0, 20000) : '',
          links: [...document.querySelectorAll('a[href]')].map(a => a.href)};
})()"""


class Page:
    """One DevTools target: commands by id, events collected as they arrive."""

    def __init__(self, ws):
        self.ws, self.next_id, self.events, self.waiting = ws, 0, [], {}

    async def pump(self):
        async for raw in self.ws:
            msg = json.loads(raw)
            if "id" in msg and msg["id"] in self.waiting:
                self.waiting.pop(msg["id"]).set_result(msg)
            elif "method" in msg:
                self.events.append(msg)

    async def send(self, method: str, **params):
        self.next_id += 1
        fut = asyncio.get_running_loop().create_future()
        self.waiting[self.next_id] = fut
        await self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        msg = await asyncio.wait_for(fut, 60)
        if "error" in msg:
            raise RuntimeError(f"{method}: {msg['error']}")
        return msg.get("result", {})

    async def wait_for(self, method: str, timeout: float = 60):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if any(e["method"] == method for e in self.events):
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(method)


def _endpoint(user_data: Path, proc: subprocess.Popen) -> str:
    active = user_data / "DevToolsActivePort"
    for _ in range(300):
        if active.is_file() and len(active.read_text().splitlines()) >= 2:
            port, path = active.read_text().splitlines()[:2]
            return f"ws://127.0.0.1:{port}{path}"
        if proc.poll() is not None:
            raise RuntimeError(f"chromium exited with {proc.returncode}")
        time.sleep(0.1)
    raise TimeoutError("chromium did not open its DevTools port")


async def _open(browser_ws: str, url: str, screenshot: Path | None = None) -> dict:
    import websockets

    async with websockets.connect(browser_ws, max_size=None) as bws:
        browser = Page(bws)
        pump = asyncio.create_task(browser.pump())
        target = (await browser.send("Target.createTarget", url="about:blank"))["targetId"]
        page_ws = browser_ws.split("/devtools/")[0] + f"/devtools/page/{target}"
        try:
            async with websockets.connect(page_ws, max_size=None) as ws:
                page = Page(ws)
                page_pump = asyncio.create_task(page.pump())
                for domain in ("Page", "Runtime", "Log", "Network"):
                    await page.send(f"{domain}.enable")
                await page.send("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT,
                                deviceScaleFactor=1, mobile=False)
                await page.send("Page.navigate", url=url)
                await page.wait_for("Page.loadEventFired")
                await asyncio.sleep(0.5)  # late scripts and images
                probe = (await page.send("Runtime.evaluate", expression=PROBE, returnByValue=True))["result"]["value"]
                if screenshot is not None:
                    shot = await page.send("Page.captureScreenshot", format="png")
                    screenshot.parent.mkdir(parents=True, exist_ok=True)
                    screenshot.write_bytes(base64.b64decode(shot["data"]))
                page_pump.cancel()
                events = page.events
        finally:
            await browser.send("Target.closeTarget", targetId=target)
            pump.cancel()
    errors = [e["params"] for e in events if e["method"] == "Runtime.exceptionThrown"
              or (e["method"] == "Runtime.consoleAPICalled" and e["params"].get("type") in ("error", "assert"))
              or (e["method"] == "Log.entryAdded" and e["params"]["entry"].get("level") == "error")]
    requests = [e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"]
    return {"probe": probe, "errors": errors, "requests": requests}


@pytest.fixture(scope="module")
def chromium():
    user_data = Path(tempfile.mkdtemp(prefix="driftlib-chromium-"))
    proc = subprocess.Popen([CHROMIUM, *FLAGS[:-1], f"--user-data-dir={user_data}", FLAGS[-1]],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        yield _endpoint(user_data, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(user_data, ignore_errors=True)


def _check_links(page: Path, links: list[str]) -> list[str]:
    broken = []
    for href in links:
        u = urlparse(href)
        if u.scheme != "file":
            broken.append(f"{href} (not a local file)")
        elif not Path(unquote(u.path)).exists():
            broken.append(href)
    return broken


def _assert_page(path: Path, seen: dict, *, verdict_row: bool) -> None:
    p = seen["probe"]
    assert not seen["errors"], f"{path.name}: console errors {seen['errors'][:3]}"
    away = [u for u in seen["requests"] if urlparse(u).scheme not in LOCAL_SCHEMES]
    assert not away, f"{path.name}: requests leave the machine: {away[:5]}"
    assert p["scrollWidth"] <= WIDTH, f"{path.name}: {p['scrollWidth']} px wide at {WIDTH} px: {p['wide']}"
    if verdict_row:
        for key in ("verdicts", "headline"):
            box = p[key]
            assert box and box["shown"] and box["height"] > 0, f"{path.name}: no visible {key}"
            assert box["bottom"] <= p["innerHeight"], f"{path.name}: {key} below the fold ({box['bottom']:.0f} px)"
    assert not _check_links(path, p["links"]), f"{path.name}: broken links {_check_links(path, p['links'])}"


def test_index_and_every_report_in_headless_chromium(slice_project, chromium):
    from typer.testing import CliRunner

    from driftlib.cli import app

    train_model(slice_project)
    result = CliRunner().invoke(app, ["run", "--params", str(slice_project), "--date", "2013-05-01"])
    assert result.exit_code == 0, result.output
    out = slice_project.parent / "outputs"
    summary = json.loads((out / "2013-05-01" / "summary.json").read_text())

    index = out / "index.html"
    seen = asyncio.run(_open(chromium, index.as_uri(), SCREENSHOTS / "index.png"))
    _assert_page(index, seen, verdict_row=False)
    assert seen["probe"]["trend"] and seen["probe"]["trend"]["top"] < seen["probe"]["innerHeight"]
    assert seen["probe"]["runs"]["top"] < seen["probe"]["innerHeight"], "first run's row below the fold"
    assert any(link.endswith("2013-05-01/02_evidently_drift.html") for link in seen["probe"]["links"])

    run_index = out / "2013-05-01" / "index.html"
    seen = asyncio.run(_open(chromium, run_index.as_uri()))
    _assert_page(run_index, seen, verdict_row=False)
    assert seen["probe"]["verdicts"]["bottom"] <= seen["probe"]["innerHeight"]

    for nb in summary["notebooks"]:
        page = out / "2013-05-01" / nb["html"]
        shot = SCREENSHOTS / "03_concept_drift.png" if nb["name"] == "03_concept_drift" else None
        seen = asyncio.run(_open(chromium, page.as_uri(), shot))
        _assert_page(page, seen, verdict_row=True)

    evidently = out / "2013-05-01" / "02_evidently_drift.html"
    seen = asyncio.run(_open(chromium, evidently.as_uri()))
    away = [u for u in seen["requests"] if urlparse(u).scheme not in LOCAL_SCHEMES]
    assert not away, f"Evidently's report requests {away[:5]}"


def test_service_docs_in_headless_chromium(chromium, tmp_path, flights):
    """The service's /docs works with no network: Swagger UI from an installed package, the request
    bodies of /predict, /predict/batch and /feedback documented, no console errors, nothing fetched away."""
    from driftlib.service.client import running_service
    from tests.service_world import make_world

    world = make_world(tmp_path, flights)
    with running_service(world.params_path) as base:
        url = f"{base}/docs"
        seen = asyncio.run(_open(chromium, url))
    host = urlparse(url).hostname
    away = [u for u in seen["requests"] if urlparse(u).scheme not in LOCAL_SCHEMES and urlparse(u).hostname != host]
    assert not away and not seen["errors"], (away[:5], seen["errors"][:3])
    assert seen["probe"]["opblocks"] >= 3, "Swagger UI did not render the operations"
    for path in ("/predict", "/predict/batch", "/feedback"):
        assert path in seen["probe"]["text"]
    assert seen["probe"]["scrollWidth"] <= WIDTH
