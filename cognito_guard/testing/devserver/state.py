"""What the stand-in remembers between requests: authorization codes, sign-in sessions, refresh-token families.

All of it lives in memory (a restart signs everyone out) and reads time from an injected clock, so tests move
time instead of sleeping. Secrets handed out (codes, session ids, refresh tokens) are kept only as SHA-256 digests.

Every ID and access token for a user belongs to a family (one sign-in, its refresh token and every refresh of it):
revoking a family (``RevokeToken``) or all of a user's families (``GlobalSignOut``) revokes each token by its
``origin_jti``, which no later sign-in shares. With refresh-token rotation a family holds several refresh tokens:
each refresh adds one, and retires the presented one after the client's grace period.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["CODE_LIFETIME", "SESSION_LIFETIME", "AuthorizationCode", "DevState", "RefreshFamily", "SignInSession"]

CODE_LIFETIME = 5 * 60
SESSION_LIFETIME = 3600  # Cognito's hosted-UI session cookie lives one hour


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class AuthorizationCode:
    """What an authorization code stands for: single use, bound to its client, redirect URI and PKCE challenge."""

    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    username: str
    auth_time: int
    nonce: str | None
    code_challenge: str | None
    expires_at: float


@dataclass(frozen=True)
class SignInSession:
    """The hosted UI's own session (its cookie): lets a second authorize skip the form."""

    username: str
    auth_time: int
    expires_at: float


@dataclass
class RefreshFamily:
    """One sign-in: its refresh tokens and every ID/access token minted from them share ``origin_jti``; all of its
    refresh tokens expire at ``expires_at``, the sign-in's (rotation hands out new tokens, not a longer session)."""

    origin_jti: str
    client_id: str
    username: str
    scopes: tuple[str, ...]
    auth_time: int
    expires_at: float
    revoked: bool = False


@dataclass
class _RefreshToken:
    """One refresh token of a family. Its first refresh under rotation sets ``retires_at``: it works until then."""

    family: RefreshFamily
    retires_at: float | None = None

    def is_live(self, now: float) -> bool:
        family = self.family
        return not family.revoked and now < family.expires_at and (self.retires_at is None or now < self.retires_at)


class DevState:
    """Thread-safe in-memory stores; ``clock`` returns Unix seconds."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._codes: dict[str, AuthorizationCode] = {}
        self._sessions: dict[str, SignInSession] = {}
        self._refresh_tokens: dict[str, _RefreshToken] = {}  # by refresh-token digest
        self._families: dict[str, RefreshFamily] = {}  # by origin_jti
        self._revoked_origins: set[str] = set()

    # -- authorization codes ------------------------------------------------------------------------------------------
    def issue_code(
        self,
        *,
        client_id: str,
        redirect_uri: str,
        scopes: tuple[str, ...],
        username: str,
        auth_time: int,
        nonce: str | None,
        code_challenge: str | None,
    ) -> str:
        code = str(uuid.uuid4())  # Cognito's codes look like UUIDs; uuid4 draws from os.urandom
        record = AuthorizationCode(
            client_id, redirect_uri, scopes, username, auth_time, nonce, code_challenge, self.clock() + CODE_LIFETIME
        )
        with self._lock:
            self._codes[_digest(code)] = record
        return code

    def redeem_code(self, code: str) -> AuthorizationCode | None:
        """The code's record, once: any redemption attempt consumes it. None if unknown, used or expired."""
        with self._lock:
            record = self._codes.pop(_digest(code), None)
        if record is None or self.clock() >= record.expires_at:
            return None
        return record

    # -- sign-in sessions ---------------------------------------------------------------------------------------------
    def start_session(self, username: str) -> tuple[str, SignInSession]:
        now = self.clock()
        session_id = secrets.token_urlsafe(32)
        session = SignInSession(username, int(now), now + SESSION_LIFETIME)
        with self._lock:
            self._sessions[_digest(session_id)] = session
        return session_id, session

    def session(self, session_id: str | None) -> SignInSession | None:
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(_digest(session_id))
        if session is None or self.clock() >= session.expires_at:
            return None
        return session

    def end_session(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._sessions.pop(_digest(session_id), None)

    # -- refresh-token families ---------------------------------------------------------------------------------------
    def start_family(
        self, *, client_id: str, username: str, scopes: tuple[str, ...], auth_time: int, lifetime: int
    ) -> tuple[str, RefreshFamily]:
        """A new sign-in's refresh token (opaque) and its family."""
        token = secrets.token_urlsafe(48)
        family = RefreshFamily(str(uuid.uuid4()), client_id, username, scopes, auth_time, self.clock() + lifetime)
        with self._lock:
            self._refresh_tokens[_digest(token)] = _RefreshToken(family)
            self._families[family.origin_jti] = family
        return token, family

    def refresh(
        self, refresh_token: str, *, client_id: str, rotate: bool, grace_seconds: int = 0
    ) -> tuple[RefreshFamily, str | None] | None:
        """Use ``client_id``'s refresh token: its live family, and with ``rotate`` a new refresh token of that family.

        A rotation retires the presented token ``grace_seconds`` after its first use; each use until then (a retry)
        gets a new token too. None if the token is unknown, revoked, expired, retired or another client's. Check and
        rotation happen under one lock, so that of two refreshes racing with one token, both see the same state."""
        now = self.clock()
        with self._lock:
            record = self._refresh_tokens.get(_digest(refresh_token))
            if record is None or not record.is_live(now) or record.family.client_id != client_id:
                return None
            if not rotate:
                return record.family, None
            if record.retires_at is None:
                record.retires_at = now + grace_seconds
            token = secrets.token_urlsafe(48)
            self._refresh_tokens[_digest(token)] = _RefreshToken(record.family)
            return record.family, token

    def find_family(self, refresh_token: str) -> RefreshFamily | None:
        """The family of a refresh token even if revoked, expired or retired (revocation answers 200 for those too,
        and revoking any refresh token of a family revokes the whole family)."""
        with self._lock:
            record = self._refresh_tokens.get(_digest(refresh_token))
            return record.family if record is not None else None

    def revoke(self, family: RefreshFamily) -> None:
        """Revoke one family: its refresh tokens and every ID/access token minted with its ``origin_jti``."""
        with self._lock:
            family.revoked = True
            self._revoked_origins.add(family.origin_jti)

    def sign_out_user(self, username: str) -> int:
        """Revoke every family of ``username`` (``GlobalSignOut``): all their tokens minted so far, of every client.
        A sign-in afterwards starts a new family and works. Returns how many families this revoked."""
        with self._lock:
            families = [f for f in self._families.values() if f.username == username and not f.revoked]
            for family in families:
                family.revoked = True
                self._revoked_origins.add(family.origin_jti)
        return len(families)

    def is_revoked(self, origin_jti: str | None) -> bool:
        with self._lock:
            return origin_jti in self._revoked_origins
