"""Specification of settings from the environment (issue 3, section 2).

``COGNITO_USER_POOL_ID``, ``COGNITO_CLIENT_ID`` (comma separated), ``COGNITO_TOKEN_USE`` (access | id | any),
``COGNITO_ISSUER``, ``COGNITO_JWKS_URI``, ``COGNITO_JWKS_FILE``, ``COGNITO_LEEWAY`` and the key-cache timings
``COGNITO_JWKS_TTL`` / ``COGNITO_JWKS_MAX_STALE`` (issue 10); one call builds a verifier;
a missing or invalid value raises ``ConfigurationError`` naming the variable. Keys come from a JWKS file here: no
test touches the network.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Clock

from cognito_guard import Claims, JWKSCache
from cognito_guard.config import SETTING_NAMES, Settings, verifier_from_env
from cognito_guard.errors import (
    ClientIdError,
    ConfigurationError,
    ExpiredTokenError,
    IssuerError,
    KeysUnavailableError,
    MissingScopeError,
    TokenUseError,
)
from cognito_guard.testing import LocalIssuer

POOL_ID = "eu-west-1_TestPool1"  # the pool of the ``issuer`` fixture
LOCAL_ISSUER = "http://127.0.0.1:9/local_Pool1"
REQUIRED = {"COGNITO_USER_POOL_ID": POOL_ID, "COGNITO_CLIENT_ID": "client-a"}


def settings(**values: Any) -> Settings:
    """Settings from the required values plus ``values``."""
    return Settings.from_mapping({**REQUIRED, **values})


@pytest.fixture
def jwks_file(issuer: LocalIssuer, tmp_path: Path) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(issuer.jwks), encoding="utf-8")
    return path


@pytest.fixture
def env(jwks_file: Path) -> dict[str, str]:
    """A complete offline environment for the ``issuer`` fixture's pool."""
    return {**REQUIRED, "COGNITO_JWKS_FILE": str(jwks_file)}


@pytest.fixture
def local_issuer(issuer: LocalIssuer) -> LocalIssuer:
    """A local stand-in pool with its own issuer URL, the same keys and clock as ``issuer``."""
    return LocalIssuer(
        issuer=LOCAL_ISSUER,
        user_pool_id="local_Pool1",
        client_id="client-a",
        clock=issuer.clock,
        access_key=issuer.access_key,
        id_key=issuer.id_key,
    )


