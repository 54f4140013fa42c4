from __future__ import annotations

from cognito_guard.testing import LocalIssuer


def test_access_token_from_the_test_kit_verifies_offline(issuer: LocalIssuer) -> None:
    claims = issuer.verifier(token_use="access").verify_sync(issuer.access_token(username="alice"))
    assert claims.username == "alice"
