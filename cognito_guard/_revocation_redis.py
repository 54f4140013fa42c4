"""Keeps a :class:`~cognito_guard.revocation.RevocationList`'s in-memory mirror current from Redis.

Layout (one hash slot, see :mod:`cognito_guard._redis`): ``{ns:revocations}:entries``, a hash of field ->
``"<at> <expires_at>"``; ``{ns:revocations}:expiry``, a sorted set of fields by expiry (for pruning); and
``{ns:revocations}:log``, a stream with one entry per write, which every process follows with a blocking XREAD.

Why a stream and not pub/sub: a process that loses its connection for a moment replays what it missed instead of
silently losing it; and a full resync after every reconnection covers a stream trimmed or a Redis restarted meanwhile,
as it covers a process that fell further behind than the stream keeps.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from . import _redis
from .errors import RevocationUnavailableError
from .revocation import InvalidRevocationError, check_id

if TYPE_CHECKING:
    from .revocation import RevocationList

logger = logging.getLogger("cognito_guard.revocation")

_STREAM_LENGTH = 100_000  # kept approximately; a process further behind than this resyncs in full anyway
_BATCH = 500  # records per script call when writing back
_READ = 1000  # stream entries per read; far fewer than the stream keeps, so a full read is how lagging shows
_BLOCK_MS = 1000  # how long one XREAD waits: also how often the mirror notes that Redis is still there
_MAX_BACKOFF = 30.0


# One record written by hand in another encoding must be skipped like any malformed one, not fail the whole read (and,
# in the stream, every read after it): undecodable bytes become lone surrogates, which parse_record refuses.
_ENCODING_ERRORS = "surrogateescape"


def _stream_id(entry_id: str) -> tuple[int, int]:
    milliseconds, _, sequence = entry_id.partition("-")
    return int(milliseconds), int(sequence or 0)


def parse_record(field: object, value: object) -> tuple[str, str, float, float] | None:
    """``(kind, id, at, expires_at)`` of a record read from Redis, or None if it is malformed.

    The id must be one the list's own ways in accept: bytes that were not UTF-8 arrive as lone surrogates (see
    ``_ENCODING_ERRORS``), which are not printable, so they are refused here with every other malformed record."""
    if not isinstance(field, str) or not isinstance(value, str) or len(field) < 3 or field[1] != ":":
        return None
    kind, ident = field[0], field[2:]
    if kind not in ("f", "t", "u"):
        return None
    try:
        check_id(ident, "id")
    except InvalidRevocationError:
        return None
    parts = value.split(" ")
    if len(parts) != 2:
        return None
    try:
        at, expires = float(parts[0]), float(parts[1])
    except ValueError:
        return None
    if not (math.isfinite(at) and math.isfinite(expires)):
        return None
    return kind, ident, at, expires


class RedisMirror:
    """The Redis side of one revocation list: writes, the full resync and the background follower thread."""

    def __init__(
        self, owner: RevocationList, url: str, namespace: str, resync_interval: float, clock: Callable[[], float]
    ) -> None:
        self._owner = owner
        self._url = _redis.check_redis_url(url, "redis_url")
        self._keys = _redis.keys_of(_redis.check_namespace(namespace), "revocations", "entries", "expiry", "log")
        self._resync_interval = resync_interval
        self._clock = clock
        self._client: Any = _redis.connect(self._url, encoding_errors=_ENCODING_ERRORS)
        self._script: Any = self._client.register_script(_redis.REVOKE_SCRIPT)
        self.synced_at = -math.inf  # last successful contact (clock seconds)
        self.connected = False
        self._last_id = "0-0"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- writes -----------------------------------------------------------------------------------------------------
    def write(self, records: Iterable[tuple[str, float, float]]) -> None:
        """Store and publish records. Raises RevocationUnavailableError when Redis cannot be reached."""
        args: list[Any] = []
        for field, at, expires in records:
            args += [field, f"{at:.3f}", f"{expires:.3f}"]
        if not args:
            return
        try:
            self._script(keys=list(self._keys), args=[f"{self._clock():.3f}", _STREAM_LENGTH, *args])
        except _redis.failures() as error:
            logger.warning("could not store a revocation in Redis (%s): this process enforces it", type(error).__name__)
            raise RevocationUnavailableError(
                "the revocation could not be stored in Redis: it holds in this process only until Redis is back",
                retry_after=1.0,
            ) from None

    # -- reads --------------------------------------------------------------------------------------------------------
    def resync(self) -> None:
        """Merge everything Redis holds into the mirror, write back what Redis lost or holds older, and note the
        stream position.

        Raises RevocationUnavailableError when Redis cannot be reached."""
        entries, _, log = self._keys
        try:
            newest = self._client.xrevrange(log, count=1)
            last_id = newest[0][0] if newest else "0-0"
            # Fields Redis holds as this process does. Not merely present: a user signed out again while Redis was
            # out of reach has a later time here than the one Redis kept, and the other processes need the later.
            current: set[str] = set()
            for field, value in self._client.hscan_iter(entries, count=1000):
                record = self._parse(field, value)
                if record is not None and not self._owner.apply(*record):
                    current.add(field)
            now = self._clock()
            lost = [record for record in self._owner.records() if record[0] not in current and record[2] > now + 5]
            if lost:
                logger.warning("Redis lacked %d revocations this process holds: writing them back", len(lost))
                for start in range(0, len(lost), _BATCH):
                    self.write(lost[start : start + _BATCH])
        except _redis.failures() as error:
            self._lost_contact(error)
            raise RevocationUnavailableError("Redis could not be reached to read the revocation list") from None
        self._last_id = last_id
        self._heard_from_redis()

    def _parse(self, field: object, value: object) -> tuple[str, str, float, float] | None:
        record = parse_record(field, value)
        if record is None:
            self._owner.rejected += 1
            logger.warning("skipped a malformed revocation record in Redis")
        return record

    def _follow(self) -> bool:
        """One blocking read of the stream; applies what arrived. Returns True when entries this process had not
        read yet were trimmed off the stream (it fell further behind than the stream keeps): resync then."""
        _, _, log = self._keys
        position = self._last_id
        answer = self._client.xread({log: position}, count=_READ, block=_BLOCK_MS)
        read = 0
        for _stream, messages in answer or ():
            for message_id, fields in messages:
                record = self._parse(fields.get("e"), fields.get("v"))
                if record is not None:
                    self._owner.apply(*record)
                self._last_id = message_id
                read += 1
        self._heard_from_redis()
        # Trimmed past us means about _STREAM_LENGTH newer entries: only a full read can be that far behind.
        if read < _READ:
            return False
        oldest = self._client.xrange(log, count=1)
        if not oldest or _stream_id(oldest[0][0]) <= _stream_id(position):
            return False
        logger.warning("revocation list: fell behind the Redis stream by more than it keeps; resynchronising")
        return True

    def _heard_from_redis(self) -> None:
        if not self.connected and self.synced_at != -math.inf:
            logger.info("revocation list: Redis is reachable again, mirror resynchronised")
        self.connected = True
        self.synced_at = self._clock()

    def _lost_contact(self, error: BaseException) -> None:
        if self.connected or self.synced_at == -math.inf:
            logger.warning(
                "revocation list: Redis is out of reach (%s); enforcing the last known list", type(error).__name__
            )
        self.connected = False

    # -- the background thread --------------------------------------------------------------------------------------
    def start(self) -> None:
        """First resync (failures are logged; the thread keeps trying), then follow the stream in a daemon thread."""
        with contextlib.suppress(RevocationUnavailableError):
            self.resync()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="cognito-guard-revocations", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        retried: tuple[type[Exception], ...] = (*_redis.failures(), RevocationUnavailableError)
        backoff = 0.0
        need_resync = not self.connected
        next_resync = self._clock() + self._resync_interval
        while not self._stop.is_set():
            try:
                if need_resync or self._clock() >= next_resync:
                    self.resync()
                    need_resync, next_resync = False, self._clock() + self._resync_interval
                need_resync = self._follow()
                backoff = 0.0
            except retried as error:
                if not isinstance(error, RevocationUnavailableError):
                    self._lost_contact(error)
                need_resync = True  # the stream may have been trimmed, or Redis restarted empty, meanwhile
                backoff = min(_MAX_BACKOFF, max(0.1, backoff * 2))
                if self._stop.wait(backoff):
                    return
                self._reconnect()
            except Exception:  # never let the thread die: a dead mirror would be stale forever
                logger.exception("revocation list: unexpected error while following Redis")
                need_resync = True
                if self._stop.wait(1.0):
                    return

    def _reconnect(self) -> None:
        # A new client may find a cluster where a plain server was assumed while Redis was out of reach.
        try:
            client = _redis.connect(self._url, encoding_errors=_ENCODING_ERRORS)
        except Exception:  # the next round tries again
            return
        old, self._client = self._client, client
        self._script = client.register_script(_redis.REVOKE_SCRIPT)
        try:
            old.close()
        except Exception:
            logger.debug("closing the old Redis client failed", exc_info=True)

    def after_fork(self) -> None:
        """In a forked child: a thread of its own. redis-py's connection pools notice the new pid and open fresh
        connections by themselves, so nothing here touches the network (a fork hook must not block)."""
        self._stop = threading.Event()
        self.connected = False
        self._thread = threading.Thread(target=self._run, name="cognito-guard-revocations", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=(_BLOCK_MS / 1000) + 5)
        self._client.close()