def recording_transport(sent: list[httpx.Request]) -> httpx.MockTransport:
    """A transport that records every request and answers 503: a verifier given it must send nothing."""

    def refuse(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(503)

    return httpx.MockTransport(refuse)


# -- the names ------------------------------------------------------------------------------------------------------


def test_setting_names_lists_the_eleven_variables() -> None:
    assert sorted(SETTING_NAMES) == sorted(
        [
            "COGNITO_USER_POOL_ID",
            "COGNITO_CLIENT_ID",
            "COGNITO_TOKEN_USE",
            "COGNITO_ISSUER",
            "COGNITO_JWKS_URI",
            "COGNITO_JWKS_FILE",
            "COGNITO_LEEWAY",
            "COGNITO_JWKS_TTL",
            "COGNITO_JWKS_MAX_STALE",
            "COGNITO_REDIS_URL",
            "COGNITO_REVOCATION_MAX_STALENESS",
        ]
    )
    assert len(SETTING_NAMES) == 11


# -- required variables ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["COGNITO_USER_POOL_ID", "COGNITO_CLIENT_ID"])
def test_a_missing_required_variable_is_named(name: str) -> None:
    values = {key: value for key, value in REQUIRED.items() if key != name}
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env(values)


@pytest.mark.parametrize("name", ["COGNITO_USER_POOL_ID", "COGNITO_CLIENT_ID"])
@pytest.mark.parametrize("blank", ["", "   "], ids=repr)
def test_a_blank_required_variable_counts_as_missing(name: str, blank: str) -> None:
    with pytest.raises(ConfigurationError, match=f"{name} is not set"):
        Settings.from_env({**REQUIRED, name: blank})


@pytest.mark.parametrize("client_ids", [",", " , ,, "], ids=repr)
def test_a_client_id_list_of_only_commas_counts_as_missing(client_ids: str) -> None:
    with pytest.raises(ConfigurationError, match="COGNITO_CLIENT_ID"):
        Settings.from_env({**REQUIRED, "COGNITO_CLIENT_ID": client_ids})


def test_a_missing_variable_message_names_the_source() -> None:
    with pytest.raises(ConfigurationError, match=r"app\.config"):
        Settings.from_mapping({}, source="app.config")


def test_the_minimal_settings_are_the_two_required_variables() -> None:
    assert Settings.from_env(REQUIRED) == Settings(user_pool_id=POOL_ID, client_id=("client-a",))


# -- user pool id ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pool_id", ["not-a-pool", "eu-west-1", "eu-west-1_", "_TestPool1", "eu-west-1_Test Pool!"])
def test_an_invalid_user_pool_id_is_named(pool_id: str) -> None:
    with pytest.raises(ConfigurationError, match="COGNITO_USER_POOL_ID"):
        settings(COGNITO_USER_POOL_ID=pool_id)


def test_an_invalid_user_pool_id_with_an_issuer_override_is_named() -> None:
    with pytest.raises(ConfigurationError, match="COGNITO_USER_POOL_ID"):
        settings(COGNITO_USER_POOL_ID="pool/../other", COGNITO_ISSUER=LOCAL_ISSUER)


def test_the_user_pool_id_is_read_without_surrounding_whitespace() -> None:
    assert settings(COGNITO_USER_POOL_ID=f"  {POOL_ID} ").user_pool_id == POOL_ID


@pytest.mark.parametrize("name", ["COGNITO_USER_POOL_ID", "COGNITO_TOKEN_USE", "COGNITO_ISSUER", "COGNITO_JWKS_URI"])
def test_a_non_string_python_value_is_named(name: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        settings(**{name: 12345})


# -- client ids -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "client_ids"),
    [
        ("client-a", ("client-a",)),
        ("client-a,client-b", ("client-a", "client-b")),
        (" client-a , client-b ,client-c ", ("client-a", "client-b", "client-c")),
        ("client-a,,client-b,", ("client-a", "client-b")),
    ],
    ids=repr,
)
def test_client_ids_are_comma_separated_and_trimmed(value: str, client_ids: tuple[str, ...]) -> None:
    assert settings(COGNITO_CLIENT_ID=value).client_id == client_ids


@pytest.mark.parametrize(
    "value", [["client-a", "client-b"], ("client-a", "client-b"), [" client-a", "client-b "]], ids=repr
)
def test_a_python_list_of_client_ids_is_accepted(value: Any) -> None:
    assert settings(COGNITO_CLIENT_ID=value).client_id == ("client-a", "client-b")


@pytest.mark.parametrize("value", [[], ["client-a", ""], ["client-a", "  "], ["client-a", 5], 5], ids=repr)
def test_a_python_client_id_list_with_a_bad_item_is_named(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="COGNITO_CLIENT_ID"):
        settings(COGNITO_CLIENT_ID=value)


# -- token use ------------------------------------------------------------------------------------------------------


def test_token_use_defaults_to_access() -> None:
    assert settings().token_use == "access"


@pytest.mark.parametrize(
    ("value", "token_use"),
    [("access", "access"), ("ACCESS", "access"), ("id", "id"), (" Id ", "id"), ("any", None), ("Any", None)],
    ids=repr,
)
def test_token_use_is_access_id_or_any_in_any_case(value: str, token_use: str | None) -> None:
    assert settings(COGNITO_TOKEN_USE=value).token_use == token_use


@pytest.mark.parametrize("value", ["refresh", "both", "access,id", "idtoken", "none"])
def test_an_unknown_token_use_is_named(value: str) -> None:
    with pytest.raises(ConfigurationError, match="COGNITO_TOKEN_USE"):
        settings(COGNITO_TOKEN_USE=value)


# -- issuer and JWKS URI --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["COGNITO_ISSUER", "COGNITO_JWKS_URI"])
@pytest.mark.parametrize(
    "url",
    [
        "http://cognito.example.com/local_Pool1",
        "http://localhost.example.com/local_Pool1",
        "http://127.0.0.1.example.com/local_Pool1",
        "ftp://127.0.0.1/local_Pool1",
        "cognito-idp.eu-west-1.amazonaws.com/local_Pool1",
        "https:///local_Pool1",
    ],
)
def test_a_url_that_is_not_https_or_loopback_http_is_named(name: str, url: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        settings(**{name: url})


@pytest.mark.parametrize("name", ["COGNITO_ISSUER", "COGNITO_JWKS_URI"])
@pytest.mark.parametrize("url", ["http://[::1", "https://[::1/local_Pool1"])
def test_an_unparsable_url_is_named(name: str, url: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        settings(**{name: url})


@pytest.mark.parametrize("name", ["COGNITO_ISSUER", "COGNITO_JWKS_URI"])
@pytest.mark.parametrize(
    "url", ["http://localhost:9229/local_Pool1", "http://127.0.0.1:9/local_Pool1", "http://[::1]:9/local_Pool1"]
)
def test_http_to_a_loopback_host_is_accepted(name: str, url: str) -> None:
    assert getattr(settings(**{name: url}), name.removeprefix("COGNITO_").lower()) == url


def test_an_https_jwks_uri_is_kept() -> None:
    uri = "https://keys.example.com/.well-known/jwks.json"
    assert settings(COGNITO_JWKS_URI=uri).jwks_uri == uri


# -- JWKS file ------------------------------------------------------------------------------------------------------


def test_a_jwks_file_that_does_not_exist_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="COGNITO_JWKS_FILE"):
        settings(COGNITO_JWKS_FILE=str(tmp_path / "missing.json"))


def test_a_directory_as_jwks_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="COGNITO_JWKS_FILE"):
        settings(COGNITO_JWKS_FILE=str(tmp_path))


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "",
        "[]",
        '"keys"',
        "{}",
        '{"keys": {}}',
        '{"keys": []}',
        '{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "k1"}]}',
    ],
    ids=repr,
)
def test_a_jwks_file_that_is_not_a_usable_jwks_is_named(tmp_path: Path, content: str) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigurationError, match="COGNITO_JWKS_FILE"):
        settings(COGNITO_JWKS_FILE=str(path))


