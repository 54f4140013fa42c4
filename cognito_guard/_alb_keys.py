"""ALB keys: which key server an ALB ARN uses, offline PEM keys, and the key server itself (one PEM public key per
``kid``, fetched with the JWKS cache's policy, see _remote_keys).

Keys behind a ``kid`` never change, so there is no TTL and no stale-if-error: what changes is only which
kids exist. Unknown ones are fetched on demand, one fetch per ``kid`` however many callers wait for it.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Union

from ._keys import JWKSError, SigningKey, StaticKeySet, check_key_url, parse_pem_key
from ._remote_keys import FetchError, JWKSCache, SharedFetches, backoff_delay, failure_reason, fetch_async, fetch_sync
from .errors import ConfigurationError, KeyNotFoundError, KeysUnavailableError

__all__ = ["UUID", "KeySource", "PemKeyServer", "alb_key_url", "load_keys", "parse_alb_arn"]

logger = logging.getLogger("cognito_guard.alb")

KeySource = Union[Mapping[str, str | bytes], str, "os.PathLike[str]"]
_MAX_UNKNOWN = 10_000  # kids the key server said it lacks, remembered for the cooldown
_REGION = r"[a-z]{2,4}(?:-[a-z]+)+-\d+"
# Only Application Load Balancers authenticate users: "loadbalancer/app/NAME/ID", in a 12-digit account.
_ALB_ARN = re.compile(rf"arn:(aws(?:-[a-z]+)*):elasticloadbalancing:({_REGION}):\d{{12}}:loadbalancer/app/[\w-]+/\w+")
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# The documented key servers by partition; GovCloud's live on S3.
_KEY_URLS = {
    "aws": "https://public-keys.auth.elb.{region}.amazonaws.com/{kid}",
    "aws-us-gov": "https://s3-{region}.amazonaws.com/aws-elb-public-keys-prod-{region}/{kid}",
}


def parse_alb_arn(arn: object) -> tuple[str, str]:
    """``(partition, region)`` of an Application Load Balancer ARN; raises :class:`ConfigurationError` otherwise."""
    match = _ALB_ARN.fullmatch(arn) if isinstance(arn, str) else None
    if match is None:
        raise ConfigurationError(
            f"alb_arn {arn!r} is not an Application Load Balancer ARN such as "
            "'arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/my-alb/50dc6c495c0c9188'"
        )
    return match.group(1), match.group(2)


def alb_key_url(partition: str, region: str) -> str:
    """The URL template (with ``{kid}``) of the ALB key server of ``region``.

    Raises :class:`ConfigurationError` for a partition without a documented key server (pass ``key_url=``).
    """
    template = _KEY_URLS.get(partition)
    if template is None:
        raise ConfigurationError(f"no known ALB key server for partition {partition!r}: pass key_url=")
    return template.replace("{region}", region)


def load_keys(source: KeySource) -> StaticKeySet:
    """Offline keys: a mapping kid -> PEM, or a directory of files named by their kid."""
    if isinstance(source, Mapping):
        pems: dict[str, str | bytes] = dict(source)
        where = "keys"
    else:
        directory = Path(source)
        where = f"key directory {os.fspath(source)!r}"
        try:
            pems = {path.name: path.read_bytes() for path in directory.iterdir() if UUID.fullmatch(path.name)}
        except OSError as error:
            raise ConfigurationError(f"cannot read {where}: {error}") from None
    if not pems:
        raise ConfigurationError(f"{where} holds no key (files must be named by their kid, a UUID)")
    keys: dict[str, SigningKey] = {}
    for kid, pem in pems.items():
        if not isinstance(kid, str) or not UUID.fullmatch(kid):
            raise ConfigurationError(f"{where}: kid {kid!r} is not a UUID")
        try:
            keys[kid] = parse_pem_key(kid, pem.encode() if isinstance(pem, str) else pem)
        except (JWKSError, AttributeError) as error:
            raise ConfigurationError(f"{where}: key {kid} is unusable: {error}") from None
    return StaticKeySet.of(keys)


class PemKeyServer:
    """Keys published one PEM public key per ``kid`` at ``url_template`` (``...{kid}``), as the ALB key server does.

    Fetched through ``cache`` (its HTTP clients, timeout, size cap, cooldown and backoff); the policy is the JWKS
    one, per ``kid``:

    - A key, once fetched, is cached (the text behind a ``kid`` never changes, so there is no TTL); the cache holds
      at most ``max_keys`` keys, the oldest leaving first.
    - An unknown ``kid`` is fetched once, however many callers want it at the same time (one task per event loop,
      one lock for threads).
    - The server answering that it has no such key (404, or 403 as S3 says it) refuses that token with
      :class:`KeyNotFoundError`, and that ``kid`` for ``cooldown`` seconds without a fetch (someone may be sending
      it again and again). Only that ``kid``: a made-up one must not keep a newly published key refused, as keys are
      fetched one ``kid`` at a time (at most 10 000 such kids are remembered, the oldest leaving first).
    - After a failed fetch (network, 5xx, garbage, too large, too slow) no unknown ``kid`` is fetched before an
      exponential backoff (``backoff`` doubling up to ``max_backoff``); meanwhile they get
      :class:`KeysUnavailableError` (503). Known keys keep verifying through any outage.
    """

    def __init__(self, url_template: str, *, cache: JWKSCache, max_keys: int, clock: Callable[[], float]) -> None:
        if not isinstance(url_template, str) or url_template.count("{kid}") != 1:
            raise ConfigurationError("key_url must hold '{kid}' exactly once")
        check_key_url(url_template.replace("{kid}", "kid"), "key_url")
        if max_keys < 1:
            raise ConfigurationError("max_keys must be at least 1")
        self.url_template = url_template
        self._cache = cache
        options = cache.fetch_options
        self._cooldown = options.cooldown
        self._backoff = options.backoff
        self._max_backoff = options.max_backoff
        self._max_keys = max_keys
        self._clock = clock
        self._keys: dict[str, SigningKey] = {}
        self._unknown: OrderedDict[str, float] = OrderedDict()  # kid the server said it lacks -> refused until
        self._next_attempt = -math.inf  # after a failed fetch: no fetch before then
        self._failures = 0
        self._attempts = 0
        self._thread_lock = threading.Lock()
        self._fetches = SharedFetches()

    def url(self, kid: str) -> str:
        """Where the key ``kid`` is published (``kid`` must already be checked to be URL-safe)."""
        return self.url_template.replace("{kid}", kid)

    @property
    def fetch_count(self) -> int:
        """How many fetches were attempted (for tests and metrics)."""
        return self._attempts

    # -- hot path ---------------------------------------------------------------------------------------------------
    def lookup(self, kid: str, now: float) -> SigningKey | None:
        return self._keys.get(kid)

    # -- slow path --------------------------------------------------------------------------------------------------
    def _needs_fetch(self, kid: str, now: float) -> SigningKey | None:
        """The key when it is cached; None when it should be fetched; raises when no fetch may be made now."""
        key = self._keys.get(kid)
        if key is not None:
            return key
        if now < self._next_attempt:
            retry_after = max(1.0, self._next_attempt - now)
            raise KeysUnavailableError("signing keys are unavailable, try again later", retry_after=retry_after)
        refused_until = self._unknown.get(kid)
        if refused_until is not None and now < refused_until:
            raise KeyNotFoundError("token was signed by a key that the key server does not publish")
        return None

    def _settle(self, kid: str) -> SigningKey:
        """Answer after a fetch: the key, or why there is none."""
        key = self._keys.get(kid)
        if key is not None:
            return key
        if self._failures:
            retry_after = max(1.0, self._next_attempt - self._clock())
            raise KeysUnavailableError("signing keys are unavailable, try again later", retry_after=retry_after)
        raise KeyNotFoundError("token was signed by a key that the key server does not publish")

    def get_key_sync(self, kid: str) -> SigningKey:
        key = self._needs_fetch(kid, self._clock())
        if key is not None:
            return key
        with self._thread_lock:
            # Decide again: a thread that held the lock may have fetched (or failed) meanwhile.
            key = self._needs_fetch(kid, self._clock())
            if key is not None:
                return key
            self._fetch_sync(kid)
        return self._settle(kid)

    async def get_key(self, kid: str) -> SigningKey:
        key = self._needs_fetch(kid, self._clock())
        if key is not None:
            return key
        await self._fetches.run(kid, functools.partial(self._fetch_async, kid))
        return self._settle(kid)

    def _parser(self, kid: str) -> Callable[[bytes], SigningKey]:
        def parse(body: bytes) -> SigningKey:
            try:
                return parse_pem_key(kid, body)
            except JWKSError as error:
                raise FetchError(str(error)) from None

        return parse

    def _fetch_sync(self, kid: str) -> None:
        url = self.url(kid)
        self._attempts += 1
        try:
            key = fetch_sync(self._cache.sync_client(), url, self._cache.fetch_options, self._parser(kid))
        except Exception as error:  # whatever went wrong, it is a failed fetch: see failure_reason
            self._record_failure(kid, url, error)
        else:
            self._record_key(key)

    async def _fetch_async(self, kid: str) -> None:
        url = self.url(kid)
        self._attempts += 1
        try:
            key = await fetch_async(self._cache.async_client(), url, self._cache.fetch_options, self._parser(kid))
        except Exception as error:  # whatever went wrong, it is a failed fetch: see failure_reason
            self._record_failure(kid, url, error)
        else:
            self._record_key(key)

    def _record_key(self, key: SigningKey) -> None:
        keys = self._keys
        if key.kid not in keys and len(keys) >= self._max_keys:
            del keys[next(iter(keys))]  # dicts keep insertion order: the oldest key leaves
        keys[key.kid] = key
        self._failures = 0
        self._next_attempt = -math.inf

    def _record_failure(self, kid: str, url: str, error: Exception) -> None:
        now = self._clock()
        if isinstance(error, FetchError) and error.status in (403, 404):
            # The server is up and says there is no such key (S3, which serves GovCloud's keys, answers 403).
            self._failures = 0
            self._next_attempt = -math.inf
            self._unknown.pop(kid, None)
            self._unknown[kid] = now + self._cooldown
            while len(self._unknown) > _MAX_UNKNOWN:
                self._unknown.popitem(last=False)
            logger.info("key server has no key at %s; that kid is refused for %.1f s", url, self._cooldown)
            return
        if not isinstance(error, FetchError):  # not the network's doing: keep the traceback for whoever debugs
            logger.error("unexpected error fetching a key from %s", url, exc_info=error)
        self._failures += 1
        delay = backoff_delay(self._backoff, self._max_backoff, self._failures)
        self._next_attempt = now + delay
        logger.warning(
            "fetching a key from %s failed (%s); failure %d, next try in %.1f s",
            url,
            failure_reason(error),
            self._failures,
            delay,
        )

    async def warm_up(self) -> None:
        """Nothing to load ahead: keys are fetched by ``kid``, as tokens name them."""

    def warm_up_sync(self) -> None:
        """Nothing to load ahead: keys are fetched by ``kid``, as tokens name them."""
