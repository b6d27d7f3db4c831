"""The lab home: where everything a lab writes lives, and who the lab's users are.

One directory (`$LABKIT_HOME`, default `./.labkit`, always made absolute) holds a whole lab:

    <home>/
      pki/ca.crt ca.key apiserver.crt apiserver.key   the lab CA and the API server's serving cert
      pki/sa.key                                       signs ServiceAccount tokens (RSA)
      pki/encryption-config.yaml                       Secrets' encryption keys (EncryptionConfiguration)
      pki/apiserver-kubelet-client.crt .key            the API server's client certificate for node agents
      pki/nodes/<agent>.crt .key                       each node agent process's serving certificate
      tokens.csv                                       bearer tokens, kube-apiserver static token format
      admin.kubeconfig                                 what `labctl kubeconfig` prints
      kubeconfigs/<identity>.kubeconfig                one per identity (scheduler, node-1, ...)
      kubeconfigs/user-<name>.kubeconfig               client-certificate users (`labctl kubeconfig --user`)
      postgres/data                                    the embedded PostgreSQL cluster
      redis/                                           redis.conf and its pid file
      logs/<component>.log                             stdout+stderr of every process the lab starts
      nodes/<node>/pods/<uid>/                         pod volumes and termination logs of each node agent
      run/state.json                                   what the supervisor started (pids, ports)
      run/proxy-rules.txt                              the proxy's current iptables rules

Deleting the directory (after `labctl down`) forgets the lab completely.

This module and one settings read are the only places that read the environment:
`LabSettings.from_env()` reads LABKIT_HOME, DATABASE_URL and REDIS_URL once.

Kubernetes equivalent: kubeadm's /etc/kubernetes layout (cmd/kubeadm/app/constants)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = ".labkit"


@dataclass(frozen=True)
class Identity:
    """One user of the lab: the `name` names its kubeconfig file, `user` is what the API server sees."""

    name: str
    user: str
    groups: tuple[str, ...] = ()

    @property
    def uid(self) -> str:
        # The static token file wants a uid; the identity name is stable and readable.
        return self.name


def lab_identities(*, nodes: int) -> list[Identity]:
    """The identities `labctl up` issues tokens for, in a stable order.

    The user and group names are the ones Kubernetes' default RBAC roles are written for,
    so authorization rules read the same as upstream (system:masters may do anything,
    system:nodes are restricted to their own Node, Lease and pods).
    """
    identities = [
        Identity("admin", "admin", ("system:masters",)),
        Identity("scheduler", "system:kube-scheduler"),
        Identity("controller-manager", "system:kube-controller-manager"),
        Identity("viewer", "viewer", ("labkit:viewers",)),
        Identity("kube-proxy", "system:kube-proxy"),
        Identity("dns", "system:kube-dns"),
        Identity("metrics-server", "system:metrics-server"),
    ]
    identities += [
        Identity(f"node-{i}", f"system:node:node-{i}", ("system:nodes",)) for i in range(1, nodes + 1)
    ]
    return identities


@dataclass(frozen=True)
class LabHome:
    """The layout of one lab home directory; every path a lab writes is a property here."""

    root: Path

    def __post_init__(self) -> None:
        # Processes we start run with other working directories (and PostgreSQL as another
        # user), so every path handed out must be absolute.
        object.__setattr__(self, "root", Path(self.root).expanduser().absolute())

    @classmethod
    def from_env(cls) -> LabHome:
        """The home named by LABKIT_HOME, or ./.labkit."""
        return cls(Path(os.environ.get("LABKIT_HOME") or DEFAULT_HOME))

    @property
    def pki_dir(self) -> Path:
        return self.root / "pki"

    @property
    def ca_cert(self) -> Path:
        return self.pki_dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.pki_dir / "ca.key"

    @property
    def apiserver_cert(self) -> Path:
        return self.pki_dir / "apiserver.crt"

    @property
    def apiserver_key(self) -> Path:
        return self.pki_dir / "apiserver.key"

    @property
    def service_account_key(self) -> Path:
        """The RSA key that signs ServiceAccount tokens (kube-apiserver's sa.key)."""
        return self.pki_dir / "sa.key"

    @property
    def encryption_config(self) -> Path:
        """The EncryptionConfiguration with the key Secrets are encrypted with at rest."""
        return self.pki_dir / "encryption-config.yaml"

    @property
    def token_file(self) -> Path:
        return self.root / "tokens.csv"

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig."""
        return self.root / "admin.kubeconfig"

    @property
    def kubeconfigs_dir(self) -> Path:
        return self.root / "kubeconfigs"

    @property
    def kubelet_client_token(self) -> Path:
        """The token the API server shows node agents when it proxies logs (kubelet client auth)."""
        return self.pki_dir / "kubelet-client.token"

    @property
    def proxy_client_token(self) -> Path:
        """The API server's front-proxy credential towards aggregated API servers (the metrics server)."""
        return self.pki_dir / "front-proxy-client.token"

    @property
    def kubelet_client_cert(self) -> Path:
        """The API server's client certificate for node agents (kubeadm's apiserver-kubelet-client.crt)."""
        return self.pki_dir / "apiserver-kubelet-client.crt"

    @property
    def kubelet_client_key(self) -> Path:
        return self.pki_dir / "apiserver-kubelet-client.key"

    def node_serving_cert(self, agent: str) -> Path:
        """The serving certificate of one node agent process (a node's name, or a fleet's)."""
        return self.pki_dir / "nodes" / f"{agent}.crt"

    def node_serving_key(self, agent: str) -> Path:
        return self.pki_dir / "nodes" / f"{agent}.key"

    def kubeconfig_for(self, identity: str) -> Path:
        return self.kubeconfigs_dir / f"{identity}.kubeconfig"

    def user_kubeconfig(self, user: str) -> Path:
        """Where `labctl kubeconfig --user` writes a user's client-certificate kubeconfig; a user
        name may hold ':' and '/' (system:serviceaccount:...), a file name only the safe part."""
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in user)
        return self.kubeconfigs_dir / f"user-{safe}.kubeconfig"

    @property
    def postgres_dir(self) -> Path:
        return self.root / "postgres"

    @property
    def redis_dir(self) -> Path:
        return self.root / "redis"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    def log_file(self, component: str) -> Path:
        return self.logs_dir / f"{component}.log"

    @property
    def nodes_dir(self) -> Path:
        """The node agents' root directories (``--root-dir``): ``<nodes_dir>/<node>/pods/<uid>/volumes``."""
        return self.root / "nodes"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def state_file(self) -> Path:
        return self.run_dir / "state.json"

    @property
    def proxy_rules_file(self) -> Path:
        """The proxy's current rules, as iptables-restore input (applied, or a dry run's)."""
        return self.run_dir / "proxy-rules.txt"

    def ensure(self) -> None:
        """Create the directories (not the files) of the layout."""
        for d in (self.root, self.pki_dir, self.kubeconfigs_dir, self.logs_dir, self.run_dir):
            d.mkdir(parents=True, exist_ok=True)
        # Keys and tokens live below; nobody else needs to list them.
        self.pki_dir.chmod(0o700)


@dataclass(frozen=True)
class LabSettings:
    """Everything `labctl` takes from the environment, read once."""

    home: LabHome
    database_url: str | None = None
    redis_url: str | None = None
    # How often the metrics server scrapes the nodes (metrics-server's --metric-resolution)
    metric_resolution: str = "15s"
    # The HPA controller's --horizontal-pod-autoscaler-sync-period and -downscale-stabilization
    hpa_sync_period: str = "15s"
    hpa_downscale_stabilization: str = "5m0s"

    @classmethod
    def from_env(cls) -> LabSettings:
        return cls(
            home=LabHome.from_env(),
            database_url=os.environ.get("DATABASE_URL") or None,
            redis_url=os.environ.get("REDIS_URL") or None,
            metric_resolution=os.environ.get("LABKIT_METRIC_RESOLUTION") or "15s",
            hpa_sync_period=os.environ.get("LABKIT_HPA_SYNC_PERIOD") or "15s",
            hpa_downscale_stabilization=os.environ.get("LABKIT_HPA_DOWNSCALE_STABILIZATION") or "5m0s",
        )