def test_a_jwks_file_that_is_not_utf_8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_bytes(b'{"keys": "\xff\xfe"}')
    with pytest.raises(ConfigurationError, match="COGNITO_JWKS_FILE"):
        settings(COGNITO_JWKS_FILE=str(path))


def test_a_jwks_file_and_a_jwks_uri_together_are_refused_naming_both(jwks_file: Path) -> None:
    with pytest.raises(ConfigurationError, match="COGNITO_JWKS_FILE") as caught:
        settings(COGNITO_JWKS_FILE=str(jwks_file), COGNITO_JWKS_URI="https://keys.example.com/jwks.json")
    assert "COGNITO_JWKS_URI" in caught.value.message


def test_a_pathlib_path_is_accepted_as_jwks_file(jwks_file: Path) -> None:
    assert settings(COGNITO_JWKS_FILE=jwks_file).jwks_file == str(jwks_file)


# -- leeway ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "-1",
        "-0.5",
        "abc",
        "nan",
        "NaN",
        "inf",
        "-inf",
        "86400.5",
        "86401",
        "1e6",
        "0x10",
        -1,
        86401,
        math.nan,
        math.inf,
    ],
    ids=repr,
)
def test_an_invalid_leeway_is_named(value: object) -> None:
    with pytest.raises(ConfigurationError, match="COGNITO_LEEWAY"):
        settings(COGNITO_LEEWAY=value)


@pytest.mark.parametrize("value", [True, False], ids=repr)
def test_a_bool_leeway_is_named(value: bool) -> None:
    with pytest.raises(ConfigurationError, match="COGNITO_LEEWAY"):
        settings(COGNITO_LEEWAY=value)


