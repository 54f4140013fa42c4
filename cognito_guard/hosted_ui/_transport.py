"""The HTTP side of :class:`HostedUIClient`: form POSTs to Cognito's OAuth endpoints, bounded in size and time, and
every answer turned into a JSON object or an error of the library's taxonomy (``OAuthError`` when Cognito refuses,
``HostedUIUnavailableError`` when it cannot be heard properly). Redirects are never followed."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpx

from ..errors import HostedUIUnavailableError, OAuthError

__all__ = ["OAUTH_ERROR_CODE", "OAuthHTTP"]

_MAX_BODY = 1024 * 1024  # a token answer is a few KiB; anything near this is not Cognito talking
# RFC 6749 appendix A.7: the characters an OAuth error code may use. Anything else is not shown in messages (the
# callback's query is written by whoever sent the browser there, and messages end up in logs).
OAUTH_ERROR_CODE = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]{1,128}")


def _checked_chunks(chunks: Iterable[bytes], deadline: float, what: str) -> Iterator[bytes]:
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > _MAX_BODY:
            raise HostedUIUnavailableError(f"{what} answered with more than {_MAX_BODY} bytes")
        if time.monotonic() > deadline:
            raise HostedUIUnavailableError(f"{what} did not answer completely in time")
        yield chunk


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


def _raise_for_answer(status: int, body: bytes, what: str) -> dict[str, Any] | None:
    """The JSON object of a 200 answer (``None`` if it is not one); raise for anything else."""
    if status == 200:
        return _json_object(body)
    if status in (400, 401):
        document = _json_object(body)
        error = document.get("error") if document is not None else None
        if isinstance(error, str) and error:
            description = document.get("error_description") if document is not None else None
            shown = error if OAUTH_ERROR_CODE.fullmatch(error) else "an unreadable error code"
            raise OAuthError(
                f"{what} refused the request: {shown}",
                error=error,
                description=description if isinstance(description, str) else None,
            )
    raise HostedUIUnavailableError(f"{what} answered HTTP {status}")


class OAuthHTTP:
    """POSTs forms to OAuth endpoints: sync on one ``httpx.Client``, async on an ``httpx.AsyncClient`` per event loop.

    Given clients are used as they are (their own timeouts apply) and never closed here; clients made here use
    ``timeout`` seconds and are closed by :meth:`close` / :meth:`aclose`.
    """

    def __init__(
        self, *, http_client: httpx.Client | None, async_http_client: httpx.AsyncClient | None, timeout: float
    ) -> None:
        self._timeout = timeout
        self._http_client = http_client
        self._owns_http_client = http_client is None
        self._async_http_client = async_http_client
        # An httpx.AsyncClient belongs to the event loop that first used it: keep one of our own per loop.
        self._own_async_clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the sync client made here."""
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

    def _sync_client(self) -> httpx.Client:
        with self._lock:
            if self._http_client is None:
                self._http_client = httpx.Client(timeout=self._timeout, follow_redirects=False)
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
                client = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)
                self._own_async_clients[loop] = client
            return client

    def post_sync(self, url: str, form: dict[str, str], headers: dict[str, str], what: str) -> dict[str, Any] | None:
        """POST ``form``; the answer's JSON object (``None`` for a 200 that is not one). Bounded in size and time.

        Raises :class:`OAuthError` for an OAuth error answer (400/401 with an ``error``), else
        :class:`HostedUIUnavailableError` (no answer, too slow, too large, any other status). ``what`` names the
        endpoint in messages.
        """
        deadline = time.monotonic() + self._timeout
        client = self._sync_client()
        try:
            with client.stream("POST", url, data=form, headers=headers, follow_redirects=False) as response:
                body = b"".join(_checked_chunks(response.iter_bytes(), deadline, what))
                status = response.status_code
        except httpx.HTTPError as error:
            raise HostedUIUnavailableError(f"{what} could not be reached ({type(error).__name__})") from None
        return _raise_for_answer(status, body, what)

    async def post(self, url: str, form: dict[str, str], headers: dict[str, str], what: str) -> dict[str, Any] | None:
        """Async :meth:`post_sync`: the whole exchange is bounded by the timeout."""
        client = self._async_client()

        async def exchange() -> tuple[int, bytes]:
            chunks: list[bytes] = []
            size = 0
            request = client.stream("POST", url, data=form, headers=headers, follow_redirects=False)
            async with request as response:
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > _MAX_BODY:
                        raise HostedUIUnavailableError(f"{what} answered with more than {_MAX_BODY} bytes")
                    chunks.append(chunk)
                return response.status_code, b"".join(chunks)

        try:
            status, body = await asyncio.wait_for(exchange(), self._timeout)
        except asyncio.TimeoutError:
            raise HostedUIUnavailableError(f"{what} did not answer within {self._timeout} s") from None
        except httpx.HTTPError as error:
            raise HostedUIUnavailableError(f"{what} could not be reached ({type(error).__name__})") from None
        return _raise_for_answer(status, body, what)
