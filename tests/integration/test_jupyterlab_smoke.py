"""Browser smoke test: JupyterLab in headless Chromium, as a learner uses it.

1. Start JupyterLab on a copy of notebooks/00-welcome.ipynb, open it in a browser, Run All, and
   see the live pod board widget (CSS class ``labkit-podboard``) with the pod the notebook created.
2. Then open the learner's copy of an exercise file (``my_scheduler_plugin.py``, as ``labs.exercise``
   makes it next to the notebooks) in JupyterLab's editor, open a terminal and run
   ``labctl status`` there: the venv is on the terminal's PATH and the lab home is the notebooks'
   (JupyterLab gets the environment `make lab` gives it).

The screenshots are saved to $LABKIT_ARTIFACTS (else the test's tmp dir) and their paths printed.

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
from typing import Any

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
    terminal = settings / "@jupyterlab" / "terminal-extension" / "plugin.jupyterlab-settings"
    terminal.parent.mkdir(parents=True)
    # The screen reader mode mirrors the terminal's rows as DOM text (else they are drawn on a canvas).
    terminal.write_text(json.dumps({"screenReaderMode": True}))
    # The learner's copy of an exercise, as labs.exercise("scheduler_plugin") makes it next to the notebooks.
    shutil.copy(REPO / "labs" / "exercises" / "scheduler_plugin.py", root / "my_scheduler_plugin.py")
    token = os.urandom(16).hex()
    port = free_port()
    env = {
        **os.environ,
        "LABKIT_HOME": str(home),
        # What `make lab` does: its terminals find labctl (the venv's bin first on PATH).
        "PATH": os.pathsep.join(filter(None, [str(Path(sys.executable).parent), os.environ.get("PATH")])),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-workspaces"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
        # As `make lab`: labs/jupyter/jupyter_server_config.py keeps the terminals' PATH.
        "JUPYTER_CONFIG_PATH": str(REPO / "labs" / "jupyter"),
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


# Typically 60-90 s, plus ~20 s for the editor and the terminal; a loaded machine has been seen at 4
# minutes (notebook 00 starts a whole lab).
@pytest.mark.timeout(480)
def test_jupyterlab_runs_notebook_00_shows_the_pod_board_opens_an_exercise_and_a_terminal(jupyterlab: dict[str, object], tmp_path: Path) -> None:
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
            _open_exercise_and_run_labctl_status(page, jupyterlab, artifacts)
        finally:
            context.close()


_TERMINAL_TEXT_JS = """() => Array.from(document.querySelectorAll('.jp-Terminal .xterm-accessibility-tree, '
  + '.jp-Terminal .xterm-rows')).map(e => e.innerText).join('\\n')"""


def _open_exercise_and_run_labctl_status(page: Any, jupyterlab: dict[str, object], artifacts: Path) -> None:
    """The learner's copy of an exercise in the editor; `labctl status` in a new terminal."""
    base, token = jupyterlab["base"], jupyterlab["token"]
    page.goto(f"{base}/lab/tree/my_scheduler_plugin.py?token={token}", timeout=60_000)
    page.locator(".jp-FileEditor .cm-content").first.wait_for(state="visible", timeout=60_000)
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.jp-FileEditor .cm-content'))"
        ".some(e => e.innerText.includes('class PreferFastZone'))", timeout=30_000)
    page.evaluate("() => window.jupyterapp.commands.execute('terminal:create-new')")
    terminal = page.locator(".jp-Terminal")
    terminal.first.wait_for(state="visible", timeout=60_000)
    page.wait_for_function("() => document.querySelector('.jp-Terminal .xterm-helper-textarea')", timeout=30_000)
    deadline = time.monotonic() + 90
    text = ""
    while time.monotonic() < deadline and "lab is not running" not in text:
        # The shell may not have printed its prompt yet: type again until labctl answers.
        terminal.first.click()
        page.keyboard.type("labctl status\n")
        end = time.monotonic() + 15
        while time.monotonic() < end and "lab is not running" not in text and "command not found" not in text:
            time.sleep(0.5)
            text = page.evaluate(_TERMINAL_TEXT_JS)
        if "command not found" in text:
            break
    shot = artifacts / "jupyterlab-terminal-labctl.png"
    page.screenshot(path=str(shot))
    print(f"screenshot: {shot}")
    assert "command not found" not in text, f"labctl is not on the terminal's PATH: {text[-600:]!r}"
    # Notebook 00's clean-up cell stopped its lab: labctl says so, naming the home it looked in —
    # the notebooks' own, so while a notebook runs, `labctl status` there shows its lab.
    assert "lab is not running" in text, f"labctl status printed nothing recognisable: {text[-600:]!r}"
    assert str(jupyterlab["home"]) in text.replace("\n", ""), (
        f"labctl status in the terminal looked at another lab home than the notebooks' "
        f"({jupyterlab['home']}): {text[-600:]!r}")
