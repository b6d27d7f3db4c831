"""Grading a controller or a scheduler you wrote, under the failures of notebook 06.

The two "write your own" exercises of notebook 12 (``replicaset-controller``, ``pod-scheduler``)
run the learner's class here, in the grader's own event loop, against the real lab, and then
break things around it while checking what it does. What runs is what a component of the
controller manager runs (orchestrator/controllers/controller.py): a `ControllerContext` with a
`SharedInformerFactory`, the learner's object built from it, and its workers started only while
it holds a Lease (`LeaderElector`), so a standby never acts.

The faults, each a real one:

- **a lagging watch** — `Faults.hold("pods")`: the pod watch stream stops delivering (its bytes
  wait in the grader, as behind a congested link) while writes still go through. Your informer
  cache falls behind what you yourself just wrote; `release` lets it catch up.
- **a cut watch** — `Faults.cut("pods")`: the watch connection breaks (``httpx.ReadError``, as on
  a TCP reset); the informer lists again and reports what changed meanwhile, deletions as
  `DeletedFinalStateUnknown` tombstones.
- **410 Gone** — `Faults.end("pods")` after compacting the history: the watch ends as after its
  timeout, the informer watches again from the last resourceVersion it saw, the API server
  answers 410 Expired (that revision is compacted away) and the informer lists again.
- **the API server killed** — SIGKILL through the lab's supervisor, restarted by its watchdog:
  every connection breaks at once, lists fail until it is back.

The faults sit in an ``httpx`` transport between the learner's `ApiClient` and the network
(`FaultyTransport`): every request goes to the real API server, only the watch streams pass
through a valve the grader opens and closes.

Kubernetes equivalent: none (a teaching harness); the pieces it runs are client-go's informers,
work queue and leader election, as in pkg/controller/.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from orchestrator.api.errors import NotFound
from orchestrator.client.clock import LoopClock
from orchestrator.client.events import EventRecorder
from orchestrator.client.informer import Informer, SharedInformerFactory
from orchestrator.client.leaderelection import LeaderElector
from orchestrator.client.rest import ApiClient, tls_context
from orchestrator.controllers.controller import ControllerContext

__all__ = ["Faults", "FaultyTransport", "Hints", "Running", "client_for", "compact", "delete_all", "graded", "hint",
           "kill_api_server", "load_class", "own_lab", "poll", "running", "settle"]

log = logging.getLogger(__name__)

LEASE_DURATION = 3.0  # short, so the grader's hand-over to your component takes about a second
RENEW_DEADLINE = 2.0
RETRY_PERIOD = 0.5


# --------------------------------------------------------------------------------------------
# The faults
# --------------------------------------------------------------------------------------------


class _WatchStream(httpx.AsyncByteStream):
    """One watch response body, passed on chunk by chunk unless the grader holds, cuts or ends it."""

    def __init__(self, inner: httpx.AsyncByteStream, faults: Faults, resource: str) -> None:
        self.inner = inner
        self.faults = faults
        self.resource = resource
        self.stopped = ""  # "cut" or "end" once the grader stopped it
        self.wake = asyncio.Event()

    def stop(self, how: str) -> None:
        self.stopped = how
        self.wake.set()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.faults._streams.setdefault(self.resource, set()).add(self)
        try:
            chunks = self.inner.__aiter__()
            while True:
                chunk = await self._next(chunks)
                while not self.stopped and self.resource in self.faults.held:
                    self.wake.clear()
                    await self.wake.wait()
                if self.stopped == "cut":
                    raise httpx.ReadError(f"the grader cut the {self.resource} watch connection")
                if self.stopped == "end" or chunk is None:
                    return
                yield chunk
        finally:
            self.faults._streams.get(self.resource, set()).discard(self)

    async def _next(self, chunks: AsyncIterator[bytes]) -> bytes | None:
        reading = asyncio.ensure_future(anext(chunks, None))
        stopping = asyncio.ensure_future(self._stopped())
        try:
            done, _ = await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            # Closed while waiting (the informer was cancelled): the read must not outlive us
            # with an exception nobody retrieves.
            for task in (reading, stopping):
                task.cancel()
                task.add_done_callback(_retrieve)
            raise
        stopping.cancel()
        if reading not in done:
            reading.cancel()
            with contextlib.suppress(BaseException):
                await reading
            return None
        return reading.result()

    async def _stopped(self) -> None:
        while not self.stopped:
            self.wake.clear()
            await self.wake.wait()

    async def aclose(self) -> None:
        await self.inner.aclose()


class Faults:
    """The grader's valve on the watch streams of one client, by resource (``"pods"``, ``"podsets"``)."""

    def __init__(self) -> None:
        self.held: set[str] = set()
        self._streams: dict[str, set[_WatchStream]] = {}

    def hold(self, resource: str) -> None:
        """Stop delivering that resource's watch events (writes still go through)."""
        self.held.add(resource)

    def release(self, resource: str) -> None:
        """Deliver what was held, and everything after it."""
        self.held.discard(resource)
        for stream in list(self._streams.get(resource, ())):
            stream.wake.set()

    def cut(self, resource: str) -> int:
        """Break every open watch connection of that resource; returns how many."""
        return self._stop(resource, "cut")

    def end(self, resource: str) -> int:
        """End every open watch of that resource as the server does after timeoutSeconds."""
        return self._stop(resource, "end")

    def watching(self, resource: str) -> int:
        return len(self._streams.get(resource, ()))

    def _stop(self, resource: str, how: str) -> int:
        self.held.discard(resource)  # what was held is lost with the connection
        streams = list(self._streams.get(resource, ()))
        for stream in streams:
            stream.stop(how)
        return len(streams)


