"""The stand-in pool's configuration: app clients, resource servers, groups and users (TOML or JSON, or built in).

Everything is checked at load time so that a typo fails with a :class:`ConfigurationError` naming the setting,
never later in the middle of a sign-in.
"""

from __future__ import annotations

import copy
import json
import re
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..._keys import is_loopback_url
from ...errors import ConfigurationError
from .attributes import parse_attributes
from .table_reader import TableReader

__all__ = [
    "DEFAULT_APP_URLS",
    "DEFAULT_POOL_ID",
    "STANDARD_SCOPES",
    "AppClient",
    "Group",
    "PoolConfig",
    "ResourceServer",
    "User",
    "builtin_pool_data",
    "default_config",
    "load_config",
    "origin",
    "parse_config",
]

DEFAULT_POOL_ID = "us-east-1_LocalDev"
# Scopes Cognito itself defines; every other scope must be a resource server's "IDENTIFIER/NAME".
STANDARD_SCOPES = frozenset(("openid", "email", "phone", "profile", "aws.cognito.signin.user.admin"))
FLOWS = frozenset(("code", "client_credentials"))
_POOL_ID = re.compile(r"[a-z]{2,4}(?:-[a-z]+)+-\d+_[0-9A-Za-z]+")
# Cognito's limits, in seconds.
_TOKEN_LIFETIME = (5 * 60, 24 * 3600)
_REFRESH_LIFETIME = (3600, 10 * 365 * 24 * 3600)
# RefreshTokenRotationType.RetryGracePeriodSeconds: 0 to 60. AWS documents no default; 0 ("a successful request
# immediately invalidates the submitted refresh token") is what an app client gets when none is given here.
_RETRY_GRACE_PERIOD = (0, 60)


@dataclass(frozen=True)
class AppClient:
    """An app client. ``client_secret`` None makes it public (it authenticates by id only).

    ``refresh_token_rotation`` (Cognito's ``RefreshTokenRotation`` feature, off by default): each refresh returns a
    new refresh token of the same family, and the presented one keeps working only ``retry_grace_period_seconds``
    (0 to 60, default 0) after its first refresh."""

    client_id: str
    client_secret: str | None = None
    callback_urls: tuple[str, ...] = ()
    logout_urls: tuple[str, ...] = ()
    allowed_flows: tuple[str, ...] = ("code",)
    allowed_scopes: tuple[str, ...] = ("openid",)
    access_token_validity: int = 3600
    id_token_validity: int = 3600
    refresh_token_validity: int = 30 * 24 * 3600
    refresh_token_rotation: bool = False
    retry_grace_period_seconds: int = 0

    @property
    def is_confidential(self) -> bool:
        return self.client_secret is not None


@dataclass(frozen=True)
class ResourceServer:
    """A resource server: its scopes are written ``IDENTIFIER/NAME`` in tokens."""

    identifier: str
    scopes: tuple[str, ...]

    @property
    def full_scopes(self) -> tuple[str, ...]:
        return tuple(f"{self.identifier}/{name}" for name in self.scopes)


@dataclass(frozen=True)
class Group:
    """A user-pool group; ``precedence`` 0 is the highest, None ranks below every number."""

    name: str
    role_arn: str | None = None
    precedence: int | None = None


