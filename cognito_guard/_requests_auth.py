"""``requests`` support for :class:`~cognito_guard.client.ClientCredentials`: a ``requests.auth.AuthBase``.

requests is optional (never a dependency of cognito_guard): it is imported here, and this module only when asked for.
"""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError

if TYPE_CHECKING:
    from .client import ClientCredentials

__all__ = ["bearer_auth"]


@functools.cache
def _auth_class() -> type:
    try:
        # Through importlib: requests may come without type stubs, and this module must type-check either way.
        auth_module: Any = importlib.import_module("requests.auth")
    except ImportError:
        raise ConfigurationError("requests_auth() needs requests: pip install requests") from None

    class CognitoBearerAuth(auth_module.AuthBase):  # type: ignore[misc]
        """Adds ``Authorization: Bearer <token>``; on a 401 ``error="invalid_token"`` fetches a new token once and
        sends the request once more (not when its body is a stream, which cannot be sent twice)."""

        def __init__(self, credentials: ClientCredentials) -> None:
            self.credentials = credentials

        def __call__(self, request: Any) -> Any:
            request.headers["Authorization"] = f"Bearer {self.credentials.token()}"
            request.register_hook("response", self._retry_once)
            return request

        def _retry_once(self, response: Any, **send_options: Any) -> Any:
            from .client import refused_as_invalid_token

            request = response.request
            if not refused_as_invalid_token(response.status_code, [response.headers.get("www-authenticate", "")]):
                return response
            if request.body is not None and not isinstance(request.body, (bytes, str)):
                return response
            sent = str(request.headers.get("Authorization", ""))[len("Bearer ") :]
            if not self.credentials.invalidate(sent):
                return response
            token = self.credentials.token()
            response.content  # noqa: B018  (read to the end, so that the connection goes back to the pool)
            response.close()
            retry = request.copy()
            retry.deregister_hook("response", self._retry_once)
            retry.headers["Authorization"] = f"Bearer {token}"
            answer = response.connection.send(retry, **send_options)
            answer.history.append(response)
            answer.request = retry
            return answer

    return CognitoBearerAuth


def bearer_auth(credentials: ClientCredentials) -> Any:
    """A ``requests.auth.AuthBase`` drawing its tokens from ``credentials``; ConfigurationError without requests."""
    return _auth_class()(credentials)
