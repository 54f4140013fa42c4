"""The error taxonomy: every failure cognito_guard reports is one of these.

Each class carries a stable machine-readable ``code`` (for logs, metrics and JSON answers) and the HTTP status an
adapter should answer with. Messages never contain the token or a secret.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AlgorithmError",
    "AudienceError",
    "AuthorizationError",
    "ClaimError",
    "ClientCredentialsError",
    "ClientIdError",
    "CognitoGuardError",
    "ConfigurationError",
    "ExpiredTokenError",
    "HostedUIUnavailableError",
    "InvalidClientError",
    "InvalidScopeError",
    "IssuedInFutureError",
    "IssuerError",
    "KeyNotFoundError",
    "KeysUnavailableError",
    "MalformedTokenError",
    "MissingGroupError",
    "MissingScopeError",
    "NotYetValidError",
    "OAuthError",
    "OnlineCheckUnavailableError",
    "RevocationUnavailableError",
    "RoleNotAllowedError",
    "ServiceUnavailableError",
    "SessionStoreUnavailableError",
    "SignInError",
    "SignInStateError",
    "SignatureError",
    "SignerError",
    "TokenEndpointUnavailableError",
    "TokenError",
    "TokenNotCheckableError",
    "TokenRevokedError",
    "TokenUseError",
    "UnauthorizedClientError",
]


class CognitoGuardError(Exception):
    """Base class of every cognito_guard error."""

    code: ClassVar[str] = "error"
    status_code: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


# --- 401: the token is not acceptable -------------------------------------------------------------------------------


class TokenError(CognitoGuardError):
    """The token is not acceptable (answer 401)."""

    code = "invalid_token"
    status_code = 401


class MalformedTokenError(TokenError):
    """Not a compact JWS of three base64url parts with JSON object header and payload, or too long."""

    code = "malformed_token"


class AlgorithmError(TokenError):
    """The header's ``alg`` is not allowed, does not fit the key, or the header asks for something unsupported."""

    code = "invalid_algorithm"


class KeyNotFoundError(TokenError):
    """The header's ``kid`` is not in the pool's key set (even after a rate-limited refresh)."""

    code = "key_not_found"


class SignatureError(TokenError):
    """The signature does not verify with the pool's key."""

    code = "invalid_signature"


class ClaimError(TokenError):
    """A required claim is missing, or a standard claim has the wrong JSON type."""

    code = "invalid_claim"


class ExpiredTokenError(TokenError):
    """``exp`` has passed (beyond the leeway)."""

    code = "token_expired"


class NotYetValidError(TokenError):
    """``nbf`` is still in the future (beyond the leeway)."""

    code = "token_not_yet_valid"


class IssuedInFutureError(TokenError):
    """``iat`` is in the future (beyond the leeway)."""

    code = "token_issued_in_future"


class IssuerError(TokenError):
    """``iss`` is not one of the configured user pools."""

    code = "invalid_issuer"


class TokenUseError(TokenError):
    """``token_use`` is not "id"/"access", or not the kind this verifier accepts."""

    code = "invalid_token_use"


class ClientIdError(TokenError):
    """The ID token's ``aud`` / access token's ``client_id`` is not an accepted app client."""

    code = "client_not_allowed"


class TokenRevokedError(TokenError):
    """The token was revoked: its sign-in (``origin_jti``) or the token itself (``jti``) is on the revocation list, its
    user signed out everywhere after signing in, or Cognito said so online (answer 401)."""

    code = "token_revoked"


class AudienceError(TokenError):
    """The access token's ``aud`` (resource binding) does not name the required audience."""

    code = "invalid_audience"


class SignerError(TokenError):
    """An ALB token's ``signer`` is not one of the configured load balancer ARNs: any ALB in the region can sign tokens
    that verify with the shared key server, so a token from someone else's ALB is refused."""

    code = "invalid_signer"


# --- 403: valid token, not allowed ---------------------------------------------------------------------------------


class AuthorizationError(CognitoGuardError):
    """The token is valid but does not grant what is required (answer 403)."""

    code = "denied"
    status_code = 403


