"""The API server's settings: the only place its configuration is read (from flags).

Flag names follow kube-apiserver's, so a Kubernetes user recognises them.
"""

from __future__ import annotations

import argparse
import ipaddress
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str
    bind_address: str = "127.0.0.1"
    # Also listen here, same port (the lab's own flag: the Docker bridge gateway, for pods).
    extra_bind_addresses: tuple[str, ...] = ()
    secure_port: int = 6443
    tls_cert_file: Path | None = None
    tls_private_key_file: Path | None = None
    token_auth_file: Path | None = None
    # Client certificates signed by a CA in this file authenticate (user: Subject CN, groups: O).
    client_ca_file: Path | None = None
    watch_window: int = 10_000  # revisions kept watchable in Redis
    # A watch that asked for bookmarks gets one after this long without an event (kube-apiserver:
    # about a minute); it carries the cluster's progress (orchestrator/storage/watchcache.py).
    watch_bookmark_seconds: float = 30.0
    event_ttl_seconds: int = 3600  # core/v1 Events older than this are deleted (kube-apiserver --event-ttl=1h)
    max_request_bytes: int = 3 * 1024 * 1024  # kube-apiserver's limit for a request body
    run_relay: bool = True  # publish the outbox from this process (single-active across processes)
    min_watch_timeout_seconds: int = 1800
    kubelet_client_token: str | None = None  # sent to node agents' log endpoints (pods/x/log)
    # Sent to aggregated API servers (APIServices: the metrics server) with X-Remote-User/-Group,
    # so they trust the user this server authenticated (kube-apiserver's --proxy-client-cert-file).
    proxy_client_token: str | None = None
    # The node agent hop over HTTPS (orchestrator/apiserver/kubeletclient.py): the API server's
    # client certificate, and the CA the agents' serving certificates must chain to.
    kubelet_client_certificate: Path | None = None
    kubelet_client_key: Path | None = None
    kubelet_certificate_authority: Path | None = None
    # A request body must arrive whole within this many seconds (kube-apiserver --request-timeout,
    # 1m): a client that sends it a byte at a time, or never finishes, gets 408 and its connection back.
    request_timeout_seconds: float = 60.0
    # Open watches per process; one more gets 429 TooManyRequests (with Retry-After) rather than
    # a connection the process has no file descriptor or memory left to serve.
    max_watches: int = 4096
    # API Priority and Fairness (orchestrator/apiserver/flowcontrol.py): the seats all priority
    # levels share, split by their concurrency shares.
    enable_priority_and_fairness: bool = True
    max_requests_inflight: int = 600
    # Encryption at rest (kube-apiserver --encryption-provider-config): docs/storage.md.
    encryption_provider_config: Path | None = None
    # Rewrite every object not stored with the first key (after a rotation), once, at start.
    rewrite_encrypted_resources: bool = False
    # ServiceAccount tokens: the key that signs TokenRequest tokens and the keys that verify them.
    service_account_signing_key_file: Path | None = None
    service_account_key_files: tuple[Path, ...] = ()
    service_account_issuer: str = "https://kubernetes.default.svc.cluster.local"
    api_audiences: tuple[str, ...] = ()  # empty: the issuer
    # Services (docs/networking.md): where ClusterIPs and node ports come from, and the address the
    # `kubernetes` Service's endpoints name (None: this host's primary address, as kube-apiserver's
    # --advertise-address defaults to the default route's interface).
    service_cluster_ip_range: str = "10.96.0.0/12"
    service_node_port_range: str = "30000-32767"
    advertise_address: str | None = None
    # The port those endpoints and the Service's targetPort name (None: --secure-port). Behind a
    # load balancer on the same host (labctl up --apiservers 2) every API server names the
    # balancer's port, so that they agree instead of each writing its own (docs/multi-host.md).
    advertise_port: int | None = None

    @classmethod
    def from_args(cls, argv: list[str] | None = None) -> Settings:
        p = argparse.ArgumentParser(prog="python -m orchestrator.apiserver",
                                    description="The Orchestrator Lab Kit API server (Kubernetes-compatible REST + watch).")
        p.add_argument("--database-url", required=True, help="PostgreSQL, e.g. postgresql://postgres@127.0.0.1:5432/labkit")
        p.add_argument("--redis-url", required=True, help="Redis, e.g. redis://127.0.0.1:6379/0")
        p.add_argument("--bind-address", default="127.0.0.1")
        p.add_argument("--extra-bind-address", action="append", default=[],
                       help="also listen on this address, same port (repeatable; `labctl up` passes the Docker "
                            "bridge gateway so that pods reach the `kubernetes` Service)")
        p.add_argument("--secure-port", type=int, default=6443)
        p.add_argument("--tls-cert-file", type=Path)
        p.add_argument("--tls-private-key-file", type=Path)
        p.add_argument("--token-auth-file", type=Path, required=True)
        p.add_argument("--client-ca-file", type=Path,
                       help="CA certificates (PEM); a client certificate they signed authenticates its Subject "
                            "CommonName as the user and its Organizations as the groups (needs --tls-cert-file)")
        p.add_argument("--watch-window", type=int, default=10_000,
                       help="revisions kept watchable; an older watch gets 410 Expired")
        p.add_argument("--watch-bookmark-seconds", type=float, default=30.0,
                       help="the lab's own flag: seconds without an event after which a watch that allows "
                            "bookmarks gets a BOOKMARK (default 30)")
        p.add_argument("--event-ttl", type=int, default=3600, help="seconds an Event is kept (default 1h)")
        p.add_argument("--request-timeout", type=float, default=60.0,
                       help="seconds a client has to send its whole request body (default 60); then 408")
        p.add_argument("--max-watches", type=int, default=4096,
                       help="open watches this process serves at once (default 4096); one more gets 429")
        p.add_argument("--enable-priority-and-fairness", action=argparse.BooleanOptionalAction, default=True,
                       help="queue requests by priority level when busy (default on; "
                            "--no-enable-priority-and-fairness serves every request at once)")
        p.add_argument("--max-requests-inflight", type=int, default=600,
                       help="requests served at once, shared by the priority levels (default 600, kube-apiserver's 400 + 200)")
        p.add_argument("--no-relay", action="store_true", help="do not publish the outbox from this process")
        p.add_argument("--kubelet-client-token-file", type=Path,
                       help="a token the API server presents to node agents when it proxies pods/x/log")
        p.add_argument("--proxy-client-token-file", type=Path,
                       help="a token the API server presents to aggregated API servers (APIServices) it proxies to")
        p.add_argument("--kubelet-client-certificate", type=Path,
                       help="the client certificate (PEM) the API server shows node agents; with it, node agents "
                            "are called over HTTPS")
        p.add_argument("--kubelet-client-key", type=Path, help="the key of --kubelet-client-certificate (PEM)")
        p.add_argument("--kubelet-certificate-authority", type=Path,
                       help="the CA (PEM) node agents' serving certificates must chain to (default: not checked)")
        p.add_argument("--encryption-provider-config", type=Path,
                       help="an EncryptionConfiguration file: which resources are encrypted at rest, with which keys")
        p.add_argument("--rewrite-encrypted-resources", action="store_true",
                       help="at start, write again every encrypted object not stored with the first key "
                            "(the last step of a key rotation)")
        p.add_argument("--service-account-signing-key-file", type=Path,
                       help="the private key (RSA, PEM) that signs ServiceAccount tokens (serviceaccounts/token)")
        p.add_argument("--service-account-key-file", type=Path, action="append", default=[],
                       help="keys (PEM, public or private) that verify ServiceAccount tokens; repeatable; "
                            "default: the signing key")
        p.add_argument("--service-account-issuer", default="https://kubernetes.default.svc.cluster.local",
                       help="the iss claim of ServiceAccount tokens")
        p.add_argument("--api-audiences", default="",
                       help="comma-separated audiences a token must name to be accepted (default: the issuer)")
        p.add_argument("--service-cluster-ip-range", default="10.96.0.0/12",
                       help="the IPv4 CIDR ClusterIPs are allocated from (default 10.96.0.0/12, as kubeadm's); "
                            "its first address is the `kubernetes` Service's")
        p.add_argument("--service-node-port-range", default="30000-32767",
                       help="the ports NodePort services are allocated from (default 30000-32767)")
        p.add_argument("--advertise-address",
                       help="the IP the `kubernetes` Service's endpoints name (default: this host's primary address)")
        p.add_argument("--advertise-port", type=int,
                       help="the port the `kubernetes` Service's endpoints and targetPort name (default: --secure-port); "
                            "behind a load balancer, the balancer's port")
        a = p.parse_args(argv)
        from orchestrator.apiserver.registry.serviceallocator import ClusterIPRange, NodePortRange

        try:
            ClusterIPRange.parse(a.service_cluster_ip_range)
            NodePortRange.parse(a.service_node_port_range)
        except ValueError as exc:
            p.error(str(exc))
        for address in a.extra_bind_address:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                p.error(f"--extra-bind-address {address!r}: not an IP address")
        if a.request_timeout <= 0:
            p.error(f"--request-timeout must be a positive number of seconds, got {a.request_timeout}")
        if a.max_watches < 1:
            p.error(f"--max-watches must be at least 1, got {a.max_watches}")
        if not a.watch_bookmark_seconds > 0:
            p.error(f"--watch-bookmark-seconds must be a positive number of seconds, got {a.watch_bookmark_seconds}")
        if a.max_requests_inflight < 1:
            p.error(f"--max-requests-inflight must be at least 1, got {a.max_requests_inflight}")
        if (a.tls_cert_file is None) != (a.tls_private_key_file is None):
            p.error("--tls-cert-file and --tls-private-key-file go together")
        for flag, path in (("--tls-cert-file", a.tls_cert_file), ("--tls-private-key-file", a.tls_private_key_file),
                           ("--token-auth-file", a.token_auth_file), ("--client-ca-file", a.client_ca_file),
                           ("--kubelet-client-token-file", a.kubelet_client_token_file),
                           ("--proxy-client-token-file", a.proxy_client_token_file),
                           ("--kubelet-client-certificate", a.kubelet_client_certificate),
                           ("--kubelet-client-key", a.kubelet_client_key),
                           ("--kubelet-certificate-authority", a.kubelet_certificate_authority),
                           ("--encryption-provider-config", a.encryption_provider_config),
                           ("--service-account-signing-key-file", a.service_account_signing_key_file),
                           *(("--service-account-key-file", f) for f in a.service_account_key_file)):
            if path is not None and not path.is_file():
                p.error(f"{flag}: {path} does not exist (run `labctl up` to create the lab's certificates and tokens)")
        if (a.kubelet_client_certificate is None) != (a.kubelet_client_key is None):
            p.error("--kubelet-client-certificate and --kubelet-client-key go together")
        if a.client_ca_file is not None and a.tls_cert_file is None:
            p.error("--client-ca-file needs --tls-cert-file: client certificates are only shown over TLS")
        if a.rewrite_encrypted_resources and a.encryption_provider_config is None:
            p.error("--rewrite-encrypted-resources needs --encryption-provider-config")
        _check_key_files(p, a)
        return cls(
            database_url=a.database_url,
            redis_url=a.redis_url,
            bind_address=a.bind_address,
            extra_bind_addresses=tuple(a.extra_bind_address),
            secure_port=a.secure_port,
            tls_cert_file=a.tls_cert_file,
            tls_private_key_file=a.tls_private_key_file,
            token_auth_file=a.token_auth_file,
            client_ca_file=a.client_ca_file,
            watch_window=a.watch_window,
            watch_bookmark_seconds=a.watch_bookmark_seconds,
            event_ttl_seconds=a.event_ttl,
            run_relay=not a.no_relay,
            request_timeout_seconds=a.request_timeout,
            max_watches=a.max_watches,
            enable_priority_and_fairness=a.enable_priority_and_fairness,
            max_requests_inflight=a.max_requests_inflight,
            kubelet_client_token=(a.kubelet_client_token_file.read_text().strip()
                                  if a.kubelet_client_token_file else None),
            proxy_client_token=(a.proxy_client_token_file.read_text().strip()
                                if a.proxy_client_token_file else None),
            kubelet_client_certificate=a.kubelet_client_certificate,
            kubelet_client_key=a.kubelet_client_key,
            kubelet_certificate_authority=a.kubelet_certificate_authority,
            encryption_provider_config=a.encryption_provider_config,
            rewrite_encrypted_resources=a.rewrite_encrypted_resources,
            service_account_signing_key_file=a.service_account_signing_key_file,
            service_account_key_files=tuple(a.service_account_key_file),
            service_account_issuer=a.service_account_issuer,
            api_audiences=tuple(x.strip() for x in a.api_audiences.split(",") if x.strip()),
            service_cluster_ip_range=a.service_cluster_ip_range,
            service_node_port_range=a.service_node_port_range,
            advertise_address=a.advertise_address,
            advertise_port=a.advertise_port,
        )


