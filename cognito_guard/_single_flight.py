"""One piece of work at a time, awaited by threads and by asyncio tasks alike.

The first caller leads (does the work); every caller that arrives meanwhile, in any thread or event loop, waits for
the leader's outcome instead of doing the work again. Threads block on an event; tasks await a future of their own
loop, woken thread-safely; so a sync caller and an async one share a single token request.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Generic, TypeVar

__all__ = ["Flight"]

_T = TypeVar("_T")


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():  # its waiter may have given up (cancelled, timed out)
        future.set_result(None)


class Flight(Generic[_T]):
    """One unit of work in progress: :meth:`finish` it exactly once (``None``: it ended without an outcome)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self.outcome: _T | None = None

    def finish(self, outcome: _T | None) -> None:
        with self._lock:
            self.outcome = outcome
            self._done.set()
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            with contextlib.suppress(RuntimeError):  # that loop was closed meanwhile: nobody is waiting there
                loop.call_soon_threadsafe(_wake, future)

    def wait(self, timeout: float) -> bool:
        """Block this thread until the work is finished; False if ``timeout`` seconds passed first."""
        return self._done.wait(timeout)

    async def wait_async(self) -> None:
        """Wait in this event loop (without blocking it) until the work is finished."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._done.is_set():
                return
            self._waiters.append((loop, future))
        await future