@dataclass(frozen=True)
class User:
    """A user. ``attributes`` are ID-token claims: standard attributes (``email``...) and ``custom:NAME``, other names
    never reach a token; ``sub`` defaults to a stable UUID."""

    username: str
    password: str
    sub: str
    attributes: Mapping[str, str | bool] = field(default_factory=dict)
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class PoolConfig:
    """A user pool: its id, app clients, resource servers, groups and users (each keyed by its name)."""

    user_pool_id: str = DEFAULT_POOL_ID
    clients: Mapping[str, AppClient] = field(default_factory=dict)
    resource_servers: Mapping[str, ResourceServer] = field(default_factory=dict)
    groups: Mapping[str, Group] = field(default_factory=dict)
    users: Mapping[str, User] = field(default_factory=dict)

    @property
    def region(self) -> str:
        return self.user_pool_id.split("_", 1)[0]

    @property
    def custom_scopes(self) -> frozenset[str]:
        return frozenset(scope for server in self.resource_servers.values() for scope in server.full_scopes)

    def describe(self) -> str:
        """A human-readable summary (printed at start): clients, scopes, groups and the users with passwords."""
        lines = [f"user pool {self.user_pool_id}"]
        for client in self.clients.values():
            kind = "confidential" if client.is_confidential else "public"
            secret = f", secret {client.client_secret}" if client.client_secret else ""
            lines.append(f"  client {client.client_id} ({kind}{secret}): flows {' '.join(client.allowed_flows)}")
            lines.append(f"    scopes {' '.join(client.allowed_scopes)}")
            if client.refresh_token_rotation:
                lines.append(f"    refresh-token rotation, retry grace period {client.retry_grace_period_seconds} s")
            for url in client.callback_urls:
                lines.append(f"    callback {url}")
            for url in client.logout_urls:
                lines.append(f"    sign-out {url}")
        for group in self.groups.values():
            lines.append(f"  group {group.name}: precedence {group.precedence}, role {group.role_arn}")
        for user in self.users.values():
            email = user.attributes.get("email", "")
            lines.append(f"  user {user.username} / {user.password} {email} groups {','.join(user.groups) or '-'}")
        return "\n".join(lines)


def stable_sub(user_pool_id: str, username: str) -> str:
    """The same UUID for the same user of the same pool, across restarts."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"cognito-guard-dev:{user_pool_id}/{username}"))


_DEFAULT: dict[str, Any] = {
    "user_pool_id": DEFAULT_POOL_ID,
    "clients": [
        {
            "client_id": "local-client",
            # callback_urls and logout_urls: from the app URLs given to default_config()
            "allowed_flows": ["code"],
            "allowed_scopes": [
                "openid",
                "email",
                "profile",
                "aws.cognito.signin.user.admin",
                "orders/read",
                "orders/write",
            ],
        },
        {
            "client_id": "local-m2m",
            "client_secret": "local-m2m-secret",
            "allowed_flows": ["client_credentials"],
            "allowed_scopes": ["orders/read", "orders/write"],
        },
    ],
    "resource_servers": [{"identifier": "orders", "scopes": ["read", "write"]}],
    "groups": [
        {"name": "admin", "role_arn": "arn:aws:iam::123456789012:role/Admin", "precedence": 1},
        {"name": "users", "role_arn": "arn:aws:iam::123456789012:role/User", "precedence": 10},
    ],
    "users": [
        {
            "username": "alice",
            "password": "Passw0rd!",
            "attributes": {"email": "alice@example.com"},
            "groups": ["admin", "users"],
        },
        {"username": "bob", "password": "Passw0rd!", "attributes": {"email": "bob@example.com"}, "groups": ["users"]},
    ],
}


DEFAULT_APP_URLS = ("http://localhost:8000", "http://127.0.0.1:8000")


def builtin_pool_data(
    app_urls: Sequence[str] = DEFAULT_APP_URLS,
    *,
    refresh_token_rotation: bool = False,
    retry_grace_period_seconds: int = 0,
) -> dict[str, Any]:
    """The built-in pool as config data, ready for ``json.dump``: a ``.json`` file of it runs ``cognito-guard dev
    --config FILE`` with the built-in pool (arguments as :func:`default_config`). Raises
    :class:`ConfigurationError` for a URL that is not ``http(s)://host[:port]``."""
    if isinstance(app_urls, str) or not app_urls:
        raise ConfigurationError("app_urls must be a non-empty list of URLs such as 'http://localhost:5000'")
    apps = [origin(url) for url in app_urls]
    local_client: dict[str, Any] = {
        **_DEFAULT["clients"][0],
        "callback_urls": [f"{app}/auth/callback" for app in apps],
        "logout_urls": [f"{app}/" for app in apps],
    }
    if refresh_token_rotation or retry_grace_period_seconds:  # a grace period alone is refused by parse_config
        local_client["refresh_token_rotation"] = refresh_token_rotation
        local_client["retry_grace_period_seconds"] = retry_grace_period_seconds
    return copy.deepcopy({**_DEFAULT, "clients": [local_client, *_DEFAULT["clients"][1:]]})


