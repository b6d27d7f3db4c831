"""Several API servers behind HAProxy: what `labctl up --apiservers N` (N >= 2) starts.

    clients (kubectl, components, notebooks)        pods: https://kubernetes.default.svc
        │ https://127.0.0.1:<the lab's API port>        │ the proxy DNATs the ClusterIP:443 to
        │ (the kubeconfigs name HAProxy)                 │ <bridge gateway>:<the lab's API port>
        ▼                                                ▼
    haproxy            Debian's haproxy, TCP mode: TLS passes through untouched
        │ round robin over the servers its /readyz check finds ready
        ▼
    apiserver-1 … apiserver-N   python -m orchestrator.apiserver on 127.0.0.1:<own port> each:
                                the same database, Redis, serving certificate and tokens

Why TCP mode: the API server authenticates client certificates (`labctl kubeconfig --user`) and
clients verify the API server's certificate; terminating TLS in HAProxy would break both. The
certificate's names (127.0.0.1, localhost, every --san) are the addresses clients dial, which are
now HAProxy's, so the one certificate serves every API server; it also names the Docker bridge
gateway, the `kubernetes` Service's ClusterIP and ``kubernetes.default.svc`` (orchestrator/lab/pki.py),
so a pod verifies it too.

Pods (Docker labs): HAProxy also listens on the bridge gateway, same port, and every API server
advertises ``<gateway>:<HAProxy's port>`` (``--advertise-address``, ``--advertise-port``), so the
`kubernetes` Service's Endpoints and EndpointSlice name HAProxy, and a pod's connection to the
ClusterIP is balanced like any other: one API server killed, pods reach the API through the others.

Why any API server can serve any request (docs/multi-host.md):
- writes: PostgreSQL serializes them across processes (one revision counter, row locks, unique
  claims of ClusterIPs and node ports), and a stale resourceVersion is a 409 whoever serves it;
- watches: the relay is its own process and publishes every revision to Redis once; each API
  server reads the streams into its own watch cache, so a watch resumed from resourceVersion R on
  another server gets exactly the events after R;
- in-process state (RBAC, admission listers, the CRD catalog) is an informer over the same watch,
  eventually consistent as kube-apiserver's; quota charges are compare-and-swap updates.

What HAProxy is told (`render_config`):
- check: every second an HTTPS ``GET /readyz`` to each API server, verified against the lab CA;
  two failures take a server out, two successes put it back;
- a connect to a server that refuses (killed, not yet marked down) is retried on the next one
  (``retries`` + ``option redispatch``): new requests see no error at all;
- connections to a server marked down are cut (``on-marked-down shutdown-sessions``), so the
  watches of a hung API server resume elsewhere instead of waiting forever;
- client and server timeouts of an hour: watches are long-lived connections;
- a stats socket in the lab home (``show stat``), read by `backend_servers`.

HAProxy is supervised like every component: the watchdog restarts it if it dies, `labctl down`
stops it, `labctl status` lists it beside ``apiserver-1`` … ``apiserver-N``.

Kubernetes equivalent: kubeadm's high-availability load balancer (kubeadm docs,
"ha-considerations.md": HAProxy in TCP mode in front of the kube-apiservers, checking their
health endpoint).
"""

from __future__ import annotations

import csv
import io
import shutil
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from orchestrator.lab.embedded.ports import LOOPBACK
from orchestrator.lab.home import LabHome
from orchestrator.lab.supervisor import ComponentSpec, Supervisor, SupervisorError

COMPONENT = "haproxy"
BACKEND = "apiservers"
MAX_APISERVERS = 5
_ALL_APISERVER_NAMES = frozenset(["apiserver", *(f"apiserver-{i}" for i in range(1, MAX_APISERVERS + 1))])
# Debian installs it in /usr/sbin, which is not on every user's PATH.
_INSTALLED_PATHS = ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy")
INSTALL_HINT = "install Debian's haproxy (`apt-get install haproxy`) or run with --apiservers 1"


@dataclass(frozen=True)
class Backend:
    """One API server behind HAProxy: its component name and where it listens."""

    name: str
    host: str
    port: int


@dataclass(frozen=True)
class BackendServer:
    """One row of HAProxy's ``show stat`` for an API server."""

    name: str
    status: str  # "UP", "DOWN", "UP 1/2" (rising), "DOWN 1/2" (falling), "MAINT"...
    sessions_total: int  # connections HAProxy has sent to it since HAProxy started

    @property
    def up(self) -> bool:
        return self.status == "UP"


def apiserver_names(count: int) -> list[str]:
    """The components of a lab's API servers: ``apiserver`` alone, or ``apiserver-1`` … behind HAProxy."""
    if count < 1 or count > MAX_APISERVERS:
        raise SupervisorError(f"--apiservers {count}: give 1 to {MAX_APISERVERS}")
    return ["apiserver"] if count == 1 else [f"apiserver-{i}" for i in range(1, count + 1)]


def front_door(count: int) -> str:
    """The component clients connect to (and the other components depend on)."""
    return "apiserver" if count == 1 else COMPONENT


