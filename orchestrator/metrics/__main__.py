"""`python -m orchestrator.metrics`: the lab's metrics server.

    python -m orchestrator.metrics --kubeconfig PATH --kubelet-token-file PATH
        --requestheader-token-file PATH [--metric-resolution 15s] [--bind-address 127.0.0.1]
        [--port 4443] [--tls-cert-file PATH --tls-private-key-file PATH]

Start-up: start the Node and Pod informers (its identity, system:metrics-server, may read both),
scrape every Ready node each ``--metric-resolution`` (15 s as metrics-server; tests use less), and
serve ``metrics.k8s.io/v1beta1`` on ``--port`` (HTTP, or HTTPS given a certificate) for the API
server, which reaches it through the APIService ``v1beta1.metrics.k8s.io``
(orchestrator/metrics/apiservice.py). /readyz answers 200 once the first scrape finished.

Kubernetes equivalent: sigs.k8s.io/metrics-server/cmd/metrics-server
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from orchestrator.client.informer import Informer, SharedInformerFactory
from orchestrator.client.process import configure_logging, run_component
from orchestrator.client.rest import ApiClient
from orchestrator.metrics.api import Labels, create_app
from orchestrator.metrics.scraper import DEFAULT_RESOLUTION, Scraper
from orchestrator.metrics.storage import MetricsStorage

log = logging.getLogger("orchestrator.metrics")

DEFAULT_PORT = 4443  # metrics-server's --secure-port in its manifests
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m)?$")


def parse_duration(text: str) -> float:
    """``15s``, ``500ms``, ``1m`` or a plain number of seconds → seconds."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration: write e.g. 15s, 500ms or 1m")
    value = float(match.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[match.group(2)]
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the resolution must be positive")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m orchestrator.metrics", description=__doc__.split("\n")[0])
    p.add_argument("--kubeconfig", type=Path, required=True, help="an identity that may list and watch nodes and pods")
    p.add_argument("--kubelet-token-file", type=Path, help="the bearer token node agents accept for /stats/summary")
    p.add_argument("--kubelet-certificate-authority", type=Path,
                   help="scrape node agents over HTTPS, their certificates checked against this CA (default: HTTP)")
    p.add_argument("--requestheader-token-file", type=Path, required=True,
                   help="the front-proxy token the API server sends (its --proxy-client-token-file)")
    p.add_argument("--metric-resolution", type=parse_duration, default=DEFAULT_RESOLUTION,
                   help="scrape every node this often (default 15s)")
    p.add_argument("--bind-address", default="127.0.0.1")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="where the API server reaches it (0 picks one)")
    p.add_argument("--tls-cert-file", type=Path, help="serve HTTPS with this certificate (default: HTTP)")
    p.add_argument("--tls-private-key-file", type=Path)
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def labels_of(informer: Informer) -> Labels:
    """(namespace, name) → the cached object's labels, None when the informer does not hold it."""
    def get(namespace: str | None, name: str) -> dict[str, str] | None:
        obj = informer.get(f"{namespace}/{name}" if namespace else name)
        return None if obj is None else dict((obj.get("metadata") or {}).get("labels") or {})
    return get


def _token(path: Path | None) -> str | None:
    return path.read_text().strip() if path is not None else None


async def serve(args: argparse.Namespace) -> None:
    proxy_token = _token(args.requestheader_token_file)
    if not proxy_token:
        raise ValueError(f"{args.requestheader_token_file}: the front-proxy token file is empty")
    async with ApiClient.from_kubeconfig(args.kubeconfig, user_agent="orchestrator-metrics-server") as client:
        factory = SharedInformerFactory(client)
        nodes, pods = factory.informer("nodes"), factory.informer("pods")
        storage = MetricsStorage(stale_after=max(60.0, 4 * args.metric_resolution))
        scraper = Scraper(nodes=nodes.list, storage=storage, token=_token(args.kubelet_token_file),
                          resolution=args.metric_resolution, kubelet_ca=args.kubelet_certificate_authority)

        app = create_app(storage=storage, node_labels=labels_of(nodes), pod_labels=labels_of(pods),
                         proxy_tokens=[proxy_token], ready=lambda: scraper.scrapes > 0)
        tls = {}
        if args.tls_cert_file is not None:
            tls = {"ssl_certfile": str(args.tls_cert_file), "ssl_keyfile": str(args.tls_private_key_file)}
        config = uvicorn.Config(app, host=args.bind_address, port=args.port, log_level="warning", lifespan="off",
                                access_log=False, **tls)  # type: ignore[arg-type]
        server = uvicorn.Server(config)
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # run_component owns signals

        async def scrape_when_synced() -> None:
            await nodes.wait_for_sync()
            await pods.wait_for_sync()
            await scraper.run()

        log.info("metrics server: scraping every %gs, serving %s on %s:%d", args.metric_resolution,
                 "https" if tls else "http", args.bind_address, args.port)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(factory.run(), name="informers")
                tg.create_task(scrape_when_synced(), name="scraper")
                tg.create_task(server.serve(), name="metrics-api")
        finally:
            await scraper.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(verbose=args.verbose)
    return run_component("metrics", lambda: serve(args))


if __name__ == "__main__":
    raise SystemExit(main())
