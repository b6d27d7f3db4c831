"""Pollers: wait for a check to hold instead of sleeping a guessed time — `eventually` from async
tests, `wait_until` from plain ones.

Kubernetes equivalent: test/utils (wait.PollUntilContextTimeout in the integration tests)
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def eventually(check: Callable[[], T | Awaitable[T]], *, timeout: float = 30.0, interval: float = 0.2,
                     message: str = "") -> T:
    """Call `check()` (awaiting it when it returns an awaitable) until it returns something truthy,
    which is returned; fail naming `message` and the last value after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while True:
        last = check()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}; last: {last!r}")
        await asyncio.sleep(interval)


def wait_until(what: str, condition: Callable[[], T | None], *, timeout: float = 60.0, interval: float = 0.5) -> T:
    """Call `condition()` until it returns something truthy, which is returned; fail naming `what`
    after `timeout` seconds. For tests that poll from plain (not async) code, as kubectl tests do."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