@pytest.mark.parametrize("value", [[5], {"seconds": 5}, object()], ids=["list", "dict", "object"])
def test_a_leeway_of_another_python_type_is_named(value: object) -> None:
    with pytest.raises(ConfigurationError, match="COGNITO_LEEWAY"):
        settings(COGNITO_LEEWAY=value)


def test_leeway_defaults_to_zero() -> None:
    assert settings().leeway == 0


def test_an_empty_leeway_is_zero() -> None:
    assert settings(COGNITO_LEEWAY="").leeway == 0


@pytest.mark.parametrize(
    ("value", "leeway"),
    [("0", 0.0), ("30", 30.0), (" 2.5 ", 2.5), ("86400", 86400.0), (5, 5.0), (2.5, 2.5), (86400, 86400.0)],
    ids=repr,
)
def test_leeway_is_a_number_of_seconds_from_text_or_python_numbers(value: object, leeway: float) -> None:
    assert settings(COGNITO_LEEWAY=value).leeway == leeway


# -- reading from several places ------------------------------------------------------------------------------------


def test_a_name_absent_from_the_mapping_is_read_from_the_fallback() -> None:
    read = Settings.from_mapping({"COGNITO_USER_POOL_ID": POOL_ID}, fallback={"COGNITO_CLIENT_ID": "client-b"})
    assert read.client_id == ("client-b",)


def test_a_name_set_to_none_in_the_mapping_is_read_from_the_fallback() -> None:
    read = Settings.from_mapping({**REQUIRED, "COGNITO_LEEWAY": None}, fallback={"COGNITO_LEEWAY": "7"})
    assert read.leeway == 7


def test_the_mapping_wins_over_the_fallback() -> None:
    read = Settings.from_mapping(REQUIRED, fallback={"COGNITO_CLIENT_ID": "client-b", "COGNITO_USER_POOL_ID": "x"})
    assert (read.user_pool_id, read.client_id) == (POOL_ID, ("client-a",))


def test_required_names_may_come_from_the_fallback_alone() -> None:
    assert Settings.from_mapping({}, fallback=REQUIRED) == Settings.from_env(REQUIRED)


def test_a_name_missing_from_both_is_still_named() -> None:
    with pytest.raises(ConfigurationError, match="COGNITO_CLIENT_ID"):
        Settings.from_mapping({"COGNITO_USER_POOL_ID": POOL_ID}, fallback={"COGNITO_LEEWAY": "1"})


def test_from_env_without_an_argument_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COGNITO_USER_POOL_ID", POOL_ID)
    monkeypatch.setenv("COGNITO_CLIENT_ID", "client-a,client-b")
    monkeypatch.setenv("COGNITO_TOKEN_USE", "id")
    assert Settings.from_env() == Settings(user_pool_id=POOL_ID, client_id=("client-a", "client-b"), token_use="id")


# -- the verifier ---------------------------------------------------------------------------------------------------


def test_verifier_from_env_accepts_a_token_offline_with_a_jwks_file(issuer: LocalIssuer, env: dict[str, str]) -> None:
    sent: list[httpx.Request] = []
    with httpx.Client(transport=recording_transport(sent)) as client:
        verifier = verifier_from_env(env, clock=issuer.clock, http_client=client)
        claims = verifier.verify_sync(issuer.access_token(username="alice"))
    assert (claims.username, sent) == ("alice", [])


async def test_verifier_from_env_accepts_a_token_offline_on_the_async_path(
    issuer: LocalIssuer, env: dict[str, str]
) -> None:
    sent: list[httpx.Request] = []
    async with httpx.AsyncClient(transport=recording_transport(sent)) as client:
        verifier = verifier_from_env(env, clock=issuer.clock, async_http_client=client)
        claims = await verifier.verify(issuer.access_token(username="alice"))
    assert (claims.username, sent) == ("alice", [])


