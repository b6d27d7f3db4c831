"""`labs.start()` and `Lab`: a lab cluster driven from a notebook, cleaned up whatever happens.

`start()` is `labctl up` called in-process (`orchestrator.lab.up.up`): the same lab home, the
same supervisor and run/state.json, so `labctl status` in a terminal sees the notebook's lab
and `labctl down` stops it. The components run as detached processes; what stops them when
the notebook is done:

- the clean-up cell, `lab.stop()` (= `labctl down`);
- the kernel going away (exit, shut down after a failed cell, killed, restarted): `start()` makes
  the kernel the lab's owner (`up(..., owner_pid=<kernel pid>)`) and the supervisor's watchdog
  (orchestrator/lab/watchdog.py) runs `labctl down` once that pid is gone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import ssl
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from labs.errors import LabError
from labs.output import CommandOutput
from labs.table import Table
from orchestrator.lab.down import down
from orchestrator.lab.embedded.ports import EmbeddedServerError
from orchestrator.lab.embedded.postgres import database_url as embedded_database_url
from orchestrator.lab.embedded.redis import redis_url as embedded_redis_url
from orchestrator.lab.home import LabHome, LabSettings
from orchestrator.lab.pki import read_token_file
from orchestrator.lab.supervisor import Supervisor, SupervisorError
from orchestrator.lab.up import RUNTIMES, Outcome, resolve_runtime, up

REPO_ROOT = Path(__file__).resolve().parent.parent
KUBECTL_TIMEOUT = 120.0


def lab_home() -> LabHome:
    """$LABKIT_HOME, else <repo root>/.labkit: the same home `labctl` uses when run from the repo root."""
    return LabHome(Path(os.environ.get("LABKIT_HOME") or REPO_ROOT / ".labkit"))


@dataclass
class _Progress:
    """Collects what `up` reports, for the component table and the notes shown after it."""

    outcomes: dict[str, tuple[Outcome, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def starting(self, name: str) -> None:
        pass

    def done(self, name: str, outcome: Outcome, detail: str) -> None:
        self.outcomes[name] = (outcome, detail)

    def note(self, message: str) -> None:
        self.notes.append(message)


def start(
    *,
    nodes: int = 2,
    runtime: str = "auto",
    skip: Sequence[str] = (),
    fresh: bool = False,
    show: bool = True,
    port: int | None = None,
) -> Lab:
    """Start the lab cluster (or reuse the running one) and return a `Lab` to drive it.

    ``runtime``: "docker", "simulated", or "auto" (Docker when an engine answers). ``skip``: component
    names not to start (e.g. ``("scheduler",)``, or ``("nodes",)`` for no node agents).
    ``fresh=True`` stops the lab and deletes its data first: a clean lab, whatever ran before.
    Without it a running lab is reused (the start says which components it reused); if a component
    that ``skip`` or ``nodes`` leaves out is already running (another notebook's lab, `labctl up`),
    `start` refuses with a `LabError` that says how to stop it. ``show=False`` displays nothing.
    ``port``: the API server's port (default: the one remembered, else 6443 if free, else any free one).
    Timers come from the environment as for `labctl up` (LABKIT_METRIC_RESOLUTION, LABKIT_HPA_SYNC_PERIOD,
    LABKIT_HPA_DOWNSCALE_STABILIZATION); they apply to the components this call starts, not reused ones.
    """
    if runtime not in RUNTIMES:
        raise LabError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    if nodes < 0:
        raise LabError(f"nodes must be 0 or more, not {nodes}")
    home = lab_home()
    # The same environment `labctl up` reads (DATABASE_URL, LABKIT_METRIC_RESOLUTION, LABKIT_HPA_*),
    # so a notebook can shorten the metrics and HPA timers as the tests do.
    settings = replace(LabSettings.from_env(), home=home)
    if fresh:
        _wipe(settings)
    else:
        _refuse_skipped_running(home, skip=tuple(skip), nodes=nodes)
    resolved = resolve_runtime(runtime)  # type: ignore[arg-type]
    progress = _Progress()
    try:
        up(
            settings,
            nodes=nodes,
            runtime=resolved,
            skip=tuple(skip),
            port=port,
            progress=progress,
            owner_pid=os.getpid(),
        )
    except (SupervisorError, EmbeddedServerError) as err:
        raise LabError(f"the lab did not start: {err}") from None
    lab = Lab(settings=settings, runtime=resolved, requested_runtime=runtime, notes=progress.notes)
    if show:
        lab._show_start(progress)
    return lab


def _unwanted(name: str, *, skip: Sequence[str], nodes: int) -> bool:
    """Whether a start with this ``skip`` and ``nodes`` leaves the component ``name`` out."""
    if name in skip:
        return True
    if name.startswith("node-"):
        if "nodes" in skip:
            return True
        number = name.removeprefix("node-")
        return number.isdigit() and int(number) > nodes
    return False


def _refuse_skipped_running(home: LabHome, *, skip: Sequence[str], nodes: int) -> None:
    # A notebook that skips components wants them quiet (01 counts every revision); silently
    # reusing another notebook's full lab made its checkpoints fail far from the cause.
    supervisor = Supervisor(home)
    running = [r.name for r in supervisor.records() if _unwanted(r.name, skip=skip, nodes=nodes)
               and supervisor.is_running(r.name)]
    if running:
        raise LabError(
            f"this notebook starts the lab without {', '.join(running)}, but "
            f"{'they are' if len(running) > 1 else 'it is'} already running in the lab at {home.root} "
            "(another notebook's lab, or `labctl up`). Fix: run the clean-up cell (lab.stop()) of the "
            "notebook that started it, or `labctl down` in a terminal, then run this cell again; or "
            "start a clean lab here with labs.start(..., fresh=True), which stops the running one "
            "and deletes its data."
        )


def _wipe(settings: LabSettings) -> None:
    down(settings)
    home = settings.home
    for data in (home.postgres_dir, home.redis_dir, home.logs_dir, home.run_dir):
        shutil.rmtree(data, ignore_errors=True)


class Lab:
    """A running lab cluster: its addresses, credentials, clients, and verbs to change it."""

    # Where `apply` puts objects whose manifest names no namespace: None is "default"; a lab
    # connected by a classroom kubeconfig (labs/connect.py) uses the kubeconfig's namespace.
    namespace: str | None = None

    def __init__(
        self,
        *,
        settings: LabSettings,
        runtime: str,
        requested_runtime: str = "",
        notes: Sequence[str] = (),
    ) -> None:
        self.settings = settings
        self.home: LabHome = settings.home
        self.runtime: str = runtime
        self.requested_runtime = requested_runtime or runtime
        self.notes = list(notes)
        self.supervisor = Supervisor(self.home)
        self._kube_client: Any = None
        self._ssl: ssl.SSLContext | None = None

    # --- where things are -------------------------------------------------------------------

    @property
    def kubeconfig(self) -> Path:
        return self.home.kubeconfig

    @property
    def _ports(self) -> dict[str, int]:
        return dict(self.supervisor.lab.get("ports", {}))

    @property
    def api_url(self) -> str:
        record = self.supervisor.record("apiserver")
        port = record.port if record is not None and record.port else self._ports.get("apiserver")
        if port is None:
            raise LabError("the lab has no API server (was it skipped, or is the lab down?)")
        return f"https://127.0.0.1:{port}"

    @property
    def database_url(self) -> str:
        if self.settings.database_url:
            return self.settings.database_url
        if "postgres" not in self._ports:
            raise LabError("the lab has no PostgreSQL yet: run labs.start() first")
        return embedded_database_url(self._ports["postgres"])

    @property
    def redis_url(self) -> str:
        if self.settings.redis_url:
            return self.settings.redis_url
        if "redis" not in self._ports:
            raise LabError("the lab has no Redis yet: run labs.start() first")
        return embedded_redis_url(self._ports["redis"])

    @property
    def nodes(self) -> list[str]:
        """The node agents the lab runs (component names = node names)."""
        return [r.name for r in self.supervisor.records() if r.name.startswith("node-")]

    def token(self, identity: str = "admin") -> str:
        """The bearer token of a lab identity (admin, viewer, scheduler, controller-manager, node-N)."""
        rows = read_token_file(self.home.token_file)
        for row in rows:
            if len(row) >= 3 and row[2] == identity:
                return row[0]
        known = ", ".join(row[2] for row in rows if len(row) >= 3) or "none (is the lab started?)"
        raise LabError(f"no identity {identity!r} in this lab; known identities: {known}")

    # --- clients ----------------------------------------------------------------------------

    def http(self, identity: str = "admin", *, timeout: float = 30.0) -> httpx.Client:
        """An httpx client for the API server: base URL, the identity's bearer token, the lab CA."""
        return httpx.Client(
            base_url=self.api_url,
            headers={"Authorization": f"Bearer {self.token(identity)}"},
            verify=self._ssl_context(),
            timeout=timeout,
        )

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context(cafile=str(self.home.ca_cert))
        return self._ssl

    def _kubernetes(self) -> Any:
        if self._kube_client is None:
            from kubernetes import config  # imported on first use: it is slow to import

            self._kube_client = config.new_client_from_config(config_file=str(self.kubeconfig))
        return self._kube_client

    def core_v1(self) -> Any:
        """The official client's CoreV1Api (pods, nodes, namespaces, events...) as admin."""
        from kubernetes import client

        return client.CoreV1Api(self._kubernetes())

    def apps_v1(self) -> Any:
        """The official client's AppsV1Api (deployments, replicasets) as admin."""
        from kubernetes import client

        return client.AppsV1Api(self._kubernetes())

    def coordination_v1(self) -> Any:
        """The official client's CoordinationV1Api (leases: node heartbeats, leader election) as admin."""
        from kubernetes import client

        return client.CoordinationV1Api(self._kubernetes())

    # --- kubectl ----------------------------------------------------------------------------

    def kubectl(
        self, *args: str, check: bool = True, identity: str = "admin", input: str | None = None, quiet: bool = False
    ) -> CommandOutput:
        """Run the real kubectl against the lab as ``identity``; print its stdout and stderr, return stdout.

        The returned text is a `str`; a cell that ends with the call does not show it a second time.

        With ``check`` (the default) a non-zero exit raises `LabError` with kubectl's stderr; without
        it, stderr is returned after stdout, so a cell can show and assert an expected refusal.
        """
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            raise LabError(
                "kubectl is not installed (or not on PATH); README.md, section 'kubectl and the Python "
                "client', shows what it is used for, and section 'labctl' the verbs that do without it "
                "(labctl get/apply/describe/logs); lab.apply and the labs helpers do not need it"
            )
        kubeconfig = self.kubeconfig if identity == "admin" else self.home.kubeconfig_for(identity)
        if not kubeconfig.exists():
            raise LabError(f"no kubeconfig for identity {identity!r} at {kubeconfig}")
        try:
            proc = subprocess.run(
                [kubectl, "--kubeconfig", str(kubeconfig), *args],
                input=input,
                capture_output=True,
                text=True,
                timeout=KUBECTL_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise LabError(f"kubectl {' '.join(args)} did not finish within {KUBECTL_TIMEOUT:.0f}s") from None
        if proc.returncode != 0 and check:
            raise LabError(f"kubectl {' '.join(args)} failed (exit {proc.returncode}): {proc.stderr.strip()}")
        output = CommandOutput(proc.stdout if proc.returncode == 0 else proc.stdout + proc.stderr)
        if not quiet:
            # kubectl's stderr is shown too: warnings, refusals with check=False, and the HTTP
            # requests it logs with -v=6.
            for text, stream in ((proc.stdout, sys.stdout), (proc.stderr, sys.stderr)):
                if text:
                    print(text, end="" if text.endswith("\n") else "\n", file=stream)
            output.mark_shown()
        return output

    def apply(self, manifest: str | dict[str, Any] | list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Apply a YAML string, an object or a list of objects; return the objects as stored.

        The same client-side apply as `labctl apply -f` and `kubectl apply` (create, or patch to what
        the manifest says; the last-applied annotation lets the three take turns), through the
        project's own client: kubectl is not needed.
        """
        from orchestrator.client.apply import api_message, apply_one
        from orchestrator.client.manifests import (
            ManifestError,
            check,
            namespace_of,
            parse_documents,
            type_name,
        )
        from orchestrator.client.rest import ApiClient, ApiError

        try:
            if isinstance(manifest, str):
                documents = parse_documents(manifest, source="lab.apply")
            elif isinstance(manifest, dict):
                documents = [("lab.apply", manifest)]
            else:
                documents = [(f"lab.apply, item {i}", obj) for i, obj in enumerate(manifest)]
            manifests = [m for label, value in documents for m in check(label, value)]
        except ManifestError as err:
            raise LabError(str(err)) from None

        async def apply_all() -> list[tuple[str, dict[str, Any]]]:
            client = ApiClient.from_kubeconfig(self.kubeconfig, timeout=30.0)
            try:
                done = []
                for m in manifests:
                    try:
                        outcome = await apply_one(client, m, namespace=self.namespace, warn=_warn)
                        stored = await client.get(m.info, m.name,
                                                  namespace=namespace_of(m.info, m.namespace or self.namespace))
                    except ApiError as err:
                        raise LabError(f"{type_name(m.info)}/{m.name}: {api_message(err)}") from None
                    done.append((f"{type_name(m.info)}/{m.name} {outcome}", stored))
                return done
            finally:
                await client.close()

        from labs import aio

        items = []
        for line, stored in aio.run(apply_all()):
            print(line)
            items.append(stored)
        return items

    def delete(
        self,
        kind: str,
        name: str,
        namespace: str = "default",
        *,
        wait: bool = True,
        grace_period: int | None = None,
    ) -> None:
        """`kubectl delete <kind> <name>`; with ``wait`` until the object is gone."""
        args = ["delete", kind, name, "-n", namespace, f"--wait={'true' if wait else 'false'}", "--ignore-not-found"]
        if grace_period is not None:
            args.append(f"--grace-period={grace_period}")
        self.kubectl(*args)

    def remove_leftovers(self, *pods: str, selector: str = "", namespace: str = "default",
                         timeout: float = 60.0) -> list[str]:
        """Delete pods an earlier run of a notebook left behind (by name, or by label selector).

        A notebook calls it before it creates its objects, so that a second run, or a run after a
        notebook that stopped half-way, starts from the same place. The delete is immediate
        (grace period 0): the pods may be on a node that is gone. Returns the names deleted.
        """
        path = f"/api/v1/namespaces/{namespace}/pods"
        with self.http() as client:
            names = [p for p in pods if client.get(f"{path}/{p}").status_code == 200]
            if selector:
                listed = client.get(path, params={"labelSelector": selector})
                listed.raise_for_status()
                names += [i["metadata"]["name"] for i in listed.json().get("items") or []
                          if i["metadata"]["name"] not in names]
            for name in names:
                response = client.delete(f"{path}/{name}", params={"gracePeriodSeconds": "0"})
                if response.status_code not in (200, 202, 404):
                    raise LabError(f"could not delete the leftover pod {name}: {response.status_code} {response.text}")
            from labs.waiting import wait_for

            wait_for(lambda: all(client.get(f"{path}/{n}").status_code == 404 for n in names), timeout=timeout,
                     what=f"the leftover pods {', '.join(names)} to be gone")
        if names:
            print(f"removed what an earlier run left: pod {', pod '.join(names)}")
        return names

    # --- components -------------------------------------------------------------------------

    def status(self) -> Table:
        """The lab's components (as `labctl status`): component, state, pid, address, running, healthy,
        restarts (by the watchdog after a crash) and last exit."""
        return Table(
            (
                {
                    "component": row.name,
                    "state": row.state,
                    "pid": "external" if row.external else row.pid,
                    "address": row.address or "-",
                    "running": row.running,
                    "healthy": row.healthy,
                    "restarts": row.restarts,
                    "last exit": row.last_exit or "-",
                }
                for row in self.supervisor.status()
            ),
            title=f"lab {self.home.root}",
            columns=("component", "state", "pid", "address", "running", "healthy", "restarts", "last exit"),
        )

    def proxy_rules(self, service: str | None = None) -> str:
        """The iptables rules the lab's proxy applied (a dry run's on a simulated lab), as
        iptables-restore text; with ``service`` ("web" or "ns/web") only that Service's rules."""
        from orchestrator.proxy.rules import rules_of_service

        path = self.home.proxy_rules_file
        if not path.exists():
            raise LabError(f"no proxy rules at {path}: the lab runs no proxy yet (it starts with the nodes)")
        text = path.read_text()
        if service is None:
            return text
        name = service if "/" in service else f"default/{service}"
        return "\n".join([text.splitlines()[0], *rules_of_service(text, name)]) + "\n"

    def _record(self, name: str) -> Any:
        record = self.supervisor.record(name)
        if record is None:
            known = ", ".join(r.name for r in self.supervisor.records()) or "none"
            raise LabError(f"the lab has no component {name!r}; its components: {known}")
        return record

    def stop_component(self, name: str) -> None:
        """Stop one component (as `labctl stop <name>`); it stays stopped until `start_component`."""
        self._record(name)
        try:
            self.supervisor.stop_component(name)
        except SupervisorError as err:
            raise LabError(str(err)) from None
        print(f"{name} stopped")

    def start_component(self, name: str) -> None:
        """Start a stopped component again (as `labctl start <name>`)."""
        self._record(name)
        try:
            self.supervisor.start_component(name)
        except SupervisorError as err:
            raise LabError(str(err)) from None
        print(f"{name} started")

    def add_component(self, name: str) -> None:
        """Start a control-plane component this lab was started without (``labs.start(skip=...)``):
        "controller-manager" or "scheduler". Everything already running is kept as it is."""
        optional = ("scheduler", "controller-manager")
        if name not in optional:
            raise LabError(f"add_component starts {' or '.join(optional)}, not {name!r}; "
                           "for node agents use lab.add_nodes(n)")
        skip = tuple(c for c in optional if c != name and not self.supervisor.is_running(c))
        try:
            up(self.settings, nodes=len(self.nodes), runtime=self.runtime, skip=skip,  # type: ignore[arg-type]
               progress=_Progress())
        except (SupervisorError, EmbeddedServerError) as err:
            raise LabError(str(err)) from None
        print(f"{name} started")

    def kill(self, name: str) -> int:
        """SIGKILL a component, as a crash would; return the pid killed. The supervisor restarts it."""
        record = self._record(name)
        if record.pid is None or not self.supervisor.is_running(name):
            raise LabError(f"{name} is not running")
        os.kill(record.pid, signal.SIGKILL)
        print(f"{name} (pid {record.pid}) killed")
        return int(record.pid)

    def add_nodes(self, n: int, *, runtime: str | None = None) -> list[str]:
        """Start ``n`` more node agents (node-<N+1>...); return their names.

        `up` gives each new node its own identity and token; the running API server reads the
        changed token file when it first sees one of them, so it keeps running.
        """
        before = set(self.nodes)
        self._up(nodes=len(before) + n, runtime=resolve_runtime(runtime or self.runtime))  # type: ignore[arg-type]
        added = [name for name in self.nodes if name not in before]
        print(f"added {', '.join(added) or 'no nodes'}")
        return added

    def _up(self, *, nodes: int, runtime: str) -> None:
        try:
            up(self.settings, nodes=nodes, runtime=runtime, progress=_Progress())  # type: ignore[arg-type]
        except (SupervisorError, EmbeddedServerError) as err:
            raise LabError(str(err)) from None

    def compact(self, *, keep: int = 0) -> int:
        """Compact the watch history now, keeping the last ``keep`` revisions; return the compaction revision.

        A watch that starts from a resourceVersion at or below it gets 410 Gone (Expired).
        """
        from labs import aio
        from orchestrator.storage.relay import compact_now

        return aio.run(compact_now(database_url=self.database_url, redis_url=self.redis_url, keep=keep))

    # --- lifetime ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the whole lab (`labctl down`). Data stays in the lab home; `labs.start()` resumes it."""
        if self._kube_client is not None:
            with contextlib.suppress(Exception):
                self._kube_client.close()
            self._kube_client = None
        try:
            result = down(self.settings)
        except SupervisorError as err:
            raise LabError(str(err)) from None
        print(f"lab stopped ({len(result.stopped)} processes); its data stays in {self.home.root}")

    # --- display ----------------------------------------------------------------------------

    def _show_start(self, progress: _Progress) -> None:
        table = self.status()
        for row in table:
            outcome = progress.outcomes.get(row["component"])
            row["this start"] = outcome[0] if outcome else "-"
        table.columns.append("this start")
        _display(table)
        reused = [name for name, (outcome, _) in progress.outcomes.items() if outcome == "running"]
        if reused:
            print(
                f"reused, already running: {', '.join(reused)} (labs.start(fresh=True) starts a clean lab instead)"
            )
        if self.requested_runtime == "auto" and self.runtime == "simulated":
            _display_note(
                "No Docker engine answers, so the node agents use the <b>simulated</b> runtime: pods go "
                "through the same phases, but no containers are started."
            )
        print(f"lab home {self.home.root}\nAPI server {self.api_url}\nexport KUBECONFIG={self.kubeconfig}")

    def __repr__(self) -> str:
        return f"Lab(home={str(self.home.root)!r}, runtime={self.runtime!r}, nodes={self.nodes!r})"


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _display(obj: Any) -> None:
    try:
        from IPython.display import display
    except ImportError:
        print(repr(obj))
    else:
        display(obj)


def _display_note(html_text: str) -> None:
    try:
        from IPython.display import HTML, display
    except ImportError:
        import re

        print("note: " + re.sub("<[^>]+>", "", html_text))
    else:
        display(HTML(f"<div class='labkit-note' style='border-left:4px solid #e6a700;padding:4px 8px'>{html_text}</div>"))
