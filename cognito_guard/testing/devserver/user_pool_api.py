"""The Cognito user-pool JSON API, for the calls that revoke and check tokens online: ``RevokeToken``,
``GlobalSignOut``, ``AdminUserGlobalSignOut`` and ``GetUser``, as boto3 (any AWS SDK) sends them: ``POST /`` with
``X-Amz-Target: AWSCognitoIdentityProviderService.<Operation>`` and a JSON body of type
``application/x-amz-json-1.1``. Errors are Cognito's: HTTP 400 with ``{"__type": ..., "message": ...}``.

The stand-in serves one pool, and each call finds it as Cognito does: ``AdminUserGlobalSignOut`` names it
(``UserPoolId``), ``GlobalSignOut`` and ``GetUser`` through the access token (its issuer is the pool's), and
``RevokeToken`` through ``ClientId`` (a client belongs to one pool). It has no IAM: ``AdminUserGlobalSignOut`` wants
an AWS Signature V4 ``Authorization`` header, as an SDK sends with any credentials, but checks neither key nor
signature. Framework-free: ``app.py`` passes the request in and writes the answer out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from ...claims import Claims
from .access import AccessTokenRefused
from .attributes import attribute_strings
from .config import User
from .pool import LocalUserPool, OAuthError

__all__ = ["ADMIN_SCOPE", "CONTENT_TYPE", "TARGET_PREFIX", "ApiError", "UserPoolApi"]

TARGET_PREFIX = "AWSCognitoIdentityProviderService."
CONTENT_TYPE = "application/x-amz-json-1.1"
ADMIN_SCOPE = "aws.cognito.signin.user.admin"  # what GetUser and GlobalSignOut ask of an access token

# Cognito's own messages, so that code matching on them behaves as against AWS.
_REFUSED_MESSAGES = {
    "invalid": "Invalid Access Token",
    "expired": "Access Token has expired",
    "revoked": "Access Token has been revoked",
}
_USER_POOL_ID = re.compile(r"[\w-]+_[0-9a-zA-Z]+")
_REFRESH_TOKEN = re.compile(r"[A-Za-z0-9_=.-]+")
_SIGV4 = re.compile(r"AWS4-HMAC-SHA256 +Credential=\S")


class ApiError(Exception):
    """A Cognito error answer: HTTP 400 with ``{"__type": error_type, "message": message}``."""

    def __init__(self, error_type: str, message: str | None = None) -> None:
        super().__init__(f"{error_type}: {message}" if message else error_type)
        self.error_type = error_type
        self.message = message

    def to_json(self) -> dict[str, str]:
        body = {"__type": self.error_type}
        if self.message is not None:
            body["message"] = self.message
        return body


def _invalid(name: str, constraint: str) -> ApiError:
    # Cognito's wording of a parameter validation failure; the parameter is named in lower camel case.
    where = name[:1].lower() + name[1:]
    return ApiError(
        "InvalidParameterException",
        f"1 validation error detected: Value at '{where}' failed to satisfy constraint: {constraint}",
    )


def _optional(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and (not isinstance(value, str) or not value):
        raise _invalid(name, "Member must be a non-empty string")
    return value


def _required(body: Mapping[str, Any], name: str) -> str:
    value = _optional(body, name)
    if value is None:
        raise _invalid(name, "Member must not be null")
    return value


class UserPoolApi:
    """The JSON API of ``pool``, whose issuer is ``{base_url}/{user pool id}``."""

    def __init__(self, pool: LocalUserPool, base_url: str) -> None:
        self._pool = pool
        self._issuer = pool.issuer(base_url)
        self._operations: dict[str, Callable[[Mapping[str, Any], str | None], dict[str, Any]]] = {
            "RevokeToken": self._revoke_token,
            "GlobalSignOut": self._global_sign_out,
            "AdminUserGlobalSignOut": self._admin_user_global_sign_out,
            "GetUser": self._get_user,
        }

    def call(
        self, target: str | None, content_type: str | None, body: bytes, authorization: str | None
    ) -> dict[str, Any]:
        """Answer one call; returns the JSON answer of a success. Raises :class:`ApiError`."""
        service, _, name = (target or "").partition(".")
        operation = self._operations.get(name) if f"{service}." == TARGET_PREFIX else None
        if operation is None:
            raise ApiError("UnknownOperationException")
        if (content_type or "").split(";")[0].strip().lower() != CONTENT_TYPE:
            raise ApiError("UnknownOperationException")  # what AWS answers to a body of another type
        try:
            parameters = json.loads(body or b"{}")
        except (UnicodeDecodeError, ValueError):
            raise ApiError("SerializationException", "The request body is not valid JSON.") from None
        if not isinstance(parameters, dict):
            raise ApiError("SerializationException", "The request body must be a JSON object.")
        return operation(parameters, authorization)

    # -- the pool a call is for -----------------------------------------------------------------------------------
    def _check_pool(self, user_pool_id: str) -> None:
        if not _USER_POOL_ID.fullmatch(user_pool_id):
            raise _invalid("UserPoolId", "Member must satisfy regular expression pattern: [\\w-]+_[0-9a-zA-Z]+")
        if user_pool_id != self._pool.config.user_pool_id:
            raise ApiError("ResourceNotFoundException", f"User pool {user_pool_id} does not exist.")

    def _live_claims(self, access_token: str, *, scope: str = ADMIN_SCOPE) -> Claims:
        """The claims of a live access token of this pool that carries ``scope``; NotAuthorizedException else."""
        try:
            claims = self._pool.access_tokens.live(access_token, self._issuer)
        except AccessTokenRefused as refused:
            raise ApiError("NotAuthorizedException", _REFUSED_MESSAGES[refused.reason]) from None
        if scope not in claims.scopes:
            raise ApiError("NotAuthorizedException", "Access Token does not have required scopes")
        return claims

    def _user(self, username: str | None) -> User:
        user = self._pool.config.users.get(username or "")
        if user is None:
            raise ApiError("UserNotFoundException", "User does not exist.")
        return user

    # -- operations ---------------------------------------------------------------------------------------------
    def _revoke_token(self, body: Mapping[str, Any], authorization: str | None) -> dict[str, Any]:
        token, client_id = _required(body, "Token"), _required(body, "ClientId")
        secret = _optional(body, "ClientSecret")
        if not _REFRESH_TOKEN.fullmatch(token):
            raise _invalid("Token", "Member must satisfy regular expression pattern: [A-Za-z0-9-_=.]+")
        client = self._pool.config.clients.get(client_id)
        if client is None:
            raise ApiError("ResourceNotFoundException", f"User pool client {client_id} does not exist.")
        if not self._pool.secret_matches(client, secret):
            if client.client_secret is None:
                raise ApiError("NotAuthorizedException", f"Client {client_id} is not configured with a secret.")
            if secret is None:
                message = f"Client {client_id} is configured with secret but ClientSecret was not received."
                raise ApiError("NotAuthorizedException", message)
            raise ApiError("NotAuthorizedException", f"Unable to verify secret for client {client_id}.")
        try:
            self._pool.revoke_refresh_token(client, token)
        except OAuthError as error:
            if error.error == "unsupported_token_type":
                raise ApiError("UnsupportedTokenTypeException", "Only refresh tokens can be revoked.") from None
            raise ApiError("InvalidParameterException", "The token was not issued to this client.") from None
        return {}

    def _global_sign_out(self, body: Mapping[str, Any], authorization: str | None) -> dict[str, Any]:
        claims = self._live_claims(_required(body, "AccessToken"))
        self._pool.state.sign_out_user(self._user(claims.username).username)
        return {}

    def _admin_user_global_sign_out(self, body: Mapping[str, Any], authorization: str | None) -> dict[str, Any]:
        if not authorization:
            raise ApiError("MissingAuthenticationTokenException", "Missing Authentication Token")
        if not _SIGV4.match(authorization):
            raise ApiError("IncompleteSignatureException", "The Authorization header is not AWS Signature V4.")
        self._check_pool(_required(body, "UserPoolId"))
        user = self._user(_required(body, "Username"))
        self._pool.state.sign_out_user(user.username)
        return {}

    def _get_user(self, body: Mapping[str, Any], authorization: str | None) -> dict[str, Any]:
        claims = self._live_claims(_required(body, "AccessToken"))
        user = self._user(claims.username)
        attributes = {"sub": user.sub, **attribute_strings(user.attributes)}
        return {
            "Username": user.username,
            "UserAttributes": [{"Name": name, "Value": value} for name, value in attributes.items()],
        }