def test_verifier_from_env_refuses_a_missing_variable_at_startup() -> None:
    with pytest.raises(ConfigurationError, match="COGNITO_CLIENT_ID"):
        verifier_from_env({"COGNITO_USER_POOL_ID": POOL_ID})


def test_settings_verifier_builds_the_same_verifier(issuer: LocalIssuer, env: dict[str, str]) -> None:
    verifier = Settings.from_env(env).verifier(clock=issuer.clock)
    assert isinstance(verifier.verify_sync(issuer.access_token()), Claims)


def test_verifier_from_env_honours_the_issuer_override(local_issuer: LocalIssuer, env: dict[str, str]) -> None:
    local_env = {**env, "COGNITO_USER_POOL_ID": "local_Pool1", "COGNITO_ISSUER": LOCAL_ISSUER}
    verifier = verifier_from_env(local_env, clock=local_issuer.clock)
    assert verifier.verify_sync(local_issuer.access_token()).issuer == LOCAL_ISSUER


def test_with_an_issuer_override_the_cognito_issuer_is_refused(issuer: LocalIssuer, env: dict[str, str]) -> None:
    local_env = {**env, "COGNITO_USER_POOL_ID": "local_Pool1", "COGNITO_ISSUER": LOCAL_ISSUER}
    with pytest.raises(IssuerError):  # same keys and client: only the token's Cognito ``iss`` differs
        verifier_from_env(local_env, clock=issuer.clock).verify_sync(issuer.access_token())


@pytest.mark.parametrize("client_id", ["client-a", "client-b"])
def test_verifier_from_env_accepts_every_listed_client(
    issuer: LocalIssuer, env: dict[str, str], client_id: str
) -> None:
    verifier = verifier_from_env({**env, "COGNITO_CLIENT_ID": "client-a, client-b"}, clock=issuer.clock)
    assert verifier.verify_sync(issuer.access_token(client_id=client_id)).client_id == client_id


def test_verifier_from_env_refuses_an_unlisted_client(issuer: LocalIssuer, env: dict[str, str]) -> None:
    verifier = verifier_from_env({**env, "COGNITO_CLIENT_ID": "client-a, client-b"}, clock=issuer.clock)
    with pytest.raises(ClientIdError):
        verifier.verify_sync(issuer.access_token(client_id="client-c"))


def test_by_default_the_verifier_refuses_id_tokens(issuer: LocalIssuer, env: dict[str, str]) -> None:
    with pytest.raises(TokenUseError):
        verifier_from_env(env, clock=issuer.clock).verify_sync(issuer.id_token())


def test_token_use_id_makes_the_verifier_refuse_access_tokens(issuer: LocalIssuer, env: dict[str, str]) -> None:
    verifier = verifier_from_env({**env, "COGNITO_TOKEN_USE": "id"}, clock=issuer.clock)
    with pytest.raises(TokenUseError):
        verifier.verify_sync(issuer.access_token())


def test_token_use_id_makes_the_verifier_accept_id_tokens(issuer: LocalIssuer, env: dict[str, str]) -> None:
    verifier = verifier_from_env({**env, "COGNITO_TOKEN_USE": "id"}, clock=issuer.clock)
    assert verifier.verify_sync(issuer.id_token()).is_id_token


def test_token_use_any_makes_the_verifier_accept_both_kinds(issuer: LocalIssuer, env: dict[str, str]) -> None:
    verifier = verifier_from_env({**env, "COGNITO_TOKEN_USE": "ANY"}, clock=issuer.clock)
    kinds = {verifier.verify_sync(token).token_use for token in (issuer.access_token(), issuer.id_token())}
    assert kinds == {"access", "id"}


def test_the_leeway_lets_a_just_expired_token_through(issuer: LocalIssuer, env: dict[str, str]) -> None:
    verifier = verifier_from_env({**env, "COGNITO_LEEWAY": "30"}, clock=issuer.clock)
    assert verifier.verify_sync(issuer.access_token(expires_in=-10)).sub


def test_without_leeway_a_just_expired_token_is_refused(issuer: LocalIssuer, env: dict[str, str]) -> None:
    with pytest.raises(ExpiredTokenError):
        verifier_from_env(env, clock=issuer.clock).verify_sync(issuer.access_token(expires_in=-10))


