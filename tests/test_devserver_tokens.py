"""Tokens shaped like Cognito's: roles by group precedence, custom attributes, client binding, persisted keys,
and the ``cognito_dev_server`` pytest fixture."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Clock
from devserver_support import CALLBACK, PASSWORD, code_for, exchange, running, signed_in_tokens

from cognito_guard import Claims, CognitoVerifier
from cognito_guard.errors import ConfigurationError
from cognito_guard.testing import SigningKeyPair
from cognito_guard.testing.devserver import (
    AppClient,
    Group,
    LocalUserPool,
    PoolConfig,
    PoolKeys,
    User,
    parse_config,
)
from cognito_guard.testing.devserver.serve import DevServer
from cognito_guard.testing.devserver.tokens import roles_by_precedence

BASE_URL = "http://127.0.0.1:9229"
ADMIN = "arn:aws:iam::1:role/Admin"
USER = "arn:aws:iam::1:role/User"


def test_preferred_role_is_the_role_of_the_lowest_precedence_value() -> None:
    roles, preferred = roles_by_precedence([Group("users", USER, 10), Group("admin", ADMIN, 1)])

    assert preferred == ADMIN
    assert roles == [ADMIN, USER]


def test_tie_at_the_lowest_precedence_with_different_roles_gives_no_preferred_role() -> None:
    _, preferred = roles_by_precedence([Group("a", ADMIN, 1), Group("b", USER, 1), Group("c", "arn:x", 5)])

    assert preferred is None


def test_tie_at_the_lowest_precedence_with_the_same_role_keeps_it() -> None:
    _, preferred = roles_by_precedence([Group("a", ADMIN, 1), Group("b", ADMIN, 1)])

    assert preferred == ADMIN


def test_tie_below_the_lowest_precedence_does_not_matter() -> None:
    _, preferred = roles_by_precedence([Group("a", ADMIN, 0), Group("b", USER, 3), Group("c", "arn:x", 3)])

    assert preferred == ADMIN


def test_group_without_precedence_ranks_below_numbered_groups() -> None:
    _, preferred = roles_by_precedence([Group("a", ADMIN, None), Group("b", USER, 99)])

    assert preferred == USER


def test_groups_without_roles_give_no_roles() -> None:
    assert roles_by_precedence([Group("a", None, 0)]) == ([], None)


TIED = {
    "clients": [
        {"client_id": "web", "callback_urls": [CALLBACK], "allowed_scopes": ["openid", "email"]},
        {"client_id": "other", "callback_urls": [CALLBACK], "allowed_scopes": ["openid"]},
    ],
    "groups": [{"name": "a", "role_arn": ADMIN, "precedence": 2}, {"name": "b", "role_arn": USER, "precedence": 2}],
    "users": [
        {
            "username": "alice",
            "password": PASSWORD,
            "attributes": {"email": "a@x.io", "custom:tenant": 7},
            "groups": ["a", "b"],
        }
    ],
}


def test_tied_groups_give_an_id_token_with_roles_but_no_preferred_role(
    clock: Clock, session_keys: tuple[SigningKeyPair, SigningKeyPair]
) -> None:
    with running(clock, session_keys, parse_config(TIED)) as dev:
        claims = dev.verify(
            signed_in_tokens(dev, client_id="web", scope="openid")["id_token"], token_use="id", client_id="web"
        )

    assert set(claims.roles) == {ADMIN, USER}
    assert claims.preferred_role is None


def test_custom_attributes_are_strings_in_the_id_token(
    clock: Clock, session_keys: tuple[SigningKeyPair, SigningKeyPair]
) -> None:
    with running(clock, session_keys, parse_config(TIED)) as dev:
        claims = dev.verify(
            signed_in_tokens(dev, client_id="web", scope="openid")["id_token"], token_use="id", client_id="web"
        )

    assert claims["custom:tenant"] == "7"
    assert claims.custom == {"tenant": "7"}


def test_code_of_one_client_is_invalid_grant_for_another(
    clock: Clock, session_keys: tuple[SigningKeyPair, SigningKeyPair]
) -> None:
    with running(clock, session_keys, parse_config(TIED)) as dev:
        code = code_for(dev, client_id="web", scope="openid")
        response = exchange(dev, code, client_id="other")

    assert response.json() == {"error": "invalid_grant"}


def pool_with_attributes(
    clock: Clock, keys: tuple[SigningKeyPair, SigningKeyPair], attributes: dict[str, str | bool]
) -> LocalUserPool:
    """A pool whose user carol has ``attributes`` as given, built without parse_config (which refuses odd names)."""
    client = AppClient("web", callback_urls=(CALLBACK,), allowed_scopes=("openid",))
    carol = User("carol", PASSWORD, sub="carol-sub", attributes=attributes, groups=("admin",))
    config = PoolConfig(clients={"web": client}, groups={"admin": Group("admin")}, users={"carol": carol})
    return LocalUserPool(config, keys=PoolKeys(*keys), clock=clock)


def id_claims(pool: LocalUserPool) -> Claims:
    id_token = pool.sign_in("carol", base_url=BASE_URL, client_id="web").id_token
    assert id_token is not None
    verifier = CognitoVerifier(
        user_pool_id=pool.config.user_pool_id,
        client_id="web",
        token_use="id",
        issuer=pool.issuer(BASE_URL),
        jwks=pool.keys.jwks,
        clock=pool.clock,
    )
    return verifier.verify_sync(id_token)


def test_attributes_named_like_fixed_claims_never_replace_them_in_the_id_token(
    clock: Clock, session_keys: tuple[SigningKeyPair, SigningKeyPair]
) -> None:
    attributes: dict[str, str | bool] = {"sub": "mallory", "exp": "9", "cognito:groups": "root", "iss": "x"}

    claims = id_claims(pool_with_attributes(clock, session_keys, attributes))

    assert (claims.sub, claims.groups, claims["iss"]) == ("carol-sub", ("admin",), f"{BASE_URL}/us-east-1_LocalDev")
    assert claims["exp"] == int(clock()) + 3600


def test_attributes_cognito_does_not_know_stay_out_of_the_id_token(
    clock: Clock, session_keys: tuple[SigningKeyPair, SigningKeyPair]
) -> None:
    claims = id_claims(pool_with_attributes(clock, session_keys, {"tenant": "acme", "custom:tenant": "acme"}))

    assert "tenant" not in claims
    assert claims["custom:tenant"] == "acme"


def test_userinfo_sub_and_username_are_never_replaced_by_attributes(
    clock: Clock, session_keys: tuple[SigningKeyPair, SigningKeyPair]
) -> None:
    pool = pool_with_attributes(clock, session_keys, {"sub": "mallory", "username": "mallory"})
    access = pool.sign_in("carol", base_url=BASE_URL, client_id="web").access_token

    info = pool.userinfo(f"Bearer {access}", BASE_URL)

    assert (info["sub"], info["username"]) == ("carol-sub", "carol")


@pytest.mark.parametrize("scopes", [("email",), ("profile", "orders/read")])
def test_sign_in_shortcut_refuses_email_or_profile_without_openid(
    clock: Clock, session_keys: tuple[SigningKeyPair, SigningKeyPair], scopes: tuple[str, ...]
) -> None:
    pool = LocalUserPool(keys=PoolKeys(*session_keys), clock=clock)

    with pytest.raises(ConfigurationError, match="only together with openid"):
        pool.sign_in("alice", base_url=BASE_URL, scopes=scopes)


def test_keys_saved_to_a_directory_are_loaded_again(tmp_path: Path) -> None:
    saved = PoolKeys.load_or_create(tmp_path / "keys")

    loaded = PoolKeys.load_or_create(tmp_path / "keys")

    assert loaded.jwks == saved.jwks


def test_saved_private_keys_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    PoolKeys.load_or_create(tmp_path / "keys")

    assert (tmp_path / "keys" / "access.pem").stat().st_mode & 0o077 == 0


def test_load_reads_the_keys_save_wrote(tmp_path: Path) -> None:
    saved = PoolKeys.load_or_create(tmp_path / "keys")

    assert PoolKeys.load(tmp_path / "keys").jwks == saved.jwks


def test_load_from_an_empty_directory_names_the_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"missing access\.pem, id\.pem, kids\.json"):
        PoolKeys.load(tmp_path)


def test_token_minted_before_a_restart_verifies_after_it(clock: Clock, tmp_path: Path) -> None:
    keys = PoolKeys.load_or_create(tmp_path / "keys")
    with running(clock, (keys.access, keys.id)) as before:
        token = signed_in_tokens(before)["access_token"]
    port = int(before.base_url.rsplit(":", 1)[1])  # same URL again: the issuer names host and port

    reloaded = PoolKeys.load_or_create(tmp_path / "keys")
    with running(clock, (reloaded.access, reloaded.id), port=port) as after:
        assert after.verify(token, token_use="access").username == "alice"


def test_fixture_token_for_verifies_against_the_servers_jwks(cognito_dev_server: DevServer) -> None:
    verifier = cognito_dev_server.verifier(client_id="local-client", token_use="access")

    claims = verifier.verify_sync(cognito_dev_server.token_for("alice"))

    assert claims.username == "alice"
    assert claims.groups == ("admin", "users")


def test_fixture_id_token_for_verifies_as_an_id_token(cognito_dev_server: DevServer) -> None:
    verifier = cognito_dev_server.verifier(client_id="local-client", token_use="id")

    assert verifier.verify_sync(cognito_dev_server.id_token_for("bob"))["email"] == "bob@example.com"


def test_fixture_client_credentials_verifies_for_the_m2m_client(cognito_dev_server: DevServer) -> None:
    verifier = cognito_dev_server.verifier(client_id="local-m2m", token_use="access")

    assert verifier.verify_sync(cognito_dev_server.client_credentials("local-m2m")).sub == "local-m2m"


def test_fixture_names_the_pool_and_its_issuer(cognito_dev_server: DevServer) -> None:
    assert cognito_dev_server.user_pool_id == "us-east-1_LocalDev"
    assert cognito_dev_server.issuer == f"{cognito_dev_server.base_url}/us-east-1_LocalDev"
    assert cognito_dev_server.base_url.startswith("http://127.0.0.1:")
