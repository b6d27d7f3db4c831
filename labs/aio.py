"""Run a coroutine to completion from ordinary (blocking) notebook code.

A Jupyter kernel already runs an asyncio loop in its main thread, so ``asyncio.run`` there
fails ("cannot be called from a running event loop"). Each call here runs the coroutine on a
private loop in a worker thread and blocks until it is done.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on its own loop in a worker thread; return its result or raise its exception."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as err:  # handed to the calling thread below
            box["error"] = err

    thread = threading.Thread(target=target, name="labs-aio", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
