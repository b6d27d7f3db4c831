"""Watches from blocking code: iterate a watch, or keep a list+watch running in a background thread.

    for event_type, obj in watch(lab, "/api/v1/namespaces/default/pods", resource_version=rv, timeout_seconds=5):
        ...

`Follower` is the informer pattern in miniature, for live views: list (remember the list's
resourceVersion), watch from it, on 410 Gone (our resourceVersion was compacted) list again, on
a dropped connection resume from the last resourceVersion seen. Callbacks run in the
follower's thread; `stop()` closes its connection so the thread ends promptly.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from labs.lab import Lab

WatchCallback = Callable[[str, dict[str, Any]], None]
_RETRY_SECONDS = 1.0


class WatchExpired(Exception):
    """The watch's resourceVersion is older than the compaction revision (HTTP 410 Gone)."""


def watch(
    lab: Lab,
    path: str,
    *,
    resource_version: str,
    timeout_seconds: int = 30,
    identity: str = "admin",
    params: dict[str, str] | None = None,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (type, object) for each watch event on ``path`` after ``resource_version`` until the
    server ends the watch (after ``timeout_seconds``). BOOKMARK events are yielded too."""
    query = {"watch": "1", "resourceVersion": resource_version, "timeoutSeconds": str(timeout_seconds)}
    query.update(params or {})
    with lab.http(identity) as client, client.stream(
        "GET", path, params=query, timeout=httpx.Timeout(10.0, read=timeout_seconds + 15.0)
    ) as response:
        if response.status_code == 410:
            raise WatchExpired(f"resourceVersion {resource_version} is too old (410 Gone)")
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.strip():
                continue
            event = json.loads(line)
            if event.get("type") == "ERROR":
                status = event.get("object") or {}
                if status.get("code") == 410:
                    raise WatchExpired(status.get("message", "410 Gone"))
                raise httpx.HTTPError(status.get("message", "watch error"))
            yield event["type"], event["object"]


class Follower:
    """List and watch ``path`` in a daemon thread, calling ``on_list(items)`` then ``on_event(type, obj)``.

    ``params`` (e.g. ``{"labelSelector": "app=web"}``) go with the list and every watch request.
    """

    def __init__(
        self,
        lab: Lab,
        path: str,
        *,
        on_list: Callable[[list[dict[str, Any]]], None],
        on_event: WatchCallback,
        on_error: Callable[[str], None] | None = None,
        name: str = "labs-follower",
        params: dict[str, str] | None = None,
    ) -> None:
        self.lab = lab
        self.path = path
        self.params = dict(params or {})  # e.g. labelSelector, on the list and on every watch
        self.on_list = on_list
        self.on_event = on_event
        self.on_error = on_error or (lambda message: None)
        self._stopped = threading.Event()
        self._client: httpx.Client | None = None
        self._response: httpx.Response | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Follower:
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopped.set()
        response = self._response
        if response is not None:
            # Closing a client does not wake a thread blocked reading its socket; shutting the
            # socket down does.
            with contextlib.suppress(Exception):
                stream = response.extensions["network_stream"]
                stream.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def _run(self) -> None:
        resource_version: str | None = None
        while not self._stopped.is_set():
            try:
                self._client = self.lab.http()
                if resource_version is None:
                    listed = self._client.get(self.path, params=self.params or None)
                    listed.raise_for_status()
                    body = listed.json()
                    resource_version = body["metadata"]["resourceVersion"]
                    self.on_list(body.get("items", []))
                resource_version = self._watch(self._client, resource_version)
            except WatchExpired:
                resource_version = None  # list again: what we missed was compacted away
            except Exception as err:  # the API server may be restarting: retry
                if self._stopped.is_set():
                    break
                self.on_error(f"{type(err).__name__}: {err}")
                self._stopped.wait(_RETRY_SECONDS)
            finally:
                self._response = None
                if self._client is not None:
                    self._client.close()

    def _watch(self, client: httpx.Client, resource_version: str) -> str:
        params = {**self.params, "watch": "1", "resourceVersion": resource_version, "timeoutSeconds": "60",
                  "allowWatchBookmarks": "true"}  # fmt: skip
        with client.stream("GET", self.path, params=params, timeout=httpx.Timeout(10.0, read=90.0)) as response:
            if response.status_code == 410:
                raise WatchExpired(resource_version)
            response.raise_for_status()
            self._response = response
            for line in response.iter_lines():
                if self._stopped.is_set():
                    break
                if not line.strip():
                    continue
                event = json.loads(line)
                obj = event.get("object") or {}
                if event.get("type") == "ERROR":
                    if obj.get("code") == 410:
                        raise WatchExpired(resource_version)
                    raise httpx.HTTPError(obj.get("message", "watch error"))
                resource_version = (obj.get("metadata") or {}).get("resourceVersion") or resource_version
                if event.get("type") != "BOOKMARK":
                    self.on_event(event["type"], obj)
        return resource_version
