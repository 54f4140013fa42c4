"""The stand-in's configuration: the built-in pool, TOML/JSON files, and the errors a bad file gives."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from cognito_guard.errors import ConfigurationError
from cognito_guard.testing.devserver import builtin_pool_data, default_config, load_config, parse_config

MINIMAL_TOML = """
user_pool_id = "eu-west-1_Mine"

[[resource_servers]]
identifier = "https://api.example.com"
scopes = ["read"]

[[clients]]
client_id = "web"
callback_urls = ["https://app.example.com/cb"]
allowed_scopes = ["openid", "https://api.example.com/read"]
access_token_validity = 900

[[groups]]
name = "staff"
precedence = 0

[[users]]
username = "carol"
password = "pw"
groups = ["staff"]
[users.attributes]
email = "carol@example.com"
"custom:tenant_id" = 42
"""


ROTATING = {"client_id": "web", "callback_urls": ["https://a.io/cb"], "refresh_token_rotation": True}

needs_tomllib = pytest.mark.skipif(sys.version_info < (3, 11), reason="TOML configs need tomllib (Python 3.11+)")


def test_default_config_is_the_documented_pool() -> None:
    config = default_config()

    assert config.user_pool_id == "us-east-1_LocalDev"
    assert set(config.clients) == {"local-client", "local-m2m"}
    assert set(config.users) == {"alice", "bob"}
    assert config.custom_scopes == {"orders/read", "orders/write"}


def test_default_public_client_has_the_documented_urls_and_scopes() -> None:
    client = default_config().clients["local-client"]

    assert client.client_secret is None
    assert client.callback_urls == ("http://localhost:8000/auth/callback", "http://127.0.0.1:8000/auth/callback")
    assert client.logout_urls == ("http://localhost:8000/", "http://127.0.0.1:8000/")
    assert client.allowed_flows == ("code",)
    admin = "aws.cognito.signin.user.admin"  # for GetUser and GlobalSignOut
    assert client.allowed_scopes == ("openid", "email", "profile", admin, "orders/read", "orders/write")


def test_default_public_client_takes_sign_ins_for_the_app_urls_given() -> None:
    client = default_config(["http://localhost:5000/", "https://app.example.test"]).clients["local-client"]

    assert client.callback_urls == ("http://localhost:5000/auth/callback", "https://app.example.test/auth/callback")
    assert client.logout_urls == ("http://localhost:5000/", "https://app.example.test/")


@pytest.mark.parametrize(
    "app_urls",
    [
        [],
        "http://localhost:5000",
        ["ftp://localhost:5000"],
        ["localhost:5000"],
        ["http://localhost:5000/app"],
        ["http://localhost:5000?x=1"],
        ["http://localhost:5000#top"],
        ["http://user@localhost:5000"],
        ["http://localhost:0"],
        ["http://localhost:99999"],
        ["http://app.example.test:5000"],
        ["http://localhost:5000?"],
        ["http://localhost:5000#"],
        ["http://localhost:5000\t"],
        [" http://localhost:5000"],
    ],
)
def test_unusable_app_urls_raise_configuration_error(app_urls: Any) -> None:
    with pytest.raises(ConfigurationError):
        default_config(app_urls)


def test_app_url_scheme_and_host_are_written_in_lower_case() -> None:
    client = default_config(["HTTP://LOCALHOST:5000", "http://[::1]:5000"]).clients["local-client"]

    assert client.callback_urls == ("http://localhost:5000/auth/callback", "http://[::1]:5000/auth/callback")


def test_default_m2m_client_is_confidential_with_client_credentials() -> None:
    client = default_config().clients["local-m2m"]

    assert client.client_secret == "local-m2m-secret"
    assert client.allowed_flows == ("client_credentials",)
    assert client.allowed_scopes == ("orders/read", "orders/write")


def test_default_groups_and_users() -> None:
    config = default_config()

    assert (config.groups["admin"].precedence, config.groups["users"].precedence) == (1, 10)
    assert config.groups["admin"].role_arn == "arn:aws:iam::123456789012:role/Admin"
    assert config.users["alice"].groups == ("admin", "users")
    assert config.users["bob"].groups == ("users",)
    assert config.users["bob"].password == "Passw0rd!"
    assert config.users["bob"].attributes["email"] == "bob@example.com"


def test_describe_lists_clients_and_users_with_passwords() -> None:
    text = default_config().describe()

    assert "local-m2m-secret" in text
    assert "alice / Passw0rd!" in text


@needs_tomllib
def test_toml_file_is_loaded(tmp_path: Path) -> None:
    path = tmp_path / "pool.toml"
    path.write_text(MINIMAL_TOML)

    config = load_config(path)

    assert config.user_pool_id == "eu-west-1_Mine"
    assert config.clients["web"].access_token_validity == 900
    assert config.users["carol"].groups == ("staff",)


def test_custom_attributes_become_strings() -> None:
    config = parse_config({"users": [{"username": "u", "password": "p", "attributes": {"custom:n": 7}}]})

    assert config.users["u"].attributes["custom:n"] == "7"


def user_with(attributes: dict[str, Any]) -> dict[str, Any]:
    return {"users": [{"username": "carol", "password": "p", "attributes": attributes}]}


@pytest.mark.parametrize("name", ["tenant", "exp", "iss", "cognito:groups", "custom:"])
def test_attribute_that_is_neither_standard_nor_custom_is_refused_by_name(name: str) -> None:
    with pytest.raises(ConfigurationError, match=f"user carol: attribute '{name}' is not a Cognito attribute"):
        parse_config(user_with({name: "x"}))


def test_sub_as_an_attribute_is_refused_with_a_pointer_to_the_users_sub_setting() -> None:
    with pytest.raises(ConfigurationError, match="sub is not an attribute here: use the user's own sub setting"):
        parse_config(user_with({"sub": "11111111-1111-1111-1111-111111111111"}))


def test_standard_attributes_are_accepted() -> None:
    attributes = {"given_name": "Carol", "phone_number": "+15555550100", "phone_number_verified": False}

    assert parse_config(user_with(attributes)).users["carol"].attributes == attributes


@needs_tomllib
def test_the_pool_file_in_the_docs_loads(tmp_path: Path) -> None:
    text = (Path(__file__).parent.parent / "docs" / "devserver.md").read_text(encoding="utf-8")
    [example] = re.findall(r"```toml\n(.*?)```", text, re.DOTALL)
    (tmp_path / "pool.toml").write_text(example, encoding="utf-8")

    config = load_config(tmp_path / "pool.toml")

    assert config.users["carol"].attributes["custom:tenant_id"] == "acme"


def test_email_is_verified_unless_said_otherwise() -> None:
    config = parse_config({"users": [{"username": "u", "password": "p", "attributes": {"email": "u@x.io"}}]})

    assert config.users["u"].attributes["email_verified"] is True


def test_json_file_is_loaded(tmp_path: Path) -> None:
    path = tmp_path / "pool.json"
    path.write_text(json.dumps({"user_pool_id": "us-west-2_Json", "users": [{"username": "u", "password": "p"}]}))

    assert load_config(path).user_pool_id == "us-west-2_Json"


def test_sub_is_stable_for_the_same_pool_and_username() -> None:
    assert default_config().users["alice"].sub == default_config().users["alice"].sub
    assert default_config().users["alice"].sub != default_config().users["bob"].sub


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"user_pool_id": "LocalDev"}, "user_pool_id"),
        ({"colour": "blue"}, "unknown setting"),
        ({"clients": [{"client_id": "c", "allowed_flows": ["implicit"]}]}, "allowed_flows"),
        ({"clients": [{"client_id": "c", "callback_urls": ["http://app.example.com/cb"]}]}, "https"),
        ({"clients": [{"client_id": "c"}]}, "callback_urls"),
        ({"clients": [{"client_id": "c", "callback_urls": ["https://a.io"], "allowed_scopes": ["x/y"]}]}, "scopes"),
        ({"clients": [{"client_id": "c", "allowed_flows": ["client_credentials"]}]}, "client_secret"),
        ({"clients": [{"client_id": "c", "callback_urls": ["https://a.io"], "access_token_validity": 60}]}, "between"),
        ({"users": [{"username": "u", "password": "p", "groups": ["ghosts"]}]}, "unknown group"),
        ({"users": [{"username": "u"}]}, "password is required"),
        ({"groups": [{"name": "g", "precedence": "high"}]}, "integer"),
        ({"clients": [{**ROTATING, "retry_grace_period_seconds": 61}]}, "between 0 and 60"),
        ({"clients": [{**ROTATING, "retry_grace_period_seconds": -1}]}, "between 0 and 60"),
        ({"clients": [{**ROTATING, "refresh_token_rotation": "yes"}]}, "true or false"),
        (
            {"clients": [{**ROTATING, "refresh_token_rotation": False, "retry_grace_period_seconds": 5}]},
            "needs refresh",
        ),
    ],
)
def test_invalid_config_raises_configuration_error_naming_the_problem(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_config(data)


def test_client_credentials_client_may_not_have_standard_scopes() -> None:
    client = {
        "client_id": "m",
        "client_secret": "s",
        "allowed_flows": ["client_credentials"],
        "allowed_scopes": ["openid"],
    }

    with pytest.raises(ConfigurationError, match="resource-server scopes only"):
        parse_config({"clients": [client]})


@pytest.mark.skipif(sys.version_info >= (3, 11), reason="only Python 3.10 lacks tomllib")
def test_a_toml_config_on_python_3_10_asks_for_json_instead(tmp_path: Path) -> None:
    path = tmp_path / "pool.toml"
    path.write_text(MINIMAL_TOML)

    with pytest.raises(ConfigurationError, match=r"use a \.json config"):
        load_config(path)


@needs_tomllib
def test_invalid_toml_raises_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "pool.toml"
    path.write_text("user_pool_id = ")

    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_config(path)


def test_invalid_json_raises_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "pool.json"
    path.write_text("{")

    with pytest.raises(ConfigurationError, match="not valid JSON"):
        load_config(path)


def test_other_file_types_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "pool.yaml"
    path.write_text("")

    with pytest.raises(ConfigurationError, match=r"\.toml or \.json"):
        load_config(path)


def test_missing_file_raises_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_config(tmp_path / "absent.json")


def test_a_client_allowed_email_without_openid_is_refused_at_load() -> None:
    client = {"client_id": "web", "callback_urls": ["http://localhost:8000/cb"], "allowed_scopes": ["email"]}

    with pytest.raises(ConfigurationError, match="need openid"):
        parse_config({"clients": [client]})


def test_refresh_token_rotation_is_off_by_default() -> None:
    client = default_config().clients["local-client"]

    assert (client.refresh_token_rotation, client.retry_grace_period_seconds) == (False, 0)


def test_a_rotating_client_has_no_grace_period_unless_given_one() -> None:
    client = parse_config({"clients": [ROTATING]}).clients["web"]

    assert (client.refresh_token_rotation, client.retry_grace_period_seconds) == (True, 0)


def test_a_client_table_sets_rotation_and_its_grace_period() -> None:
    client = parse_config({"clients": [{**ROTATING, "retry_grace_period_seconds": 60}]}).clients["web"]

    assert (client.refresh_token_rotation, client.retry_grace_period_seconds) == (True, 60)


def test_default_config_turns_rotation_on_for_local_client_only() -> None:
    config = default_config(refresh_token_rotation=True, retry_grace_period_seconds=10)

    local = config.clients["local-client"]
    assert (local.refresh_token_rotation, local.retry_grace_period_seconds) == (True, 10)
    assert not config.clients["local-m2m"].refresh_token_rotation


def test_describe_shows_a_clients_rotation_and_grace_period() -> None:
    text = default_config(refresh_token_rotation=True, retry_grace_period_seconds=10).describe()

    assert "refresh-token rotation, retry grace period 10 s" in text


def test_the_built_in_pool_data_saved_as_json_loads_as_the_built_in_pool(tmp_path: Path) -> None:
    path = tmp_path / "pool.json"
    data = builtin_pool_data(["http://localhost:5000"], refresh_token_rotation=True, retry_grace_period_seconds=10)
    path.write_text(json.dumps(data), encoding="utf-8")

    assert load_config(path) == default_config(
        ["http://localhost:5000"], refresh_token_rotation=True, retry_grace_period_seconds=10
    )


@needs_tomllib
def test_the_pool_file_in_the_docs_rotates_refresh_tokens(tmp_path: Path) -> None:
    text = (Path(__file__).parent.parent / "docs" / "devserver.md").read_text(encoding="utf-8")
    [example] = re.findall(r"```toml\n(.*?)```", text, re.DOTALL)
    (tmp_path / "pool.toml").write_text(example, encoding="utf-8")

    client = load_config(tmp_path / "pool.toml").clients["web"]

    assert (client.refresh_token_rotation, client.retry_grace_period_seconds) == (True, 10)