class FaultyTransport(httpx.AsyncBaseTransport):
    """The network under the learner's client: every request reaches the API server; watch
    responses pass through `Faults`."""

    def __init__(self, inner: httpx.AsyncBaseTransport, faults: Faults) -> None:
        self.inner = inner
        self.faults = faults

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method != "GET" or request.url.params.get("watch") not in ("true", "1"):
            return response
        resource = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(response.status_code, headers=response.headers,
                              stream=_WatchStream(response.stream, self.faults, resource),
                              extensions=response.extensions)

    async def aclose(self) -> None:
        await self.inner.aclose()


def own_lab(lab: Any) -> bool:
    """A lab this process runs (labs.start), which the grader may break — not a classroom connection."""
    from labs.lab import Lab

    return isinstance(lab, Lab)


def client_for(lab: Any, faults: Faults | None = None) -> ApiClient:
    """An admin `ApiClient` for the lab; with `faults`, its watch streams pass through them."""
    transport: httpx.AsyncBaseTransport = httpx.AsyncHTTPTransport(verify=tls_context(ca_file=lab.home.ca_cert))
    if faults is not None:
        transport = FaultyTransport(transport, faults)
    return ApiClient(lab.api_url, token=lab.token("admin"), transport=transport, user_agent="labkit-grader")


# --------------------------------------------------------------------------------------------
# Running the learner's component
# --------------------------------------------------------------------------------------------


def load_class(spec: Any, *, default: str, where: Path | None = None) -> tuple[Any, str]:
    """The class to grade and its "module:Class" name; a string is imported afresh (the learner
    edits the file between two checks)."""
    if spec is None:
        spec = default
    if not isinstance(spec, str):
        return spec, f"{spec.__module__}:{spec.__qualname__}"
    if where is not None and str(where) not in sys.path:
        sys.path.insert(0, str(where))  # the learner's copy, next to the notebook
    module_name, _, attribute = spec.partition(":")
    module = sys.modules.get(module_name)
    module = importlib.reload(module) if module is not None else importlib.import_module(module_name)
    cls = getattr(module, attribute, None)
    if cls is None:
        raise AttributeError(f"{module_name} has no class {attribute!r}")
    return cls, spec