def test_verifier_from_env_passes_options_on(issuer: LocalIssuer, env: dict[str, str]) -> None:
    verifier = verifier_from_env(env, clock=issuer.clock, scopes="orders/read")
    with pytest.raises(MissingScopeError):
        verifier.verify_sync(issuer.access_token(scopes=["profile"]))


def test_verifier_from_env_options_win_over_the_environment(issuer: LocalIssuer, env: dict[str, str]) -> None:
    verifier = verifier_from_env({**env, "COGNITO_LEEWAY": "0"}, clock=issuer.clock, leeway=30)

    assert verifier.verify_sync(issuer.access_token(expires_in=-10)).sub


def test_a_bad_url_names_its_variable_once() -> None:
    with pytest.raises(ConfigurationError) as raised:
        settings(COGNITO_ISSUER="http://cognito.example.com/local_Pool1")

    assert raised.value.message.count("COGNITO_ISSUER") == 1


def test_a_pathlib_jwks_file_builds_a_working_verifier(issuer: LocalIssuer, jwks_file: Path) -> None:
    verifier = Settings.from_mapping({**REQUIRED, "COGNITO_JWKS_FILE": jwks_file}).verifier(clock=issuer.clock)
    assert verifier.verify_sync(issuer.access_token(username="bob")).username == "bob"


# -- key-cache timings: COGNITO_JWKS_TTL and COGNITO_JWKS_MAX_STALE ---------------------------------------------------


def online_env(issuer: LocalIssuer, **values: str) -> dict[str, str]:
    """The ``issuer`` fixture's pool, keys fetched from its JWKS URI (answered by respx)."""
    return {**REQUIRED, "COGNITO_JWKS_URI": issuer.jwks_uri, **values}


def test_jwks_timings_are_unset_by_default() -> None:
    read = settings()
    assert (read.jwks_ttl, read.jwks_max_stale) == (None, None)


def test_jwks_timings_are_read_as_seconds() -> None:
    read = settings(COGNITO_JWKS_TTL="30", COGNITO_JWKS_MAX_STALE="3600.5")
    assert (read.jwks_ttl, read.jwks_max_stale) == (30.0, 3600.5)


@pytest.mark.parametrize("value", ["0", "-1", "abc", "nan", "inf", "86401", True, [30]], ids=repr)
def test_an_invalid_jwks_ttl_is_named(value: object) -> None:
    with pytest.raises(ConfigurationError, match="COGNITO_JWKS_TTL"):
        settings(COGNITO_JWKS_TTL=value)


@pytest.mark.parametrize("value", ["-1", "abc", "nan", "inf", "604801", False], ids=repr)
def test_an_invalid_jwks_max_stale_is_named(value: object) -> None:
    with pytest.raises(ConfigurationError, match="COGNITO_JWKS_MAX_STALE"):
        settings(COGNITO_JWKS_MAX_STALE=value)


def test_a_max_stale_of_zero_is_allowed() -> None:
    assert settings(COGNITO_JWKS_MAX_STALE="0").jwks_max_stale == 0


def test_a_short_jwks_ttl_refetches_the_keys_once_it_has_passed(
    respx_mock: Any, issuer: LocalIssuer, clock: Clock
) -> None:
    route = respx_mock.get(issuer.jwks_uri).respond(json=issuer.jwks)
    verifier = verifier_from_env(online_env(issuer, COGNITO_JWKS_TTL="5"), clock=clock)
    verifier.verify_sync(issuer.access_token())

    clock.advance(6)
    verifier.verify_sync(issuer.access_token(username="bob"))
    verifier.close()

    assert route.call_count == 2


def test_by_default_keys_are_not_refetched_within_five_minutes(
    respx_mock: Any, issuer: LocalIssuer, clock: Clock
) -> None:
    route = respx_mock.get(issuer.jwks_uri).respond(json=issuer.jwks)
    verifier = verifier_from_env(online_env(issuer), clock=clock)
    verifier.verify_sync(issuer.access_token())

    clock.advance(299)
    verifier.verify_sync(issuer.access_token(username="bob"))
    verifier.close()

    assert route.call_count == 1