def _check_key_files(p: argparse.ArgumentParser, a: argparse.Namespace) -> None:
    """A broken encryption configuration or token key stops the start with what to fix, not
    with a traceback on the first request that needs it."""
    from orchestrator.apiserver.clientcert import ClientCAError, load_client_ca
    from orchestrator.apiserver.encryption import EncryptionConfigError, load_config
    from orchestrator.apiserver.serviceaccount_tokens import TokenKeyError, load_private_key, load_public_keys

    try:
        if a.client_ca_file is not None:
            load_client_ca(a.client_ca_file)
        if a.encryption_provider_config is not None:
            load_config(a.encryption_provider_config)
        if a.service_account_signing_key_file is not None:
            load_private_key(a.service_account_signing_key_file)
        for path in a.service_account_key_file:
            load_public_keys(path)
    except (ClientCAError, EncryptionConfigError, TokenKeyError) as exc:
        p.error(str(exc))
    if a.kubelet_client_certificate is not None or a.kubelet_certificate_authority is not None:
        import ssl

        from orchestrator.apiserver.kubeletclient import KubeletClient

        try:
            KubeletClient(client_cert=a.kubelet_client_certificate, client_key=a.kubelet_client_key,
                          ca_file=a.kubelet_certificate_authority)
        except (OSError, ssl.SSLError) as exc:
            p.error(f"--kubelet-client-certificate/--kubelet-client-key/--kubelet-certificate-authority: "
                    f"cannot be loaded ({exc})")
