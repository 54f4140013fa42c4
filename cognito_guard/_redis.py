"""The one place that talks to Redis: connections, key names and Lua scripts, for every shared-state part.

Used by the revocation list (and by the session store and token cache as they arrive). redis-py is an optional
dependency (``cognito-guard[redis]``): it is imported only when a Redis URL is actually used.

Cluster safety (ElastiCache cluster mode, Redis Cluster, Valkey): every key of one part carries the same hash tag
(``{namespace:part}``), so each script and each multi-key command touches a single hash slot.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError

if TYPE_CHECKING:
    import redis

__all__ = ["REVOKE_SCRIPT", "check_namespace", "check_redis_url", "connect", "failures", "keys_of"]

# Redis URL schemes redis-py understands: plain, TLS (ElastiCache in-transit encryption) and a Unix socket.
_SCHEMES = ("redis://", "rediss://", "unix://")
_NAMESPACE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")

# Timeouts: the sync loop blocks up to a second in XREAD, so reads may wait longer than that; connecting must not.
CONNECT_TIMEOUT = 2.0
SOCKET_TIMEOUT = 5.0


def check_redis_url(url: object, what: str = "COGNITO_REDIS_URL") -> str:
    """``url`` if it is a Redis URL redis-py can use; raises :class:`ConfigurationError` naming ``what``.

    The message never repeats the URL: it may hold a password."""
    if not isinstance(url, str) or not url.strip():
        raise ConfigurationError(f"{what} must be a Redis URL such as redis://localhost:6379/0")
    url = url.strip()
    if not url.lower().startswith(_SCHEMES):
        raise ConfigurationError(f"{what} must start with redis://, rediss:// or unix://")
    return url


def check_namespace(namespace: object) -> str:
    """``namespace`` if it is a usable key prefix (letters, digits, ``_.:-``, at most 64); else ConfigurationError."""
    if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace):
        raise ConfigurationError("namespace must be 1 to 64 letters, digits or '_', '.', ':', '-'")
    return namespace


def keys_of(namespace: str, part: str, *names: str) -> tuple[str, ...]:
    """The keys ``{namespace:part}:name`` of one part: one hash tag, so one cluster slot."""
    return tuple(f"{{{namespace}:{part}}}:{name}" for name in names)


def connect(url: str, *, encoding_errors: str = "strict") -> redis.Redis:
    """A redis-py client for ``url``: a cluster client when the server is a cluster node, a plain one otherwise.

    Replies are decoded as UTF-8 with ``encoding_errors`` (``"surrogateescape"`` keeps bytes that are not UTF-8 as
    lone surrogates for the caller to refuse, where ``"strict"`` fails the whole reply over one bad value). Raises
    :class:`ConfigurationError` when redis-py is not installed or cannot read ``url``. Connecting is lazy for a
    plain server; the cluster check asks the server once and, if it cannot be reached, assumes a plain server (the
    sync loop reconnects later and the next :func:`connect` of a new process asks again).
    """
    try:
        import redis
        from redis.cluster import RedisCluster
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ConfigurationError("Redis support needs redis-py: pip install 'cognito-guard[redis]'") from None
    options: dict[str, Any] = {
        "decode_responses": True,
        "encoding_errors": encoding_errors,
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "socket_timeout": SOCKET_TIMEOUT,
        "health_check_interval": 30,
    }
    try:
        client = redis.Redis.from_url(url, **options)
    except ValueError:  # a port, database or option redis-py cannot read; its message may quote the URL
        raise ConfigurationError("the Redis URL is malformed (port, database or a query option)") from None
    if url.lower().startswith("unix://"):
        return client
    try:
        info = client.info("cluster")
    except redis.RedisError:
        return client
    if not info.get("cluster_enabled"):
        return client
    client.close()
    cluster: redis.Redis = RedisCluster.from_url(url, **options)  # type: ignore[assignment]
    return cluster


def failures() -> tuple[type[Exception], ...]:
    """What a redis-py call raises when Redis fails or is out of reach. A cluster client raises
    ``RedisClusterException`` (not a ``RedisError``) when it can reach no node at all."""
    import redis
    from redis.exceptions import RedisClusterException

    return (redis.RedisError, RedisClusterException, OSError)


# Record revocations and publish them, atomically. KEYS: entries (hash), expiry (sorted set), log (stream), all of
# one hash slot. ARGV: now, stream length to keep (approximate), then (field, at, expires_at) per entry. A field that
# is already there keeps the later of each time (revocations only grow until they expire). Expired entries are
# pruned a hundred at a time, so the hash stays as small as the tokens it may still meet.
REVOKE_SCRIPT = """
local now = tonumber(ARGV[1])
local last = ''
for i = 3, #ARGV, 3 do
  local field, at, expires = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local current = redis.call('HGET', KEYS[1], field)
  if current then
    local old_at, old_expires = string.match(current, '^(%S+) (%S+)$')
    old_at, old_expires = tonumber(old_at), tonumber(old_expires)
    if old_at and old_at > at then at = old_at end
    if old_expires and old_expires > expires then expires = old_expires end
  end
  local value = string.format('%.3f %.3f', at, expires)
  redis.call('HSET', KEYS[1], field, value)
  redis.call('ZADD', KEYS[2], expires, field)
  last = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'e', field, 'v', value)
