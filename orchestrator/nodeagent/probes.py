"""Startup, liveness and readiness probes: exec, httpGet and tcpSocket, with kubelet's counting rules.

One `ProbeWorker` per (container, probe kind) runs while the container runs:

- it waits ``initialDelaySeconds`` (default 0), then probes every ``periodSeconds`` (default 10),
  each attempt bounded by ``timeoutSeconds`` (default 1);
- the result flips only after ``failureThreshold`` (default 3) consecutive failures or
  ``successThreshold`` (default 1) consecutive successes;
- before the first result, readiness is *failure* (a pod is not Ready until a probe says so)
  and liveness is *success* (a container is not killed before it was ever probed);
- a startup probe starts as *not started*; one success makes it *started* (the pod worker then
  stops it and starts the liveness and readiness probes, which wait until then), and
  ``failureThreshold`` consecutive failures before that set `failed` (the container is killed
  and restarted per the restartPolicy, as a liveness failure).

A probe outcome is a value (`ProbeResult`); the worker calls `on_change` when its result flips,
so the pod worker re-syncs: readiness drives ``ready`` and the Ready condition, a liveness
failure makes the pod worker kill and restart the container.

exec: the command runs in the container, exit code 0 is success. httpGet: GET
``scheme://host:port/path`` (host: the pod IP), a status 200..399 is success. tcpSocket: a
connection that opens is success.

Kubernetes equivalent: pkg/kubelet/prober (worker.go, prober.go), pkg/probe/{exec,http,tcp}.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from orchestrator.api.errors import ApiError
from orchestrator.client.clock import Clock, LoopClock
from orchestrator.nodeagent.runtimes.base import Runtime

log = logging.getLogger(__name__)

ProbeKind = Literal["startup", "liveness", "readiness"]


@dataclass(frozen=True)
class ProbeResult:
    success: bool
    message: str = ""


@dataclass(frozen=True)
class ProbeSettings:
    """The timing fields of a probe, defaulted as the API server defaults them."""

    initial_delay: float
    period: float
    timeout: float
    failure_threshold: int
    success_threshold: int

    @classmethod
    def from_probe(cls, probe: Mapping[str, Any]) -> ProbeSettings:
        return cls(
            initial_delay=float(probe.get("initialDelaySeconds") or 0),
            period=float(probe.get("periodSeconds") or 10),
            timeout=float(probe.get("timeoutSeconds") or 1),
            failure_threshold=int(probe.get("failureThreshold") or 3),
            success_threshold=int(probe.get("successThreshold") or 1),
        )


async def run_probe(
    probe: Mapping[str, Any],
    *,
    runtime: Runtime,
    container_id: str,
    pod_ip: str | None,
    container_ports: Mapping[str, int],
    timeout: float,
) -> ProbeResult:
    """One probe attempt. Never raises for the probed thing failing: that is a failed result."""
    try:
        if "exec" in probe:
            command = list((probe["exec"] or {}).get("command") or [])
            result = await runtime.exec(container_id, command, timeout=timeout)
            if result.timed_out:
                return ProbeResult(False, f"command {command!r} timed out")
            if result.exit_code != 0:
                output = result.output.decode(errors="replace").strip()
                return ProbeResult(False, f"command {command!r} exited with {result.exit_code}: {output}")
            return ProbeResult(True)
        if "httpGet" in probe:
            get = probe["httpGet"] or {}
            host = get.get("host") or pod_ip
            if not host:
                return ProbeResult(False, "the container has no IP address yet")
            port = _port(get.get("port"), container_ports)
            scheme = str(get.get("scheme") or "HTTP").lower()
            path = get.get("path") or "/"
            url = f"{scheme}://{host}:{port}{path if path.startswith('/') else '/' + path}"
            headers = {h["name"]: h["value"] for h in get.get("httpHeaders") or [] if "name" in h}
            headers.setdefault("User-Agent", "kube-probe/1.32")
            async with httpx.AsyncClient(verify=False, timeout=timeout) as client:
                response = await client.get(url, headers=headers)
            if 200 <= response.status_code < 400:
                return ProbeResult(True)
            return ProbeResult(False, f"HTTP probe failed with statuscode: {response.status_code}")
        if "tcpSocket" in probe:
            sock = probe["tcpSocket"] or {}
            host = sock.get("host") or pod_ip
            if not host:
                return ProbeResult(False, "the container has no IP address yet")
            port = _port(sock.get("port"), container_ports)
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
            writer.close()
            return ProbeResult(True)
        return ProbeResult(False, "the probe has no handler (exec, httpGet or tcpSocket)")
    except (httpx.HTTPError, OSError, TimeoutError) as err:
        return ProbeResult(False, f"probe error: {err or type(err).__name__}")
    except ApiError as err:  # the container stopped or vanished under the probe
        return ProbeResult(False, err.message)


def _port(value: Any, named: Mapping[str, int]) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, str) and value in named:
        return named[value]
    raise OSError(f"port {value!r} is not a number and not a named container port")


class ProbeWorker:
    """Probes one container periodically; `result` is the current verdict (see module docstring)."""

    def __init__(
        self,
        kind: ProbeKind,
        probe: Mapping[str, Any],
        *,
        runtime: Runtime,
        container_id: str,
        pod_ip: Callable[[], Awaitable[str | None]],
        container_ports: Mapping[str, int],
        on_change: Callable[[], None],
        clock: Clock | None = None,
    ) -> None:
        self.kind = kind
        self.probe = dict(probe)
        self.settings = ProbeSettings.from_probe(probe)
        self.container_id = container_id
        self.result = kind == "liveness"  # see the module docstring: the initial verdicts
        self.failed = False  # a startup probe that reached its failureThreshold
        self.last_message = ""
        self.attempts = 0
        self._runtime = runtime
        self._pod_ip = pod_ip
        self._ports = dict(container_ports)
        self._on_change = on_change
        self._clock: Clock = clock if clock is not None else LoopClock()
        self._failures = 0
        self._successes = 0

    async def run(self) -> None:
        """Probe until cancelled."""
        await self._clock.sleep(self.settings.initial_delay)
        while True:
            await self.probe_once()
            await self._clock.sleep(self.settings.period)

    async def probe_once(self) -> None:
        outcome = await run_probe(
            self.probe,
            runtime=self._runtime,
            container_id=self.container_id,
            pod_ip=await self._pod_ip(),
            container_ports=self._ports,
            timeout=self.settings.timeout,
        )
        self.attempts += 1
        self.last_message = outcome.message
        if outcome.success:
            self._successes, self._failures = self._successes + 1, 0
            flip = not self.result and self._successes >= self.settings.success_threshold
        else:
            self._failures, self._successes = self._failures + 1, 0
            flip = self.result and self._failures >= self.settings.failure_threshold
            if self.kind == "startup" and not self.result and self._failures >= self.settings.failure_threshold:
                self.failed = True
                self._on_change()
            log.debug("%s probe of %s failed: %s", self.kind, self.container_id[:12], outcome.message)
        if flip:
            self.result = not self.result
            self._on_change()
