"""How every component process runs: logs to stderr, serves until SIGTERM or SIGINT (the
supervisor's stop, or Ctrl-C), and ends a failure it expects with one clear line, not a traceback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable

from orchestrator.api.errors import ApiError
from orchestrator.client.rest import KubeconfigError

EXPECTED_FAILURES: tuple[type[BaseException], ...] = (KubeconfigError, ApiError, OSError, ValueError)


def configure_logging(*, verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request drowns the rest


def run_component(name: str, serve: Callable[[], Awaitable[None]], *,
                  on_stop: Callable[[], None] | None = None) -> int:
    """Run ``serve()`` until it returns or a stop signal cancels it; the process exit code."""

    async def run() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await serve()
        except asyncio.CancelledError:
            if on_stop is not None:
                on_stop()

    try:
        with contextlib.suppress(asyncio.CancelledError):
            asyncio.run(run())
    except EXPECTED_FAILURES as err:
        print(f"{name}: {err.message if isinstance(err, ApiError) else err}", file=sys.stderr)
        return 1
    return 0