end
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 100)
if #expired > 0 then
  redis.call('HDEL', KEYS[1], unpack(expired))
  redis.call('ZREM', KEYS[2], unpack(expired))
end
return last
"""


# -- hosted-UI session store (cognito_guard.hosted_ui.RedisSessionStore) --------------------------------------------
# An entry is one string, "<version>\n<JSON>", with a TTL. Versions make compare-and-set possible; every write adds
# one, so a conditional write of a stale reader fails. KEYS: the entry. Each script touches that one key.

# ARGV: JSON, ttl ms. An unconditional write; returns the new version.
SESSION_SET_SCRIPT = """
local current = redis.call('GET', KEYS[1])
local version = current and tonumber(string.match(current, '^(%d+)\\n')) or 0
version = version + 1
redis.call('SET', KEYS[1], version .. '\\n' .. ARGV[1], 'PX', ARGV[2])
return version
"""

# ARGV: expected version (0: no entry), JSON, ttl ms. Returns the new version, or 0 when the entry changed meanwhile.
SESSION_CAS_SCRIPT = """
local current = redis.call('GET', KEYS[1])
local version = current and tonumber(string.match(current, '^(%d+)\\n')) or 0
if version ~= tonumber(ARGV[1]) then return 0 end
version = version + 1
redis.call('SET', KEYS[1], version .. '\\n' .. ARGV[2], 'PX', ARGV[3])
return version
"""

# ARGV: expected version. Returns 1 when deleted.
SESSION_DELETE_IF_SCRIPT = """
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
if tonumber(string.match(current, '^(%d+)\\n')) ~= tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
return 1
"""

# Get and delete in one step (GETDEL needs Redis 6.2; this works on every version). Returns the value or nil.
SESSION_POP_SCRIPT = """
local current = redis.call('GET', KEYS[1])
if current then redis.call('DEL', KEYS[1]) end
return current
"""


# -- client-credentials token cache (cognito_guard.client.RedisTokenCache) ------------------------------------------
# One entry (an app client, its scopes and its secret, hashed into a name) has three keys under one hash tag: the
# token, the last failure (a shared backoff) and a lock (one token request at a time across the fleet). Values are
# sealed by the client before they get here: opaque strings, each with a TTL.


def token_cache_keys(namespace: str, name: str) -> tuple[str, str, str]:
    """The token, failure and lock keys of the token-cache entry ``name``: one hash tag, so one cluster slot."""
    token, failure, lock = keys_of(namespace, f"m2m:{name}", "token", "failure", "lock")
    return token, failure, lock


# KEYS: token, failure. Both values in one round trip (nil for a missing one).
TOKEN_GET_SCRIPT = """
return {redis.call('GET', KEYS[1]) or false, redis.call('GET', KEYS[2]) or false}
"""

# KEYS: token, failure. ARGV: sealed token, ttl ms. Stores the token and forgets the failure: a success ends a backoff.
TOKEN_PUT_SCRIPT = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('DEL', KEYS[2])
return 1
"""

# KEYS: one key. ARGV: a value. Deletes the key only while it holds that value: a lock released by its owner, a token
# the API refused. Never someone else's newer lock or token. Returns 1 when deleted.
DELETE_IF_EQUAL_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