class MissingScopeError(AuthorizationError):
    """A required OAuth scope is missing."""

    code = "missing_scope"

    def __init__(self, message: str, *, required: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.required = required


class MissingGroupError(AuthorizationError):
    """The user is not in a required group."""

    code = "missing_group"


class RoleNotAllowedError(AuthorizationError):
    """The token's role does not satisfy the requirement."""

    code = "role_not_allowed"


class TokenNotCheckableError(AuthorizationError):
    """The online check cannot ask Cognito about this kind of token (an ID token, a client-credentials token, or an
    access token without a scope Cognito answers for) and is set to ``uncheckable="deny"``."""

    code = "token_not_checkable"


# --- 400: a hosted-UI sign-in did not complete ---------------------------------------------------------------------


class SignInError(CognitoGuardError):
    """A hosted-UI sign-in (authorization-code flow) could not be completed (answer 400; the user may start again)."""

    code = "sign_in_failed"
    status_code = 400


class SignInStateError(SignInError):
    """The callback's ``state`` matches no pending sign-in of this browser: unknown, expired, already used or forged."""

    code = "invalid_state"


class OAuthError(SignInError):
    """Cognito answered with an OAuth 2.0 error: an ``?error=`` redirect to the callback, or an error from the token or
    revocation endpoint. ``error`` is the OAuth error code (``invalid_grant``, ``access_denied``, ...) and
    ``description`` Cognito's ``error_description``, if any."""

    code = "oauth_error"

    def __init__(self, message: str, *, error: str, description: str | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.description = description


# --- 503 and configuration -----------------------------------------------------------------------------------------


class ServiceUnavailableError(CognitoGuardError):
    """Something the check depends on cannot be reached now; the request may be retried (answer 503).

    ``retry_after``: seconds after which a retry may succeed, when known."""

    code = "service_unavailable"
    status_code = 503

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class KeysUnavailableError(ServiceUnavailableError):
    """No usable signing keys: the JWKS could not be fetched and nothing usable is cached (answer 503)."""

    code = "keys_unavailable"


class HostedUIUnavailableError(ServiceUnavailableError):
    """The hosted UI's token or revocation endpoint could not be reached or answered nonsense (answer 503)."""

    code = "hosted_ui_unavailable"


class RevocationUnavailableError(ServiceUnavailableError):
    """The shared revocation list cannot be trusted or written: its store (Redis) has been out of reach for longer
    than the configured ``max_staleness``, or a revocation could not be stored there (answer 503)."""

    code = "revocation_unavailable"


class SessionStoreUnavailableError(ServiceUnavailableError):
    """The shared session store (Redis) could not be reached: sign-ins and session checks answer 503 (answer 503)."""

    code = "session_store_unavailable"


class OnlineCheckUnavailableError(ServiceUnavailableError):
    """Cognito could not be asked whether a token is still live, and the online check is set to fail closed
    (answer 503)."""

    code = "online_check_unavailable"


class ConfigurationError(CognitoGuardError, ValueError):
    """Settings are invalid; raised at construction, never while verifying a token."""

    code = "configuration_error"
    status_code = 500


# --- machine-to-machine tokens: Cognito's token endpoint (client credentials) -------------------------------------


class ClientCredentialsError(CognitoGuardError):
    """Cognito's token endpoint refused to issue a client-credentials token: the caller's settings or the app client's
    configuration must change, retrying as is will not help (answer 500: the calling service is misconfigured).
    ``error`` is the OAuth error code, ``description`` Cognito's ``error_description``, if any."""

    code = "client_credentials_refused"
    status_code = 500

    def __init__(self, message: str, *, error: str, description: str | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.description = description


class InvalidClientError(ClientCredentialsError):
    """``invalid_client``: the app client id is unknown or the client secret is wrong."""

    code = "invalid_client"


class InvalidScopeError(ClientCredentialsError):
    """``invalid_scope``: a requested scope does not exist or is not allowed to the app client."""

    code = "invalid_scope"


class UnauthorizedClientError(ClientCredentialsError):
    """``unauthorized_client``: the app client may not use the client-credentials grant (no secret, or flow off)."""

    code = "unauthorized_client"


class TokenEndpointUnavailableError(ServiceUnavailableError):
    """No client-credentials token can be had now: Cognito's token endpoint could not be reached, answered nonsense or
    an error status, or is in backoff after such a failure, and no usable token is cached (answer 503)."""

    code = "token_endpoint_unavailable"
