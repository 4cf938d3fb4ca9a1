"""Screenshots of the MLflow UI in headless Chromium, driven over the DevTools protocol.

    python scripts/screenshot.py --experiment NAME [--tracking-uri URI] [--out docs/ui.png]

starts `mlflow server` on the store (as `mg ui` does), opens the experiment's runs in chart
view (the curves of every run overlaid), waits until the page shows every run, and saves a
PNG. The protocol runs over `--remote-debugging-pipe` (fds 3 and 4, messages ended by NUL),
so no port is opened and no Python package beyond the standard library is needed. The
browser test imports `Browser` from here.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
]
# MLflow UI details for a tidier picture (if a later MLflow renames them, it only looks busier):
# the "model training" workflow, and the assistant side panel closed.
WORKFLOW = "workflowType=machine_learning"
CLOSE_ASSISTANT = (
    "document.querySelector('[data-component-id=\"mlflow.assistant.chat_panel.close\"]')?.click()"
)
CHART_SEARCH = 'input[placeholder="Search metric charts"]'


class BrowserError(RuntimeError):
    """Chromium is missing, crashed, or a page never showed what was expected."""


class Browser:
    """One headless Chromium and one page, for the length of a `with` block."""

    def __init__(self, profile: Path, width: int = 1600, height: int = 1000) -> None:
        self.profile, self.size, self._next_id = profile, (width, height), 0

    def __enter__(self) -> Browser:
        executable = shutil.which("chromium") or shutil.which("chromium-browser")
        if executable is None:
            raise BrowserError("chromium is not installed (make test-browser installs it)")
        to_chrome, self._writer = os.pipe()
        self._reader, from_chrome = os.pipe()

        def wire_pipe() -> None:  # Chromium reads commands on fd 3, writes replies to fd 4
            os.dup2(to_chrome, 3)
            os.dup2(from_chrome, 4)

        self.proc = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            preexec_fn=wire_pipe,
            pass_fds=(3, 4),  # runs after preexec_fn: keep what wire_pipe put there
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        os.close(to_chrome)
        os.close(from_chrome)
        self._buffer = b""
        self._open_page()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._send("Browser.close")
            self.proc.wait(timeout=10)
        except (BrowserError, OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            os.close(self._writer)
            os.close(self._reader)

    def _open_page(self) -> None:
        target = self._send("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self._send("Target.attachToTarget", {"targetId": target, "flatten": True})
        self.session = attached["sessionId"]
        width, height = self.size
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
        self.call("Emulation.setDeviceMetricsOverride", metrics)

    def call(self, method: str, params: dict | None = None) -> dict:
        """A DevTools command on the page."""
        return self._send(method, params, self.session)

    def _send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._writer, json.dumps(message).encode() + b"\0")
        while True:  # events arrive in between; skip them
            reply = self._receive()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})

    def _receive(self) -> dict:
        while b"\0" not in self._buffer:
            chunk = os.read(self._reader, 1 << 16)
            if not chunk:
                raise BrowserError(f"chromium exited (code {self.proc.poll()})")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def goto(self, url: str) -> None:
        self.call("Page.navigate", {"url": url})

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return result.get("result", {}).get("value")

    def text(self) -> str:
        """What the page shows, after its scripts ran (the DOM, not the HTML that was served)."""
        return self.evaluate("document.body ? document.body.innerText : ''") or ""

    def wait_for(self, needles: list[str], selector: str | None = None, timeout_s: float = 60):
        """Wait until the page's text holds every needle (and `selector` matches); the text."""
        deadline = time.monotonic() + timeout_s
        check = f"!!document.querySelector({json.dumps(selector)})" if selector else "true"
        while time.monotonic() < deadline:
            text = self.text()
            if all(needle in text for needle in needles) and self.evaluate(check):
                return text
            time.sleep(0.25)
        missing = [needle for needle in needles if needle not in self.text()]
        raise BrowserError(f"page never showed {missing or selector} within {timeout_s:.0f} s")

    def type_into(self, selector: str, text: str) -> None:
        """Focus an input and type, as a user would (React sees real input events)."""
        self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        self.call("Input.insertText", {"text": text})

    def screenshot(self, path: Path, settle_s: float = 1.0) -> Path:
        self.evaluate(CLOSE_ASSISTANT)
        time.sleep(settle_s)  # let charts finish their transitions and re-layout
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path


def experiment_url(address: str, experiment_id: str, chart: bool = False) -> str:
    view = "&compareRunsMode=CHART" if chart else ""
    return f"{address}/#/experiments/{experiment_id}/runs?{WORKFLOW}{view}"


def compare_url(address: str, experiment_id: str, run_ids: list[str]) -> str:
    runs, experiments = json.dumps(run_ids), json.dumps([experiment_id])
    return f"{address}/#/compare-runs?runs={runs}&experiments={experiments}&{WORKFLOW}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", required=True)
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--out", type=Path, default=Path("docs/ui.png"))
    parser.add_argument("--charts", default="valid/", help="Show only charts matching this.")
    parser.add_argument("--size", default="1600x1250", help="Window WIDTHxHEIGHT.")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from mlflow.tracking import MlflowClient

    from mg.tracking.runs import resolve_tracking_uri
    from mg.tracking.ui import free_port, local_spec, running_server

    uri = resolve_tracking_uri(args.tracking_uri, os.environ)
    spec = local_spec(uri, "127.0.0.1", free_port())
    client = MlflowClient(tracking_uri=spec.backend_uri)
    experiment = client.get_experiment_by_name(args.experiment)
    if experiment is None:
        parser.error(f"no experiment {args.experiment!r} in {spec.backend_uri}")
    names = [run.info.run_name for run in client.search_runs([experiment.experiment_id])]
    with (
        tempfile.TemporaryDirectory() as profile,
        running_server(spec, subprocess.DEVNULL) as address,
        Browser(Path(profile), *map(int, args.size.split("x"))) as browser,
    ):
        browser.goto(experiment_url(address, experiment.experiment_id, chart=True))
        browser.wait_for(names, selector=".js-plotly-plot")
        if args.charts:
            browser.type_into(CHART_SEARCH, args.charts)
        print(f"wrote {browser.screenshot(args.out, settle_s=2.0)} ({len(names)} runs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