@dataclass
class Running:
    """The learner's component while the grader runs it.

    `component` and `factory` are replaced when the component loses its Lease: as a Kubernetes
    component exits then and starts afresh (see `running`).
    """

    component: Any
    factory: SharedInformerFactory
    faults: Faults
    client: ApiClient
    leading: asyncio.Event = field(default_factory=asyncio.Event)
    crashed: list[str] = field(default_factory=list)
    restarts: int = 0
    past_relists: dict[str, int] = field(default_factory=dict)

    def informer(self, plural: str) -> Informer | None:
        """The learner's informer on `plural` (pods, nodes, podsets), if it made one."""
        for informer in self.factory.informers:
            if informer.resource.plural == plural:
                return informer
        return None

    def failing(self) -> bool:
        """True when it crashed, or failed three syncs without one success (a stub's TODO): no use waiting."""
        stats = self.component.stats
        return bool(self.crashed) or (stats.errors >= 3 and stats.reconciles == stats.errors)

    def relists(self, plural: str) -> int:
        """How often its informer on `plural` listed again, counting those of the components it replaced."""
        informer = self.informer(plural)
        return self.past_relists.get(plural, 0) + (informer.relists if informer is not None else 0)

    def replace(self, component: Any, factory: SharedInformerFactory) -> None:
        for informer in self.factory.informers:
            plural = informer.resource.plural
            # Its first list is a relist too: the new component lists what the old one watched.
            self.past_relists[plural] = self.past_relists.get(plural, 0) + informer.relists + 1
        self.component, self.factory = component, factory
        self.restarts += 1


@contextlib.asynccontextmanager
async def running(lab: Any, build: Callable[[ControllerContext], Any], *, namespace: str,
                  lease: str) -> AsyncIterator[Running]:
    """Build the component from a `ControllerContext`, run its informers, and its workers while it
    holds the Lease ``namespace/lease``. Cancelled (and the Lease released) on leaving.

    A component that loses its Lease (the API server was down longer than the renew deadline) is
    thrown away with its caches and built again, as kube-controller-manager and kube-scheduler
    exit and are restarted then. Standing again with the old object would be wrong: a sync
    cancelled halfway through its writes leaves expectations that nothing will ever meet (the
    controller waits 5 minutes for them), and a cache that may lag the writes it made.
    """
    faults = Faults()
    client = client_for(lab, faults)

    def build_one() -> tuple[Any, SharedInformerFactory]:
        factory = SharedInformerFactory(client)
        ctx = ControllerContext(client=client, factory=factory, clock=LoopClock(), namespace=namespace,
                                recorder=EventRecorder(client, component=lease))
        return build(ctx), factory

    try:
        component, factory = build_one()
        run = Running(component=component, factory=factory, faults=faults, client=client)
        informers = asyncio.ensure_future(factory.run())

        async def lead() -> None:
            nonlocal informers
            workers: asyncio.Task[None] | None = None

            def started() -> None:
                nonlocal workers
                workers = asyncio.ensure_future(_workers(run))
                run.leading.set()

            def stopped() -> None:
                run.leading.clear()
                if workers is not None:
                    workers.cancel()

            elector = LeaderElector(client, lease_name=lease, namespace=namespace,
                                    identity=f"learner-{uuid.uuid4().hex[:6]}", lease_duration=LEASE_DURATION,
                                    renew_deadline=RENEW_DEADLINE, retry_period=RETRY_PERIOD,
                                    on_started_leading=started, on_stopped_leading=stopped)
            while True:
                await run.factory.wait_for_sync()
                await elector.run()  # returns when the Lease is lost
                informers.cancel()
                # asyncio.wait, not await: their errors are reported elsewhere, and our own
                # cancellation must still end this loop.
                await asyncio.wait([t for t in (workers, informers) if t is not None])
                log.info("%s lost its Lease: building it afresh, as its process would restart", lease)
                try:
                    run.replace(*build_one())
                except Exception as err:  # noqa: BLE001 - the learner's __init__, reported as a crash
                    run.crashed.append(f"{type(err).__name__}: {err}")
                    return
                informers = asyncio.ensure_future(run.factory.run())

        leader = asyncio.ensure_future(lead())
        try:
            async with asyncio.timeout(20):
                await factory.wait_for_sync()
            yield run
        finally:
            for task in (leader, informers):
                task.cancel()
            # asyncio.wait, not await: their errors are not ours to raise, and a cancellation of
            # whoever leaves this block must still reach them.
            await asyncio.wait([leader, informers])
            for task in (leader, informers):
                _retrieve(task)
    finally:
        await client.close()


async def _workers(run: Running) -> None:
    try:
        await run.component.run()
    except asyncio.CancelledError:
        raise
    except BaseException as err:  # noqa: BLE001 - reported as the learner's crash, not the grader's
        run.crashed.append(f"{type(err).__name__}: {err}")
        log.exception("the component being graded crashed")


# --------------------------------------------------------------------------------------------
# Waiting
# --------------------------------------------------------------------------------------------


