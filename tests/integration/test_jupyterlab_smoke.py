"""Browser smoke test: JupyterLab in headless Chromium runs notebook 00 and shows the pod board.

What a learner does, end to end: start JupyterLab on a copy of notebooks/00-welcome.ipynb, open it
in a browser, Run All, and see the live pod board widget (CSS class ``labkit-podboard``) with the
pod the notebook created. The screenshot is saved to $LABKIT_ARTIFACTS (else the test's tmp dir)
and its path printed.

Needs Debian's ``chromium`` (driven by the playwright package; no playwright browser download).
Without it the test skips, unless LABKIT_REQUIRE_BROWSER=1 (CI), which makes that a failure.
Leaves nothing behind: the notebook's lab is stopped (by its clean-up cell, and by `labctl down`
on its home afterwards), the kernel and JupyterLab are stopped, and the test checks that no
process it started survives.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from orchestrator.lab.down import down
from orchestrator.lab.embedded.ports import free_port
from orchestrator.lab.home import LabHome, LabSettings

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = "00-welcome.ipynb"
CHROMIUM = os.environ.get("LABKIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
RUN_TIMEOUT = 240.0  # notebook 00 starts a whole lab; generous for a loaded 2-core machine


def _require_browser() -> None:
    missing = []
    if not Path(CHROMIUM).is_file():
        missing.append(f"chromium ({CHROMIUM})")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package")
    if missing:
        reason = f"{' and '.join(missing)} not installed"
        if os.environ.get("LABKIT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason}, and LABKIT_REQUIRE_BROWSER=1 says this test must run")
        pytest.skip(reason=f"{reason} (set LABKIT_REQUIRE_BROWSER=1 to make this a failure)")


def _artifact_dir(tmp_path: Path) -> Path:
    target = Path(os.environ.get("LABKIT_ARTIFACTS") or tmp_path / "artifacts")
    target.mkdir(parents=True, exist_ok=True)
    return target


def _stop_tree(proc: psutil.Process, timeout: float = 15.0) -> None:
    """SIGTERM a process and its descendants, then SIGKILL whatever is left."""
    try:
        family = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for p in family:
        try:
            p.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(family, timeout=timeout)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)


@pytest.fixture
def jupyterlab(tmp_path: Path) -> Iterator[dict[str, object]]:
    """JupyterLab on a copy of notebook 00, with its own lab home, settings and runtime dirs."""
    _require_browser()
    # Short path: PostgreSQL's socket lives in the lab home and socket paths have a length limit.
    home = Path(tempfile.mkdtemp(prefix="labkit-sm-"))
    root = tmp_path / "notebooks"
    root.mkdir()
    # A copy: JupyterLab saves outputs into the file it runs, and the repo's notebooks stay clean.
    shutil.copy(REPO / "notebooks" / NOTEBOOK, root / NOTEBOOK)
    settings = tmp_path / "lab-settings"
    tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    # Render every cell (JupyterLab 4 otherwise only renders cells near the viewport).
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    news = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))  # offline, and no pop-up
    token = os.urandom(16).hex()
    port = free_port()
    env = {
        **os.environ,
        "LABKIT_HOME": str(home),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-workspaces"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
    }
    log = (tmp_path / "jupyterlab.log").open("wb")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser", f"--port={port}",
         "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
         "--allow-root",  # CI runs as root
         f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True"],  # fmt: skip
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    server = psutil.Process(proc.pid)
    seen: set[psutil.Process] = {server}
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with {proc.returncode}: {(tmp_path / 'jupyterlab.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/api/status", params={"token": token}, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer within 60 s: {(tmp_path / 'jupyterlab.log').read_text()[-2000:]}")
            time.sleep(0.3)
        yield {"url": f"{base}/lab/tree/{NOTEBOOK}?token={token}", "base": base, "token": token, "home": home,
               "tmp": tmp_path, "seen": seen, "server": server}
    finally:
        try:
            seen.update(server.children(recursive=True))
        except psutil.NoSuchProcess:
            pass
        try:  # shut the kernels down the polite way first: their atexit hooks stop the lab
            for kernel in httpx.get(f"{base}/api/kernels", params={"token": token}, timeout=5).json():
                httpx.delete(f"{base}/api/kernels/{kernel['id']}", params={"token": token}, timeout=30)
        except (httpx.HTTPError, ValueError):
            pass
        _stop_tree(server)
        log.close()
        down(LabSettings(home=LabHome(home)))
        leftovers = [p for p in seen if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        shutil.rmtree(home, ignore_errors=True)
        assert not leftovers, f"processes left behind: {[(p.pid, p.name()) for p in leftovers]}"


_STATE_JS = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.sessionContext) return null;
  const cells = panel.content.widgets.filter(c => c.model.type === 'code');
  const errors = [];
  for (const c of cells) {
    for (const o of c.model.outputs.toJSON()) {
      if (o.output_type === 'error') errors.push(o.ename + ': ' + o.evalue);
    }
  }
  return {kernel: panel.sessionContext.session && panel.sessionContext.session.kernel
                  ? panel.sessionContext.session.kernel.status : 'none',
          total: cells.length,
          done: cells.filter(c => c.model.executionCount !== null).length,
          errors: errors};
}"""


# Typically 60-90 s; a loaded machine has been seen at 4 minutes (notebook 00 starts a whole lab).
@pytest.mark.timeout(480)
def test_jupyterlab_runs_notebook_00_and_shows_the_pod_board(jupyterlab: dict[str, object], tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    artifacts = _artifact_dir(tmp_path)
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            page = context.new_page()
            page.goto(str(jupyterlab["url"]), timeout=60_000)
            page.wait_for_function(
                "() => { const p = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
                " return p && p.sessionContext && p.sessionContext.session && p.sessionContext.session.kernel"
                " && p.sessionContext.session.kernel.status === 'idle'; }",
                timeout=90_000,
            )
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            deadline = time.monotonic() + RUN_TIMEOUT
            state = None
            while time.monotonic() < deadline:
                state = page.evaluate(_STATE_JS)
                if state and state["errors"]:
                    break
                if state and state["done"] == state["total"] and state["kernel"] == "idle":
                    break
                time.sleep(1)
            board = page.locator(".labkit-podboard")
            if board.count():
                board.first.scroll_into_view_if_needed()
            shot = artifacts / "jupyterlab-notebook-00.png"
            page.screenshot(path=str(shot), full_page=False)
            print(f"screenshot: {shot}")
            assert state is not None, "JupyterLab never showed the notebook panel"
            assert not state["errors"], f"notebook 00 failed in the browser: {state['errors']}"
            assert state["done"] == state["total"], (
                f"only {state['done']} of {state['total']} cells ran within {RUN_TIMEOUT:.0f}s")
            assert board.count() >= 1 and board.first.is_visible(), "the pod board widget (.labkit-podboard) is not visible"
            pods = board.first.locator(".labkit-pod")
            assert pods.count() >= 1, "the pod board shows no pod entries"
            assert "hello" in pods.first.inner_text(), f"the pod board should show pod 'hello', shows {pods.first.inner_text()!r}"
        finally:
            context.close()
