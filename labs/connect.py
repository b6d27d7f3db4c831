"""`labs.connect(kubeconfig=...)`: use a lab someone else runs — a classroom lab, by a student's kubeconfig.

In classroom mode (`labctl classroom create`, docs/classroom.md) the instructor runs one cluster and
each student runs only JupyterLab, with the kubeconfig the instructor handed out:

    import labs
    lab = labs.connect(kubeconfig="student-07.kubeconfig")   # or $KUBECONFIG, or ~/.kube/config
    lab.kubectl("get", "pods")          # in the student's own namespace (the kubeconfig's context)
    lab.apply(manifest)                 # likewise
    labs.check("first-pod", lab=lab)    # checks run against the classroom lab; passes are recorded
                                        # in the student's namespace too, for `labctl classroom status`

A `ConnectedLab` is a `Lab` whose API server, credentials and namespace come from the kubeconfig.
What it cannot do, because the processes and the storage are on the instructor's machine, raises
`LabError` saying so: reading PostgreSQL rows or Redis entries (``labs.inspect``), stopping, killing
or adding components, `stop()` of the whole cluster. The notebooks that teach with those (01, 04,
06, 07, 08) start a lab of their own on the student's laptop instead.
"""

from __future__ import annotations

import base64
import os
import ssl
from pathlib import Path
from typing import Any, NoReturn

import httpx
import yaml

from labs.errors import LabError
from labs.lab import Lab, lab_home
from labs.table import Table
from orchestrator.lab.home import LabSettings

_current: ConnectedLab | None = None


def connect(kubeconfig: str | os.PathLike[str] | None = None, *, show: bool = True) -> ConnectedLab:
    """A `Lab` for the cluster a kubeconfig points at (default: $KUBECONFIG, else ~/.kube/config).

    Checks at once that the API server answers and accepts the kubeconfig's token (a `LabError`
    that names the kubeconfig otherwise)."""
    global _current
    if kubeconfig is None:
        env = os.environ.get("KUBECONFIG", "")
        kubeconfig = env.split(os.pathsep)[0] if env else Path.home() / ".kube" / "config"
    path = Path(kubeconfig).expanduser().absolute()
    lab = ConnectedLab(path)
    with lab.http() as client:
        try:
            answer = client.post("/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                 json={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
        except httpx.HTTPError as err:
            raise LabError(f"the API server in {path} ({lab.api_url}) does not answer: {err}; is the "
                           "classroom lab running, and is its address reachable from here?") from None
    if answer.status_code == 401:
        raise LabError(f"the API server refused the token in {path} (401): the student was deleted or the "
                       "token expired; ask for a new kubeconfig (`labctl classroom create` renews them)")
    answer.raise_for_status()
    lab.user = ((answer.json().get("status") or {}).get("userInfo") or {}).get("username", "")
    _current = lab
    if show:
        print(f"connected to {lab.api_url} as {lab.user}, namespace {lab.namespace}")
    return lab


def current() -> ConnectedLab | None:
    """The lab `connect` returned last in this kernel (labs.progress records to it), if any."""
    return _current


class ConnectedLab(Lab):
    """A lab reached by kubeconfig only (see the module docstring)."""

    def __init__(self, kubeconfig: Path) -> None:
        super().__init__(settings=LabSettings(home=lab_home()), runtime="remote")
        try:
            config = yaml.safe_load(kubeconfig.read_text()) or {}
            context_name = config["current-context"]
            context = next(c["context"] for c in config["contexts"] if c["name"] == context_name)
            cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
            user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
            self._server: str = cluster["server"]
            self._token: str = user["token"]
            ca = cluster.get("certificate-authority-data")
            self._ca_pem = base64.b64decode(ca) if ca else None
        except OSError as err:
            raise LabError(f"cannot read the kubeconfig {kubeconfig}: {err.strerror or err}") from None
        except (yaml.YAMLError, KeyError, StopIteration, TypeError) as err:
            raise LabError(f"the kubeconfig {kubeconfig} lacks a server, a token or a context ({err!r}); "
                           "use the file `labctl classroom kubeconfig <student>` printed") from None
        self._kubeconfig = kubeconfig
        self.namespace: str = context.get("namespace") or "default"
        self.user = ""

    @property
    def kubeconfig(self) -> Path:
        return self._kubeconfig

    @property
    def api_url(self) -> str:
        return self._server

    def token(self, identity: str = "admin") -> str:
        self._only_own(identity)
        return self._token

    def http(self, identity: str = "admin", *, timeout: float = 30.0) -> httpx.Client:
        self._only_own(identity)
        return httpx.Client(base_url=self.api_url, headers={"Authorization": f"Bearer {self._token}"},
                            verify=self._ssl_context(), timeout=timeout)

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context(
                cadata=self._ca_pem.decode() if self._ca_pem else None)
        return self._ssl

    def kubectl(self, *args: str, check: bool = True, identity: str = "admin", input: str | None = None,
                quiet: bool = False) -> Any:
        self._only_own(identity)
        return super().kubectl(*args, check=check, input=input, quiet=quiet)

    def _only_own(self, identity: str) -> None:
        if identity != "admin":
            raise LabError(f"a lab connected by kubeconfig has one identity, its own ({self.user or 'the kubeconfig'}"
                           f"'s); identity={identity!r} needs a lab of your own (labs.start())")

    @property
    def nodes(self) -> list[str]:
        with self.http() as client:
            listed = client.get("/api/v1/nodes")
        if listed.status_code != 200:
            return []
        return [n["metadata"]["name"] for n in listed.json().get("items") or []]

    # --- what only the machine that runs the lab can do ------------------------------------------

    def _not_here(self, what: str) -> NoReturn:
        raise LabError(f"{what} needs the machine that runs the lab; this lab is connected by kubeconfig "
                       f"({self.api_url}). Start a lab of your own for it: labs.start()")

    @property
    def database_url(self) -> str:
        self._not_here("reading PostgreSQL")

    @property
    def redis_url(self) -> str:
        self._not_here("reading Redis")

    def status(self) -> Table:
        self._not_here("the component table")

    def stop_component(self, name: str) -> None:
        self._not_here(f"stopping {name}")

    def start_component(self, name: str) -> None:
        self._not_here(f"starting {name}")

    def kill(self, name: str) -> int:
        self._not_here(f"killing {name}")

    def add_nodes(self, n: int, *, runtime: str | None = None) -> list[str]:
        self._not_here("adding nodes")

    def compact(self, *, keep: int = 0) -> int:
        self._not_here("compacting the history")

    def stop(self) -> None:
        """Forget the connection; the cluster keeps running (it is the instructor's)."""
        global _current
        if self._kube_client is not None:
            self._kube_client.close()
            self._kube_client = None
        if _current is self:
            _current = None
        print(f"disconnected from {self.api_url}; the lab keeps running")

    def __repr__(self) -> str:
        return f"ConnectedLab({self.api_url!r}, user={self.user!r}, namespace={self.namespace!r})"