def check_count(supervisor: Supervisor, *, wanted: int | None, remembered: object) -> int:
    """How many API servers this `up` runs: `wanted`, else what the last `up` ran, else 1. A lab
    running another number must be taken down first (its clients' port changes hands between an
    API server and HAProxy). Fails before anything starts if HAProxy would be needed and is missing."""
    count = wanted or (remembered if isinstance(remembered, int) else None) or 1
    names = apiserver_names(count)
    running = [r.name for r in supervisor.records()
               if r.name in _ALL_APISERVER_NAMES and supervisor.alive(r)]
    strangers = [name for name in running if name not in names]
    if strangers:
        have = len(running) if running != ["apiserver"] else 1
        raise SupervisorError(f"the lab runs {have} API server(s) ({', '.join(running)}): "
                              f"run `labctl down` first to change to --apiservers {count}")
    if count > 1:
        haproxy_binary()
    return count


def config_file(home: LabHome) -> Path:
    return home.run_dir / "haproxy.cfg"


def stats_socket(home: LabHome) -> Path:
    return home.run_dir / "haproxy.sock"


def haproxy_binary() -> str:
    """The haproxy executable, or a SupervisorError saying how to get it."""
    found = shutil.which("haproxy") or next((p for p in _INSTALLED_PATHS if Path(p).exists()), None)
    if found is None:
        raise SupervisorError(f"--apiservers needs HAProxy, which is not installed: {INSTALL_HINT}")
    return found


def render_config(*, bind: str, port: int, backends: Sequence[Backend], ca_file: Path, stats: Path,
                  extra_binds: Sequence[str] = ()) -> str:
    """HAProxy's configuration (see the module docstring for why each setting); `extra_binds`:
    more addresses its front door listens on, same port (the Docker bridge gateway for pods)."""
    servers = "\n".join(f"    server {b.name} {b.host}:{b.port}" for b in backends)
    binds = "\n".join(f"    bind {address}:{port}" for address in (bind, *extra_binds))
    return f"""\
# Written by `labctl up --apiservers {len(backends)}` (orchestrator/lab/haproxy.py); rewritten on every `up`.
global
    log stdout format raw local0 info
    maxconn 4096
    stats socket {stats} mode 600 level operator

defaults
    mode tcp
    log global
    option tcplog
    timeout connect 2s
    timeout client 1h
    timeout server 1h
    timeout check 2s
    retries 3
    option redispatch 1

frontend apiserver
{binds}
    default_backend {BACKEND}

backend {BACKEND}
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server check check-ssl verify required ca-file {ca_file} inter 1s fastinter 500ms fall 2 rise 2 on-marked-down shutdown-sessions
{servers}
"""


def haproxy_spec(home: LabHome, *, bind: str, port: int, backends: Sequence[Backend],
                 extra_binds: Sequence[str] = ()) -> ComponentSpec:
    """Write the configuration into the lab home and say how to run HAProxy on it, in the
    foreground (``-db``) so that the supervisor owns the process and its log."""
    binary = haproxy_binary()
    config = config_file(home)
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(render_config(bind=bind, port=port, backends=backends, ca_file=home.ca_cert,
                                    stats=stats_socket(home), extra_binds=extra_binds))
    return ComponentSpec(
        name=COMPONENT,
        argv=[binary, "-db", "-f", str(config)],
        # Healthy = a request through HAProxy reaches a ready API server.
        health=f"https://{LOOPBACK}:{port}/readyz",
        depends_on=tuple(b.name for b in backends),
        address=f"{LOOPBACK}:{port}",
    )


def stats_command(home: LabHome, command: str, *, timeout: float = 2.0) -> str:
    """One command on HAProxy's stats socket (``show stat``, ``show sess``...) and its answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(str(stats_socket(home)))
        conn.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def backend_servers(home: LabHome) -> dict[str, BackendServer]:
    """The API servers as HAProxy sees them now (``show stat``)."""
    rows = csv.DictReader(io.StringIO(stats_command(home, "show stat").lstrip("# ")))
    return {
        row["svname"]: BackendServer(name=row["svname"], status=row["status"], sessions_total=int(row["stot"] or 0))
        for row in rows
        if row.get("pxname") == BACKEND and row.get("svname") not in ("FRONTEND", "BACKEND")
    }


def backends(count: int, *, port_for: Callable[[str], int]) -> list[Backend]:
    """The API servers HAProxy balances over (none for a lab of one API server, which has no
    HAProxy), each on loopback at ``port_for(name)``."""
    names = apiserver_names(count)
    return [] if count == 1 else [Backend(name=name, host=LOOPBACK, port=port_for(name)) for name in names]


def status_line(home: LabHome) -> str | None:
    """What `labctl status` says below the table of a lab with HAProxy: which API servers HAProxy
    sends new connections to now. None when the lab has no HAProxy or it does not answer."""
    if not stats_socket(home).exists():
        return None
    try:
        servers = backend_servers(home)
    except OSError:
        return None
    shown = ", ".join(f"{s.name} {s.status}" for s in servers.values())
    return f"haproxy balances over: {shown}  (UP: gets new connections; checked on /readyz every second)"
