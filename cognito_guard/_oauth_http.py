"""Form POSTs to Cognito's OAuth endpoints (``/oauth2/token``, ``/oauth2/revoke``), for the hosted-UI client and the
machine-to-machine token source alike, bounded in size and time (the
core's ``_http.BoundedHTTP``), and every answer turned into a JSON object or an error of the library's taxonomy
(``OAuthError`` when Cognito refuses, ``HostedUIUnavailableError`` when it cannot be heard properly). Redirects are
never followed."""

from __future__ import annotations

import re
from typing import Any

import httpx

from ._http import AnswerTooLarge, AnswerTooSlow, AnswerUnusable, BoundedHTTP, Request, json_object
from .errors import HostedUIUnavailableError, OAuthError

__all__ = ["OAUTH_ERROR_CODE", "OAuthHTTP"]

_MAX_BODY = 1024 * 1024  # a token answer is a few KiB; anything near this is not Cognito talking
# RFC 6749 appendix A.7: the characters an OAuth error code may use. Anything else is not shown in messages (the
# callback's query is written by whoever sent the browser there, and messages end up in logs).
OAUTH_ERROR_CODE = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]{1,128}")


def _raise_for_answer(status: int, body: bytes, what: str) -> dict[str, Any] | None:
    """The JSON object of a 200 answer (``None`` if it is not one); raise for anything else."""
    if status == 200:
        return json_object(body)
    if status in (400, 401):
        document = json_object(body)
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


def _unavailable(error: httpx.HTTPError | AnswerUnusable, what: str, too_slow: str) -> HostedUIUnavailableError:
    if isinstance(error, AnswerTooLarge):
        return HostedUIUnavailableError(f"{what} answered with more than {_MAX_BODY} bytes")
    if isinstance(error, AnswerTooSlow):
        return HostedUIUnavailableError(f"{what} {too_slow}")
    return HostedUIUnavailableError(f"{what} could not be reached ({type(error).__name__})")


class OAuthHTTP:
    """POSTs forms to OAuth endpoints: sync on one ``httpx.Client``, async on an ``httpx.AsyncClient`` per event loop.

    Given clients are used as they are (their own timeouts apply) and never closed here; clients made here use
    ``timeout`` seconds and are closed by :meth:`close` / :meth:`aclose`.
    """

    def __init__(
        self, *, http_client: httpx.Client | None, async_http_client: httpx.AsyncClient | None, timeout: float
    ) -> None:
        self._timeout = timeout
        self._http = BoundedHTTP(
            http_client=http_client, async_http_client=async_http_client, timeout=timeout, max_bytes=_MAX_BODY
        )

    def close(self) -> None:
        """Close the sync client made here."""
        self._http.close()

    async def aclose(self) -> None:
        """Close the async client made here for the running event loop, and the sync one."""
        await self._http.aclose()

    def post_sync(self, url: str, form: dict[str, str], headers: dict[str, str], what: str) -> dict[str, Any] | None:
        """POST ``form``; the answer's JSON object (``None`` for a 200 that is not one). Bounded in size and time.

        Raises :class:`OAuthError` for an OAuth error answer (400/401 with an ``error``), else
        :class:`HostedUIUnavailableError` (no answer, too slow, too large, any other status). ``what`` names the
        endpoint in messages.
        """
        try:
            answer = self._http.send_sync(Request("POST", url, headers, data=form))
        except (httpx.HTTPError, AnswerUnusable) as error:
            raise _unavailable(error, what, "did not answer completely in time") from None
        return _raise_for_answer(answer.status, answer.body, what)

    async def post(self, url: str, form: dict[str, str], headers: dict[str, str], what: str) -> dict[str, Any] | None:
        """Async :meth:`post_sync`: the whole exchange is bounded by the timeout."""
        try:
            answer = await self._http.send(Request("POST", url, headers, data=form))
        except (httpx.HTTPError, AnswerUnusable) as error:
            raise _unavailable(error, what, f"did not answer within {self._timeout} s") from None
        return _raise_for_answer(answer.status, answer.body, what)