async def poll(condition: Callable[[], Any], *, timeout: float, interval: float = 0.1) -> Any:
    """Await `condition()` (sync or async) until it is truthy; its last value (falsy on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
            if asyncio.iscoroutine(value):
                value = await value
        except Exception:  # noqa: BLE001 - "not yet" (e.g. the API server is still down)
            value = None
        if value or time.monotonic() >= deadline:
            return value
        await asyncio.sleep(interval)


async def settle(measure: Callable[[], Any], *, want: Any, timeout: float, stable: float = 0.6,
                 give_up: Callable[[], bool] | None = None) -> Any:
    """Wait until ``await measure() == want`` has held for `stable` seconds (or `give_up()` says it
    never will); the last value measured."""
    deadline = time.monotonic() + timeout
    since: float | None = None
    value: Any = None
    while time.monotonic() < deadline and not (give_up is not None and give_up()):
        try:
            value = await measure()
        except Exception:  # noqa: BLE001 - the API server may be restarting
            value = None
        if value == want:
            since = since if since is not None else time.monotonic()
            if time.monotonic() - since >= stable:
                return value
        else:
            since = None
        await asyncio.sleep(0.1)
    return value


async def delete_all(client: ApiClient, resource: str, namespace: str | None, *, selector: str | None = None) -> None:
    """Delete every object of `resource` in `namespace` at once (grace period 0), ignoring the gone."""
    listed = await client.list(resource, namespace=namespace, label_selector=selector)
    for item in listed.get("items") or []:
        with contextlib.suppress(NotFound):
            await client.delete(resource, item["metadata"]["name"], namespace=namespace, grace_period_seconds=0)


class Hints:
    """The hints of one graded check: per invariant, nudges that grow with each failed attempt; its
    answer only on request, ``labs.hint(check, answer=True)`` (`hint`)."""

    def __init__(self, check: str) -> None:
        self.check = check
        self._attempts: dict[str, int] = {}
        self.last: tuple[str, tuple[str, ...]] | None = None  # the last failed invariant and its hints
        _HINTS[check] = self

    def __call__(self, invariant: str, *levels: str) -> str:
        """The hint for a failed step: ``levels`` are the nudges, weakest first, then the answer."""
        *nudges, _answer = levels
        self.last = (invariant, levels)
        attempt = self._attempts.get(invariant, 0)
        self._attempts[invariant] = attempt + 1
        if attempt < len(nudges):
            return f"(hint {attempt + 1} of {len(nudges)}) {nudges[attempt]}"
        return f"(that was the last hint) {nudges[-1]} — the answer: labs.hint({self.check!r}, answer=True)"


_HINTS: dict[str, Hints] = {}


def graded(check: str) -> bool:
    """True for the checks graded here (``labs.hint`` answers for them too)."""
    if check not in _HINTS:
        from labs.checks import lookup

        try:
            lookup(check)  # imports the exercise, which makes its Hints
        except KeyError:
            return False
    return check in _HINTS


def hint(check: str, *, answer: bool = False) -> str:
    """The next hint for the step that failed last in ``check``; its answer with ``answer=True``."""
    hints = _HINTS[check]
    if hints.last is None:
        text = f"no step of {check!r} has failed yet: run labs.check({check!r}, lab=lab) first"
    else:
        invariant, levels = hints.last
        text = f"answer ({invariant}): {levels[-1]}" if answer else hints(invariant, *levels)
    print(text)
    return text


async def kill_api_server(lab: Any, admin: ApiClient, *, timeout: float = 30.0) -> None:
    """SIGKILL the API server; wait for the supervisor's watchdog to bring it back (else start it)."""
    lab.kill("apiserver")
    await asyncio.sleep(0.5)  # the old process is gone before "answers" can mean the new one

    async def answers() -> bool:
        await admin.list("namespaces", limit=1)
        return True

    if not await poll(answers, timeout=timeout, interval=0.25):
        lab.start_component("apiserver")  # a lab without the watchdog
        await poll(answers, timeout=timeout, interval=0.25)


async def compact(lab: Any) -> int:
    """Compact the whole watch history now: a watch from any earlier resourceVersion gets 410 Gone."""
    from orchestrator.storage.relay import compact_now

    return await compact_now(database_url=lab.database_url, redis_url=lab.redis_url, keep=0)


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()
