"""Shared fixtures: one set of RSA keys per test session (key generation is the slow part)."""

from __future__ import annotations

import pytest

from cognito_guard.testing import LocalIssuer, SigningKeyPair


@pytest.fixture(scope="session")
def session_keys() -> tuple[SigningKeyPair, SigningKeyPair]:
    return SigningKeyPair(kid="access-key-1"), SigningKeyPair(kid="id-key-1")


class Clock:
    """A settable clock: tests move time instead of sleeping."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def issuer(session_keys: tuple[SigningKeyPair, SigningKeyPair], clock: Clock) -> LocalIssuer:
    access_key, id_key = session_keys
    return LocalIssuer(
        user_pool_id="eu-west-1_TestPool1",
        client_id="client-a",
        clock=clock,
        access_key=access_key,
        id_key=id_key,
    )