def test_a_max_stale_of_zero_stops_serving_old_keys_when_the_refresh_fails(
    respx_mock: Any, issuer: LocalIssuer, clock: Clock
) -> None:
    route = respx_mock.get(issuer.jwks_uri)
    route.respond(json=issuer.jwks)
    env = online_env(issuer, COGNITO_JWKS_TTL="5", COGNITO_JWKS_MAX_STALE="0")
    verifier = verifier_from_env(env, clock=clock)
    verifier.verify_sync(issuer.access_token())
    route.mock(side_effect=httpx.ConnectError("down"))

    clock.advance(6)
    with pytest.raises(KeysUnavailableError):
        verifier.verify_sync(issuer.access_token(username="bob"))
    verifier.close()


def test_a_jwks_cache_given_in_code_replaces_the_environments_timings(issuer: LocalIssuer, clock: Clock) -> None:
    cache = JWKSCache(clock=clock)
    verifier = verifier_from_env(online_env(issuer, COGNITO_JWKS_TTL="5"), clock=clock, jwks_cache=cache)
    assert verifier.issuers


def test_jwks_timings_next_to_a_jwks_cache_are_a_configuration_error(issuer: LocalIssuer) -> None:
    with pytest.raises(ConfigurationError, match="jwks_ttl"):
        issuer.verifier(jwks_cache=JWKSCache(), jwks_ttl=5)


# -- the revocation list: COGNITO_REDIS_URL and COGNITO_REVOCATION_MAX_STALENESS (issue 11) --------------------------


def test_without_a_redis_url_the_verifier_has_no_revocation_list(env: dict[str, str]) -> None:
    assert verifier_from_env(env).revocations is None


@pytest.mark.parametrize("url", ["http://cache.internal:6379", "cache.internal:6379", "postgres://x"])
def test_a_redis_url_of_another_scheme_is_named_and_not_echoed(url: str) -> None:
    with pytest.raises(ConfigurationError, match="COGNITO_REDIS_URL") as raised:
        settings(COGNITO_REDIS_URL=url)
    assert url not in raised.value.message


def test_the_redis_url_is_kept_out_of_the_settings_repr() -> None:
    read = settings(COGNITO_REDIS_URL="redis://:hunter2@cache.internal:6379/0")
    assert "hunter2" not in repr(read)


@pytest.mark.parametrize("value", ["0", "-1", "abc", "inf", "86401"], ids=repr)
def test_an_invalid_revocation_max_staleness_is_named(value: str) -> None:
    with pytest.raises(ConfigurationError, match="COGNITO_REVOCATION_MAX_STALENESS"):
        settings(COGNITO_REVOCATION_MAX_STALENESS=value)


def test_with_a_redis_url_the_verifier_consults_the_shared_list(
    env: dict[str, str], redis_url: str, issuer: LocalIssuer
) -> None:
    from cognito_guard import RevocationList, TokenRevokedError

    verifier = verifier_from_env({**env, "COGNITO_REDIS_URL": redis_url}, clock=issuer.clock)
    revocations = verifier.revocations
    assert revocations is not None
    try:
        with RevocationList(redis_url=redis_url) as elsewhere:
            elsewhere.revoke_family("family-1")
        revocations.sync_now()
        assert revocations.status().backend == "redis"
        with pytest.raises(TokenRevokedError):
            verifier.verify_sync(issuer.access_token(claims={"origin_jti": "family-1"}))
    finally:
        revocations.close()


def test_a_revocations_option_wins_over_the_redis_url(env: dict[str, str]) -> None:
    from cognito_guard import RevocationList

    own = RevocationList()
    unreachable = "redis://127.0.0.1:1/0"  # would be slow to reach, and must not be used at all
    verifier = verifier_from_env({**env, "COGNITO_REDIS_URL": unreachable}, revocations=own)
    assert verifier.revocations is own
