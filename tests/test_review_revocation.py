"""Review findings on the revocation list, the online check and their hooks (issue 11): each test failed before its
fix."""

from __future__ import annotations

import pytest

from cognito_guard.cli import main
from cognito_guard.errors import ConfigurationError
from cognito_guard.revocation import RevocationList

MALFORMED_URLS = [
    "redis://localhost:notaport/0",
    "redis://:s3cret@localhost:6379/0?socket_timeout=soon",
    "redis://[::1/0",
]


@pytest.mark.parametrize("url", MALFORMED_URLS)
def test_a_malformed_redis_url_is_a_configuration_error_that_does_not_repeat_it(url: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        RevocationList(redis_url=url)
    assert "s3cret" not in str(raised.value)


@pytest.mark.parametrize("url", MALFORMED_URLS)
def test_revoke_with_a_malformed_redis_url_exits_1_with_configuration_error(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["revoke", "--redis-url", url, "--jti", "token-1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("configuration_error: ")
    assert "s3cret" not in err
