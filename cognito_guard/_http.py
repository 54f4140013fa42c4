"""Bounded HTTP to Cognito, shared by the hosted UI's OAuth exchanges and the online check: the httpx clients (given,
or made here: one sync, one async per event loop) and exchanges bounded in size and time that never follow a
redirect. What goes wrong here is one of two small exceptions (or httpx's own); each caller turns it into the error of
the library's taxonomy that fits it."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

import httpx

from .errors import ConfigurationError

__all__ = ["AnswerTooLarge", "AnswerTooSlow", "AnswerUnusable", "BoundedHTTP", "Reply", "Request", "json_object"]


class AnswerUnusable(Exception):
    """An answer that cannot be used; the message is safe to log (it never quotes the request, which holds secrets)."""


class AnswerTooLarge(AnswerUnusable):
    """The answer declared or sent more than the size cap."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"the answer was larger than {max_bytes} bytes")


class AnswerTooSlow(AnswerUnusable):
    """The whole exchange did not end within the timeout (whatever httpx's per-read timeouts allowed)."""

    def __init__(self, timeout: float) -> None:
        super().__init__(f"no answer within {timeout:g} s")


class Request(NamedTuple):
    """What to send: a body is either a form (``data``) or bytes (``content``)."""

    method: str
    url: str
    headers: Mapping[str, str]
    data: Mapping[str, str] | None = None
    content: bytes | None = None


class Reply(NamedTuple):
    """An answer read whole: status, headers and body."""

    status: int
    headers: httpx.Headers
    body: bytes


class BoundedHTTP:
    """Sends requests on one ``httpx.Client`` or an ``httpx.AsyncClient`` per event loop, reading at most
    ``max_bytes`` of an answer and spending at most ``timeout`` seconds on the whole exchange.

    Given clients are used as they are (their own per-read timeouts apply too) and never closed here; clients made
    here use ``timeout`` seconds and are closed by :meth:`close` / :meth:`aclose`. Raises
    :class:`ConfigurationError` for a given client of the wrong kind.
    """

    def __init__(
        self,
        *,
        http_client: httpx.Client | None,
        async_http_client: httpx.AsyncClient | None,
        timeout: float,
        max_bytes: int,
    ) -> None:
        if http_client is not None and not isinstance(http_client, httpx.Client):
            raise ConfigurationError("http_client must be an httpx.Client")
        if async_http_client is not None and not isinstance(async_http_client, httpx.AsyncClient):
            raise ConfigurationError("async_http_client must be an httpx.AsyncClient")
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._http_client = http_client
        self._owns_http_client = http_client is None
        self._async_http_client = async_http_client
        # An httpx.AsyncClient belongs to the event loop that first used it: keep one of our own per loop.
        self._own_async_clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}
        self._lock = threading.Lock()

    def send_sync(self, request: Request, deadline: float | None = None) -> Reply:
        """Send ``request`` and read the answer, by ``deadline`` (``time.monotonic()``; default: ``timeout`` from now).

        Raises :class:`AnswerTooLarge`, :class:`AnswerTooSlow` or ``httpx.HTTPError``."""
        deadline = time.monotonic() + self.timeout if deadline is None else deadline
        method, url, headers, data, content = request
        stream = self._sync_client().stream(
            method, url, headers=headers, data=data, content=content, follow_redirects=False
        )
        with stream as response:
            self._check_declared_length(response)
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > self.max_bytes:
                    raise AnswerTooLarge(self.max_bytes)
                # httpx bounds each read, not the exchange: a server trickling its answer would hold us for ever.
                if time.monotonic() > deadline:
                    raise AnswerTooSlow(self.timeout)
            return Reply(response.status_code, response.headers, bytes(body))

    async def send(self, request: Request) -> Reply:
        """:meth:`send_sync` for async code: the whole exchange is bounded by ``timeout``."""
        method, url, headers, data, content = request
        client = self._async_client()

        async def exchange() -> Reply:
            stream = client.stream(method, url, headers=headers, data=data, content=content, follow_redirects=False)
            async with stream as response:
                self._check_declared_length(response)
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise AnswerTooLarge(self.max_bytes)
                return Reply(response.status_code, response.headers, bytes(body))

        try:
            return await asyncio.wait_for(exchange(), self.timeout)
        except asyncio.TimeoutError:
            raise AnswerTooSlow(self.timeout) from None

    def _check_declared_length(self, response: httpx.Response) -> None:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise AnswerTooLarge(self.max_bytes)

    def _sync_client(self) -> httpx.Client:
        with self._lock:
            if self._http_client is None:
                self._http_client = httpx.Client(timeout=self.timeout, follow_redirects=False)
            return self._http_client

    def _async_client(self) -> httpx.AsyncClient:
        if self._async_http_client is not None:
            return self._async_http_client
        loop = asyncio.get_running_loop()
        with self._lock:  # threads with event loops of their own may get here at once
            client = self._own_async_clients.get(loop)
            if client is None:
                # A closed loop's client cannot be closed any more (that needs its loop); let it go.
                for old_loop in [known for known in self._own_async_clients if known.is_closed()]:
                    del self._own_async_clients[old_loop]
                client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
                self._own_async_clients[loop] = client
            return client

    def close(self) -> None:
        """Close the sync client made here (not a given one)."""
        with self._lock:
            client = self._http_client if self._owns_http_client else None
            if client is not None:
                self._http_client = None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close the async client made here for the running event loop, and the sync one."""
        client = self._own_async_clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()
        self.close()


def json_object(body: bytes) -> dict[str, Any] | None:
    """The JSON object in ``body``, or ``None`` for anything else (not JSON, an array, too deeply nested)."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None