def default_config(
    app_urls: Sequence[str] = DEFAULT_APP_URLS,
    *,
    refresh_token_rotation: bool = False,
    retry_grace_period_seconds: int = 0,
) -> PoolConfig:
    """The built-in pool ``us-east-1_LocalDev``: clients ``local-client`` and ``local-m2m``, users alice and bob.

    ``local-client`` accepts sign-ins for the apps at ``app_urls`` (default port 8000 on localhost and 127.0.0.1):
    callback ``{app}/auth/callback`` (where the sign-in adapters mount it), sign-out URL ``{app}/``. With
    ``refresh_token_rotation`` its refreshes rotate refresh tokens, the old one working ``retry_grace_period_seconds``
    more (0 to 60, default 0). Raises :class:`ConfigurationError` for a URL that is not ``http(s)://host[:port]``,
    a grace period out of range or without rotation.
    """
    data = builtin_pool_data(
        app_urls,
        refresh_token_rotation=refresh_token_rotation,
        retry_grace_period_seconds=retry_grace_period_seconds,
    )
    return parse_config(data)


def origin(url: str, what: str = "app URL") -> str:
    """``scheme://host[:port]`` of ``url`` if it is just that (a trailing slash allowed): paths are added to it.
    Raises :class:`ConfigurationError` naming ``what`` otherwise."""
    try:
        parts = urlsplit(url)
        usable = (
            parts.scheme in ("http", "https")
            and bool(parts.hostname)
            and parts.port != 0  # .port raises ValueError when it is not a number in range
            and parts.path in ("", "/")
            and not any(character.isspace() or character in "?#@" for character in url)
        )
    except (ValueError, TypeError, AttributeError):
        usable = False
    if not usable:
        raise ConfigurationError(f"{what} {url!r} must look like http://localhost:5000 (scheme, host and port only)")
    host = f"[{parts.hostname}]" if ":" in str(parts.hostname) else parts.hostname  # IPv6 keeps its brackets
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port is not None else "")


