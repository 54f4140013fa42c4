"""AlbClaims: the verified user claims an Application Load Balancer passes on, typed like :class:`Claims`.

Public through :mod:`cognito_guard.alb`.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from .claims import Claims

__all__ = ["AlbClaims"]


def _string_boolean(value: object) -> bool | None:
    """A boolean claim as identity providers write it into userinfo: ``true`` or the string ``"true"``."""
    if value is True or value == "true":
        return True
    if value is False or value == "false":
        return False
    return None


class AlbClaims(Claims):
    """The claims of a verified ``x-amzn-oidc-data`` token: the IdP's userinfo claims plus ``exp`` and ``iss``.

    A read-only mapping of the payload, with :class:`Claims`' properties (``sub``, ``username``, ``email``...) and
    what the ALB adds in the token's header: :attr:`signer` (the ALB's ARN) and :attr:`client_id` (the header's
    ``client``). String booleans (``"true"``/``"false"``, as Cognito's userinfo writes ``email_verified``) read as
    booleans. With an access-token verifier, :attr:`access_token` holds the verified ``x-amzn-oidc-accesstoken``
    claims, and :attr:`scopes` and :attr:`groups` come from it (userinfo carries neither).
    """

    __slots__ = ("_header",)
    _header: tuple[str, str, Claims | None]  # (signer, client, access token claims)

    @classmethod
    def build(cls, payload: dict[str, Any], *, signer: str, client: str, access_token: Claims | None) -> AlbClaims:
        """Wrap a verified payload whose arrays and objects are already frozen (takes ownership)."""
        self: AlbClaims = _new(cls)
        _set_raw(self, payload)
        _set_header(self, (signer, client, access_token))
        return self

    def with_access_token(self, access_token: Claims) -> AlbClaims:
        """These claims joined with the verified access token of the same sign-in."""
        signer, client, _ = self._header
        return AlbClaims.build(self._raw, signer=signer, client=client, access_token=access_token)

    def __repr__(self) -> str:
        return f"AlbClaims(sub={self.sub!r}, username={self.username!r}, signer={self.signer!r})"

    @property
    def signer(self) -> str:
        """The ARN of the load balancer that signed the token (one of the verifier's ``alb_arn``)."""
        return self._header[0]

    @property
    def client_id(self) -> str:
        """The app client the ALB signed the user in with (the token header's ``client``)."""
        return self._header[1]

    @property
    def access_token(self) -> Claims | None:
        """The verified claims of ``x-amzn-oidc-accesstoken``, when the verifier checks it; else ``None``."""
        return self._header[2]

    @property
    def email_verified(self) -> bool:
        return _string_boolean(self._raw.get("email_verified")) is True

    @property
    def phone_number_verified(self) -> bool:
        return _string_boolean(self._raw.get("phone_number_verified")) is True

    @property
    def phone_number(self) -> str | None:
        value = self._raw.get("phone_number")
        return value if isinstance(value, str) else None

    @cached_property
    def scopes(self) -> frozenset[str]:
        """The access token's scopes when it is verified too, else the payload's ``scope`` (usually none)."""
        access = self._header[2]
        return super().scopes if access is None else access.scopes

    @cached_property
    def groups(self) -> tuple[str, ...]:
        """The access token's ``cognito:groups`` when it is verified too, else the payload's (usually none)."""
        access = self._header[2]
        return super().groups if access is None else access.groups


# The fast path of build, as Claims.from_frozen does it: fill the slots without __init__ or __setattr__.
_new = object.__new__
_set_raw = Claims._raw.__set__  # type: ignore[attr-defined]
_set_header = AlbClaims._header.__set__  # type: ignore[attr-defined]