def load_config(path: str | Path) -> PoolConfig:
    """Load a ``.toml`` or ``.json`` file. Raises :class:`ConfigurationError` for unreadable or invalid files."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigurationError(f"cannot read dev-server config {path}: {error.strerror}") from None
    if path.suffix.lower() == ".toml":
        data: Any = _load_toml(text, path)
    elif path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigurationError(f"{path} is not valid JSON: {error}") from None
    else:
        raise ConfigurationError(f"dev-server config {path} must end in .toml or .json")
    return parse_config(data, source=str(path))


def _load_toml(text: str, path: Path) -> Any:
    if sys.version_info >= (3, 11):
        import tomllib

        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ConfigurationError(f"{path} is not valid TOML: {error}") from None
    raise ConfigurationError("TOML configs need Python 3.11+ (tomllib); use a .json config on Python 3.10")


# -- parsing -----------------------------------------------------------------------------------------------------------


def _check_redirect_url(url: str, where: str) -> None:
    # Cognito's rule: absolute, no fragment, https except http to localhost.
    if "#" in url or not (url.startswith("https://") or (url.startswith("http://") and is_loopback_url(url))):
        raise ConfigurationError(f"{where}: {url!r} must be an absolute https URL (http only for localhost)")


def parse_config(data: object, *, source: str = "config") -> PoolConfig:
    """Build a :class:`PoolConfig` from a decoded TOML/JSON mapping; raises :class:`ConfigurationError`."""
    root = TableReader(data, source)
    root.unknown({"user_pool_id", "clients", "resource_servers", "groups", "users"})
    pool_id = root.string("user_pool_id", DEFAULT_POOL_ID) or DEFAULT_POOL_ID
    if not _POOL_ID.fullmatch(pool_id):
        raise ConfigurationError(f"{source}: user_pool_id {pool_id!r} is not like 'us-east-1_LocalDev'")

    servers: dict[str, ResourceServer] = {}
    for table in root.tables("resource_servers"):
        table.unknown({"identifier", "scopes"})
        identifier = table.string("identifier", required=True) or ""
        servers[identifier] = ResourceServer(identifier, table.strings("scopes"))
    custom = {scope for server in servers.values() for scope in server.full_scopes}

    clients: dict[str, AppClient] = {}
    for table in root.tables("clients"):
        table.unknown({f.name for f in AppClient.__dataclass_fields__.values()})
        client_id = table.string("client_id", required=True) or ""
        flows = table.strings("allowed_flows", ("code",))
        scopes = table.strings("allowed_scopes", ("openid",))
        callbacks = table.strings("callback_urls")
        logouts = table.strings("logout_urls")
        secret = table.string("client_secret")
        where = f"client {client_id}"
        if client_id in clients:
            raise ConfigurationError(f"{where} is declared twice")
        if not set(flows) <= FLOWS:
            raise ConfigurationError(f"{where}: allowed_flows must be among {sorted(FLOWS)}")
        unknown_scopes = set(scopes) - STANDARD_SCOPES - custom
        if unknown_scopes:
            raise ConfigurationError(f"{where}: scopes {sorted(unknown_scopes)} are not standard or resource scopes")
        if "openid" not in scopes and {"email", "phone", "profile"} & set(scopes):
            # Cognito's console and API refuse these without openid; every sign-in would fail later otherwise.
            raise ConfigurationError(f"{where}: the scopes email, phone and profile need openid too")
        if "client_credentials" in flows:
            if secret is None:
                raise ConfigurationError(f"{where}: client_credentials needs a client_secret")
            if "code" in flows:
                raise ConfigurationError(f"{where}: Cognito does not allow client_credentials with code")
            if set(scopes) - custom:
                raise ConfigurationError(f"{where}: client_credentials allows resource-server scopes only")
        if "code" in flows and not callbacks:
            raise ConfigurationError(f"{where}: the code flow needs callback_urls")
        for url in (*callbacks, *logouts):
            _check_redirect_url(url, where)
        rotation = table.boolean("refresh_token_rotation", False)
        grace = table.integer("retry_grace_period_seconds", 0, _RETRY_GRACE_PERIOD) or 0
        if grace and not rotation:
            raise ConfigurationError(f"{where}: retry_grace_period_seconds needs refresh_token_rotation = true")
        clients[client_id] = AppClient(
            client_id=client_id,
            client_secret=secret,
            callback_urls=callbacks,
            logout_urls=logouts,
            allowed_flows=flows,
            allowed_scopes=scopes,
            access_token_validity=table.integer("access_token_validity", 3600, _TOKEN_LIFETIME) or 3600,
            id_token_validity=table.integer("id_token_validity", 3600, _TOKEN_LIFETIME) or 3600,
            refresh_token_validity=table.integer("refresh_token_validity", 30 * 86400, _REFRESH_LIFETIME) or 30 * 86400,
            refresh_token_rotation=rotation,
            retry_grace_period_seconds=grace,
        )

    groups: dict[str, Group] = {}
    for table in root.tables("groups"):
        table.unknown({"name", "role_arn", "precedence"})
        name = table.string("name", required=True) or ""
        precedence = table.integer("precedence", None, (0, 2**31 - 1))
        groups[name] = Group(name, table.string("role_arn"), precedence)

    users: dict[str, User] = {}
    for table in root.tables("users"):
        table.unknown({"username", "password", "sub", "attributes", "groups"})
        username = table.string("username", required=True) or ""
        where = f"user {username}"
        attributes = parse_attributes(table.data.get("attributes", {}), where)
        member_of = table.strings("groups")
        missing = set(member_of) - set(groups)
        if missing:
            raise ConfigurationError(f"{where}: unknown group(s) {sorted(missing)}")
        users[username] = User(
            username=username,
            password=table.string("password", required=True) or "",
            sub=table.string("sub") or stable_sub(pool_id, username),
            attributes=attributes,
            groups=member_of,
        )
    return PoolConfig(pool_id, clients, servers, groups, users)
