"""HostedUIClient in isolation: URL building, settings, the callback check, and the token and revocation endpoints
answered by respx. ID tokens are minted by LocalIssuer and verified offline; time is the injected clock."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any, Literal
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from conftest import Clock

from cognito_guard import Claims
from cognito_guard.errors import (
    ClaimError,
    ClientIdError,
    ConfigurationError,
    HostedUIUnavailableError,
    IssuerError,
    OAuthError,
    SignInError,
    SignInStateError,
    TokenUseError,
)
from cognito_guard.hosted_ui import _client
from cognito_guard.hosted_ui._client import AuthorizationRequest, HostedUIClient, PendingSignIn, TokenSet
from cognito_guard.testing import LocalIssuer, mock_jwks

How = Literal["async", "sync"]
BOTH_WAYS = pytest.mark.parametrize("how", ["async", "sync"])

BASE = "https://auth.example.com"
TOKEN_URL = f"{BASE}/oauth2/token"
REVOKE_URL = f"{BASE}/oauth2/revoke"
CALLBACK = "https://app.example.com/auth/callback"
SIGNED_OUT = "https://app.example.com/"
SECRET = "s3cret:+/ x"


# -- fixtures and helpers ----------------------------------------------------------------------------------------------
def make_client(issuer: LocalIssuer, clock: Clock, **options: Any) -> HostedUIClient:
    settings: dict[str, Any] = {
        "domain": "auth.example.com",
        "client_id": issuer.client_id,
        "redirect_uri": CALLBACK,
        "logout_uri": SIGNED_OUT,
        "verifier": issuer.verifier(token_use="id"),
        "clock": clock,
    }
    settings.update(options)
    return HostedUIClient(**settings)


@pytest.fixture
async def hosted(issuer: LocalIssuer, clock: Clock) -> AsyncIterator[HostedUIClient]:
    client = make_client(issuer, clock)
    yield client
    await client.aclose()


@pytest.fixture
async def confidential(issuer: LocalIssuer, clock: Clock) -> AsyncIterator[HostedUIClient]:
    client = make_client(issuer, clock, client_secret=SECRET)
    yield client
    await client.aclose()


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def form(request: httpx.Request) -> dict[str, list[str]]:
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    return parse_qs(request.content.decode("ascii"), keep_blank_values=True)


def at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def pending_sign_in(clock: Clock, **fields: Any) -> PendingSignIn:
    values: dict[str, Any] = {
        "state": "state-1",
        "code_verifier": "v" * 64,
        "nonce": "nonce-1",
        "next_path": "/orders",
        "created_at": clock(),
    }
    values.update(fields)
    return PendingSignIn(**values)


def token_answer(
    issuer: LocalIssuer, *, nonce: str | None = "nonce-1", id_claims: dict[str, Any] | None = None, **fields: Any
) -> dict[str, Any]:
    """A Cognito token answer whose ID token carries ``nonce`` and the right ``at_hash`` (unless overridden)."""
    access = issuer.access_token()
    id_token = issuer.id_token(nonce=nonce, claims={"at_hash": at_hash(access), **(id_claims or {})})
    answer: dict[str, Any] = {
        "access_token": access,
        "id_token": id_token,
        "refresh_token": "refresh-1",
        "expires_in": 3600,
        "token_type": "Bearer",
    }
    answer.update(fields)
    return {name: value for name, value in answer.items() if value is not None}


async def exchange(client: HostedUIClient, code: str, pending: PendingSignIn, how: How) -> tuple[TokenSet, Claims]:
    if how == "async":
        return await client.exchange_code(code, pending)
    return client.exchange_code_sync(code, pending)


async def refresh(client: HostedUIClient, refresh_token: str, how: How) -> tuple[TokenSet, Claims | None]:
    if how == "async":
        return await client.refresh(refresh_token)
    return client.refresh_sync(refresh_token)


async def revoke(client: HostedUIClient, refresh_token: str, how: How) -> None:
    if how == "async":
        await client.revoke(refresh_token)
    else:
        client.revoke_sync(refresh_token)


async def verify_id(client: HostedUIClient, id_token: str, how: How, **options: Any) -> Claims:
    if how == "async":
        return await client.verify_id_token(id_token, **options)
    return client.verify_id_token_sync(id_token, **options)


# -- the authorization URL ---------------------------------------------------------------------------------------------
def test_authorization_url_carries_every_parameter(hosted: HostedUIClient) -> None:
    request = hosted.authorization_request(identity_provider="Google", lang="de", prompt="login", login_hint="bob")

    assert request.url.startswith(f"{BASE}/oauth2/authorize?")
    assert query(request.url) == {
        "response_type": ["code"],
        "client_id": ["client-a"],
        "redirect_uri": [CALLBACK],
        "scope": ["openid email profile"],
        "state": [request.pending.state],
        "code_challenge": [query(request.url)["code_challenge"][0]],
        "code_challenge_method": ["S256"],
        "nonce": [request.pending.nonce],
        "identity_provider": ["Google"],
        "lang": ["de"],
        "prompt": ["login"],
        "login_hint": ["bob"],
    }


def test_authorization_url_encodes_spaces_as_percent_20(hosted: HostedUIClient) -> None:
    url = hosted.authorization_request().url

    assert "scope=openid%20email%20profile" in url
    assert "+" not in url


def test_special_characters_in_redirect_uri_and_login_hint_are_percent_encoded(
    issuer: LocalIssuer, clock: Clock
) -> None:
    redirect_uri = "https://app.example.com/auth/callback?tenant=a&next=%2F&name=\u00fc+1"
    client = make_client(issuer, clock, redirect_uri=redirect_uri)

    url = client.authorization_request(login_hint="a+b@example.com&x=1").url

    raw = urlsplit(url).query
    assert (
        "redirect_uri=https%3A%2F%2Fapp.example.com%2Fauth%2Fcallback%3Ftenant%3Da%26next%3D%252F%26name%3D%C3%BC%2B1"
        in raw
    )
    assert "login_hint=a%2Bb%40example.com%26x%3D1" in raw
    assert query(url)["redirect_uri"] == [redirect_uri]
    assert query(url)["login_hint"] == ["a+b@example.com&x=1"]


def test_state_round_trips_through_the_url_unchanged(hosted: HostedUIClient) -> None:
    request = hosted.authorization_request()

    assert query(request.url)["state"] == [request.pending.state]
    assert len(request.pending.state) >= 43  # 32 random bytes, base64url


def test_constructor_defaults_for_identity_provider_lang_and_prompt_are_sent(issuer: LocalIssuer, clock: Clock) -> None:
    client = make_client(issuer, clock, identity_provider="Facebook", lang="fr", prompt="select_account")

    params = query(client.authorization_request().url)

    assert (params["identity_provider"], params["lang"], params["prompt"]) == (["Facebook"], ["fr"], ["select_account"])


def test_call_arguments_override_the_constructor_defaults(issuer: LocalIssuer, clock: Clock) -> None:
    client = make_client(issuer, clock, identity_provider="Facebook", lang="fr", prompt="select_account")

    params = query(client.authorization_request(identity_provider="Google", lang="es", prompt="login").url)

    assert (params["identity_provider"], params["lang"], params["prompt"]) == (["Google"], ["es"], ["login"])


def test_optional_parameters_are_left_out_when_not_set(hosted: HostedUIClient) -> None:
    params = query(hosted.authorization_request().url)

    assert not {"identity_provider", "lang", "prompt", "login_hint"} & set(params)


def test_empty_call_arguments_keep_the_defaults_and_send_no_empty_parameter(issuer: LocalIssuer, clock: Clock) -> None:
    client = make_client(issuer, clock, lang="fr")

    params = query(client.authorization_request(lang="", login_hint="").url)

    assert params["lang"] == ["fr"]
    assert "login_hint" not in params


def test_configured_scopes_are_sent_in_order_without_duplicates(issuer: LocalIssuer, clock: Clock) -> None:
    client = make_client(issuer, clock, scopes=["openid", "orders/read", "openid", "email"])

    assert query(client.authorization_request().url)["scope"] == ["openid orders/read email"]


def test_every_request_has_a_fresh_state_nonce_and_code_verifier(hosted: HostedUIClient) -> None:
    first, second = hosted.authorization_request(), hosted.authorization_request()

    assert first.pending.state != second.pending.state
    assert first.pending.nonce != second.pending.nonce
    assert first.pending.code_verifier != second.pending.code_verifier
    assert query(first.url)["code_challenge"] != query(second.url)["code_challenge"]


def test_code_verifier_is_64_url_safe_characters(hosted: HostedUIClient) -> None:
    verifier = hosted.authorization_request().pending.code_verifier

    assert len(verifier) == 64
    assert set(verifier) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_code_challenge_is_the_rfc_7636_s256_transform_of_the_verifier(
    hosted: HostedUIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # RFC 7636 appendix B: the verifier is the base64url of 32 given octets, the challenge its S256 transform.
    monkeypatch.setattr(_client, "_new_code_verifier", lambda: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")

    request = hosted.authorization_request()

    assert request.pending.code_verifier == "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert query(request.url)["code_challenge"] == ["E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"]
    assert query(request.url)["code_challenge_method"] == ["S256"]


def test_pending_sign_in_records_next_path_and_the_clock_time(hosted: HostedUIClient, clock: Clock) -> None:
    request = hosted.authorization_request(next_path="/orders?page=2")

    assert isinstance(request, AuthorizationRequest)
    assert request.pending.next_path == "/orders?page=2"
    assert request.pending.created_at == clock.now


# -- PendingSignIn and TokenSet ----------------------------------------------------------------------------------------
def test_pending_sign_in_round_trips_through_a_dict(clock: Clock) -> None:
    pending = pending_sign_in(clock)

    assert PendingSignIn.from_dict(json.loads(json.dumps(pending.to_dict()))) == pending


@pytest.mark.parametrize(
    "damage",
    [
        {"state": None},
        {"state": ""},
        {"code_verifier": 5},
        {"nonce": None},
        {"next_path": None},
        {"created_at": "yesterday"},
        {"created_at": True},
        {"created_at": float("nan")},
    ],
)
def test_pending_sign_in_of_the_wrong_shape_is_a_state_error(clock: Clock, damage: dict[str, Any]) -> None:
    data = {**pending_sign_in(clock).to_dict(), **damage}

    with pytest.raises(SignInStateError):
        PendingSignIn.from_dict(data)


def test_pending_sign_in_that_is_not_a_mapping_is_a_state_error() -> None:
    with pytest.raises(SignInStateError):
        PendingSignIn.from_dict(["state"])  # type: ignore[arg-type]


def test_token_set_round_trips_through_a_dict() -> None:
    tokens = TokenSet("access", "id", None, 1_800_003_600.0)

    assert TokenSet.from_dict(json.loads(json.dumps(tokens.to_dict()))) == tokens


@pytest.mark.parametrize(
    "damage",
    [{"access_token": None}, {"access_token": ""}, {"id_token": 1}, {"refresh_token": []}, {"expires_at": "soon"}],
)
def test_token_set_of_the_wrong_shape_is_a_sign_in_error(damage: dict[str, Any]) -> None:
    data = {**TokenSet("access", "id", "refresh", 1_800_003_600.0).to_dict(), **damage}

    with pytest.raises(SignInError):
        TokenSet.from_dict(data)


@pytest.mark.parametrize(("now", "expired"), [(1_800_003_539.0, False), (1_800_003_540.0, True), (2e9, True)])
def test_token_set_counts_as_expired_a_margin_before_expires_at(now: float, expired: bool) -> None:
    assert TokenSet("access", None, None, 1_800_003_600.0).expired(now) is expired


def test_token_set_expiry_margin_can_be_changed() -> None:
    assert TokenSet("access", None, None, 1_800_003_600.0).expired(1_800_003_599.0, margin=0) is False


def test_reprs_do_not_show_tokens_or_secrets(clock: Clock) -> None:
    text = repr(pending_sign_in(clock)) + repr(TokenSet("access-secret", "id-secret", "refresh-secret", 1.0))

    for secret in ("state-1", "v" * 64, "nonce-1", "access-secret", "id-secret", "refresh-secret"):
        assert secret not in text


# -- settings --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("domain", "base_url"),
    [
        ("myprefix.auth.us-east-1.amazoncognito.com", "https://myprefix.auth.us-east-1.amazoncognito.com"),
        ("auth.example.com", "https://auth.example.com"),
        ("https://auth.example.com/", "https://auth.example.com"),
        ("https://auth.example.com:8443", "https://auth.example.com:8443"),
        ("http://127.0.0.1:9229", "http://127.0.0.1:9229"),
        ("http://localhost:9229/", "http://localhost:9229"),
        ("http://[::1]:9229", "http://[::1]:9229"),
        ("myprefix", "https://myprefix.auth.eu-west-1.amazoncognito.com"),
    ],
)
def test_domain_forms_give_the_base_url(issuer: LocalIssuer, clock: Clock, domain: str, base_url: str) -> None:
    client = make_client(issuer, clock, domain=domain, user_pool_id="eu-west-1_TestPool1")

    assert client.base_url == base_url


def test_endpoint_urls_hang_off_the_base_url(hosted: HostedUIClient) -> None:
    assert (hosted.authorize_url, hosted.token_url, hosted.revoke_url, hosted.logout_endpoint) == (
        f"{BASE}/oauth2/authorize",
        f"{BASE}/oauth2/token",
        f"{BASE}/oauth2/revoke",
        f"{BASE}/logout",
    )


@pytest.mark.parametrize(
    "domain",
    [
        "",
        "   ",
        "http://auth.example.com",
        "ftp://auth.example.com",
        "https://auth.example.com/oauth2",
        "https://auth.example.com?x=1",
        "https://auth.example.com#top",
        "https://user:pw@auth.example.com",
        "https://auth.example.com:port",
        "auth example.com",
        "https://",
        "http://127.0.0.1.example.com",
    ],
)
def test_bad_domain_is_a_configuration_error_naming_the_setting(issuer: LocalIssuer, clock: Clock, domain: str) -> None:
    with pytest.raises(ConfigurationError, match="domain"):
        make_client(issuer, clock, domain=domain)


def test_domain_prefix_without_user_pool_id_is_a_configuration_error(issuer: LocalIssuer, clock: Clock) -> None:
    with pytest.raises(ConfigurationError, match="user_pool_id"):
        make_client(issuer, clock, domain="myprefix")


@pytest.mark.parametrize(
    "url",
    [
        "http://app.example.com/auth/callback",
        "/auth/callback",
        "app.example.com/auth/callback",
        "https://app.example.com/auth/callback#done",
        "https://app.example.com/auth/call back",
        "javascript:alert(1)",
    ],
)
@pytest.mark.parametrize("setting", ["redirect_uri", "logout_uri"])
def test_bad_redirect_or_logout_uri_is_a_configuration_error(
    issuer: LocalIssuer, clock: Clock, setting: str, url: str
) -> None:
    with pytest.raises(ConfigurationError, match=setting):
        make_client(issuer, clock, **{setting: url})


@pytest.mark.parametrize(
    "url", ["http://localhost:8000/auth/callback", "http://127.0.0.1:8000/cb", "https://a.b/c?d=e"]
)
def test_https_and_loopback_http_redirect_uris_are_accepted(issuer: LocalIssuer, clock: Clock, url: str) -> None:
    assert make_client(issuer, clock, redirect_uri=url).redirect_uri == url


@pytest.mark.parametrize("scopes", [("email", "profile"), ("openid", ""), ("openid", "orders read"), (), ("openid", 3)])
def test_scopes_without_openid_or_with_bad_names_are_a_configuration_error(
    issuer: LocalIssuer, clock: Clock, scopes: tuple[Any, ...]
) -> None:
    with pytest.raises(ConfigurationError, match="scopes"):
        make_client(issuer, clock, scopes=scopes)


def test_scopes_given_as_one_string_are_split_on_spaces(issuer: LocalIssuer, clock: Clock) -> None:
    assert make_client(issuer, clock, scopes="openid email").scopes == ("openid", "email")


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"client_id": ""}, "client_id"),
        ({"client_id": "a,b"}, "client_id"),
        ({"client_secret": ""}, "client_secret"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": "10"}, "timeout"),
        ({"prompt": 1}, "prompt"),
        ({"http_client": object()}, "http_client"),
        ({"async_http_client": object()}, "async_http_client"),
        ({"verifier": object()}, "verifier"),
    ],
)
def test_bad_settings_are_configuration_errors_naming_the_setting(
    issuer: LocalIssuer, clock: Clock, options: dict[str, Any], named: str
) -> None:
    with pytest.raises(ConfigurationError, match=named):
        make_client(issuer, clock, **options)


def test_user_pool_id_is_required_without_a_verifier(issuer: LocalIssuer, clock: Clock) -> None:
    with pytest.raises(ConfigurationError, match="user_pool_id"):
        make_client(issuer, clock, verifier=None)


@BOTH_WAYS
async def test_without_a_verifier_one_for_the_pools_id_tokens_is_built(
    respx_mock: Any, issuer: LocalIssuer, clock: Clock, how: How
) -> None:
    mock_jwks(issuer, respx_mock)
    client = make_client(issuer, clock, verifier=None, user_pool_id=issuer.user_pool_id)

    claims = await verify_id(client, issuer.id_token(), how)
    with pytest.raises(TokenUseError):
        await verify_id(client, issuer.access_token(), how)
    await client.aclose()

    assert claims.username == "alice"


# -- from_env ----------------------------------------------------------------------------------------------------------
ENV = {
    "COGNITO_DOMAIN": "myprefix",
    "COGNITO_USER_POOL_ID": "eu-west-1_TestPool1",
    "COGNITO_CLIENT_ID": "client-a",
    "COGNITO_CLIENT_SECRET": SECRET,
    "COGNITO_REDIRECT_URI": CALLBACK,
    "COGNITO_LOGOUT_URI": SIGNED_OUT,
    "COGNITO_ISSUER": "https://issuer.example.com/eu-west-1_TestPool1",
    "COGNITO_SCOPES": "openid  email orders/read",
}


def test_from_env_reads_every_setting() -> None:
    client = HostedUIClient.from_env(ENV)

    assert client.base_url == "https://myprefix.auth.eu-west-1.amazoncognito.com"
    assert (client.client_id, client.redirect_uri, client.logout_uri) == ("client-a", CALLBACK, SIGNED_OUT)
    assert client.scopes == ("openid", "email", "orders/read")
    assert client.verifier.issuers == ("https://issuer.example.com/eu-west-1_TestPool1",)
    assert client.logout_url() == f"{client.logout_endpoint}?client_id=client-a&logout_uri={quote(SIGNED_OUT, safe='')}"
    client.close()


def test_from_env_leaves_optional_settings_at_their_defaults() -> None:
    required = ("COGNITO_DOMAIN", "COGNITO_USER_POOL_ID", "COGNITO_CLIENT_ID", "COGNITO_REDIRECT_URI")
    client = HostedUIClient.from_env({name: ENV[name] for name in required})

    assert client.scopes == ("openid", "email", "profile")
    assert client.logout_uri is None
    assert client.verifier.issuers[0] == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool1"
    client.close()


@pytest.mark.parametrize(
    "name", ["COGNITO_DOMAIN", "COGNITO_USER_POOL_ID", "COGNITO_CLIENT_ID", "COGNITO_REDIRECT_URI"]
)
@pytest.mark.parametrize("missing", [None, "", "  "])
def test_from_env_names_a_missing_variable(name: str, missing: str | None) -> None:
    environ = {key: value for key, value in ENV.items() if key != name}
    if missing is not None:
        environ[name] = missing

    with pytest.raises(ConfigurationError, match=name):
        HostedUIClient.from_env(environ)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("COGNITO_DOMAIN", "http://auth.example.com"),
        ("COGNITO_USER_POOL_ID", "not a pool"),
        ("COGNITO_CLIENT_ID", "a,b"),
        ("COGNITO_REDIRECT_URI", "http://app.example.com/cb"),
        ("COGNITO_LOGOUT_URI", "https://app.example.com/#x"),
        ("COGNITO_ISSUER", "http://issuer.example.com/pool"),
        ("COGNITO_SCOPES", "email profile"),
    ],
)
def test_from_env_names_an_invalid_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        HostedUIClient.from_env({**ENV, name: value})


def test_from_env_domain_prefix_needs_a_regional_pool_id() -> None:
    with pytest.raises(ConfigurationError, match="COGNITO_DOMAIN"):
        HostedUIClient.from_env({**ENV, "COGNITO_USER_POOL_ID": "local_pool"})


def test_from_env_overrides_win_over_the_environment(issuer: LocalIssuer) -> None:
    client = HostedUIClient.from_env(
        {**ENV, "COGNITO_USER_POOL_ID": "not a pool"},
        domain="https://login.example.com",
        user_pool_id="eu-west-1_Other",
        scopes=("openid",),
    )

    assert client.base_url == "https://login.example.com"
    assert client.scopes == ("openid",)
    client.close()


def test_from_env_does_not_need_a_pool_id_when_a_verifier_is_given(issuer: LocalIssuer) -> None:
    environ = {name: value for name, value in ENV.items() if name != "COGNITO_USER_POOL_ID"}
    verifier = issuer.verifier(token_use="id")

    client = HostedUIClient.from_env({**environ, "COGNITO_DOMAIN": "auth.example.com"}, verifier=verifier)

    assert client.verifier is verifier


def test_from_env_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)

    client = HostedUIClient.from_env()

    assert client.client_id == "client-a"
    client.close()


# -- the callback ------------------------------------------------------------------------------------------------------
def test_callback_with_the_pending_state_gives_the_code(hosted: HostedUIClient, clock: Clock) -> None:
    assert hosted.check_callback({"code": "code-1", "state": "state-1"}, pending_sign_in(clock)) == "code-1"


def test_callback_error_redirect_is_an_oauth_error(hosted: HostedUIClient, clock: Clock) -> None:
    params = {"error": "access_denied", "error_description": "User cancelled", "state": "state-1"}

    with pytest.raises(OAuthError) as raised:
        hosted.check_callback(params, pending_sign_in(clock))

    assert (raised.value.error, raised.value.description) == ("access_denied", "User cancelled")
    assert "access_denied" in raised.value.message


def test_callback_error_code_outside_the_oauth_alphabet_is_not_echoed(hosted: HostedUIClient, clock: Clock) -> None:
    with pytest.raises(OAuthError) as raised:
        hosted.check_callback({"error": "x\r\nforged log line"}, pending_sign_in(clock))

    assert "forged" not in raised.value.message


def test_callback_with_another_state_is_a_state_error(hosted: HostedUIClient, clock: Clock) -> None:
    with pytest.raises(SignInStateError):
        hosted.check_callback({"code": "code-1", "state": "state-2"}, pending_sign_in(clock))


@pytest.mark.parametrize("params", [{"code": "code-1"}, {"code": "code-1", "state": ""}])
def test_callback_without_state_is_a_state_error(hosted: HostedUIClient, clock: Clock, params: dict[str, str]) -> None:
    with pytest.raises(SignInStateError):
        hosted.check_callback(params, pending_sign_in(clock))


@pytest.mark.parametrize("params", [{"state": "state-1"}, {"state": "state-1", "code": ""}])
def test_callback_without_code_is_a_sign_in_error(hosted: HostedUIClient, clock: Clock, params: dict[str, str]) -> None:
    with pytest.raises(SignInError) as raised:
        hosted.check_callback(params, pending_sign_in(clock))

    assert not isinstance(raised.value, SignInStateError)


# -- code exchange -----------------------------------------------------------------------------------------------------
@BOTH_WAYS
async def test_code_exchange_of_a_public_client_posts_the_pkce_form_without_authorization(
    respx_mock: Any, hosted: HostedUIClient, issuer: LocalIssuer, clock: Clock, how: How
) -> None:
    route = respx_mock.post(TOKEN_URL).respond(200, json=token_answer(issuer))

    await exchange(hosted, "code-1", pending_sign_in(clock), how)

    request = route.calls.last.request
    assert form(request) == {
        "grant_type": ["authorization_code"],
        "code": ["code-1"],
        "redirect_uri": [CALLBACK],
        "code_verifier": ["v" * 64],
        "client_id": ["client-a"],
    }
    assert "authorization" not in request.headers


@BOTH_WAYS
async def test_code_exchange_of_a_confidential_client_authenticates_with_http_basic(
    respx_mock: Any, confidential: HostedUIClient, issuer: LocalIssuer, clock: Clock, how: How
) -> None:
    route = respx_mock.post(TOKEN_URL).respond(200, json=token_answer(issuer))

    await exchange(confidential, "code-1", pending_sign_in(clock), how)

    request = route.calls.last.request
    scheme, _, credentials = request.headers["authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(credentials).decode() == "client-a:s3cret%3A%2B%2F%20x"
    assert "client_secret" not in form(request)
    assert form(request)["code_verifier"] == ["v" * 64]


@BOTH_WAYS
async def test_code_exchange_returns_the_tokens_and_the_verified_id_claims(
    respx_mock: Any, hosted: HostedUIClient, issuer: LocalIssuer, clock: Clock, how: How
) -> None:
    answer = token_answer(issuer, expires_in=1800)
    respx_mock.post(TOKEN_URL).respond(200, json=answer)

    tokens, claims = await exchange(hosted, "code-1", pending_sign_in(clock), how)

    assert tokens == TokenSet(answer["access_token"], answer["id_token"], "refresh-1", clock.now + 1800, "Bearer")
    assert claims.username == "alice"
    assert claims["nonce"] == "nonce-1"


@BOTH_WAYS
async def test_code_exchange_does_not_follow_redirects(
    respx_mock: Any, hosted: HostedUIClient, clock: Clock, how: How
) -> None:
    respx_mock.post(TOKEN_URL).respond(307, headers={"Location": "https://elsewhere.example.com/token"})
    elsewhere = respx_mock.post("https://elsewhere.example.com/token").respond(200, json={})

    with pytest.raises(HostedUIUnavailableError):
        await exchange(hosted, "code-1", pending_sign_in(clock), how)

    assert elsewhere.call_count == 0


@BOTH_WAYS
@pytest.mark.parametrize(
    ("status", "body", "description"),
    [
        (400, {"error": "invalid_grant"}, None),
        (400, {"error": "invalid_request", "error_description": "code_verifier missing"}, "code_verifier missing"),
        (401, {"error": "invalid_client"}, None),
    ],
)
async def test_token_endpoint_errors_are_oauth_errors(
    respx_mock: Any,
    hosted: HostedUIClient,
    clock: Clock,
    how: How,
    status: int,
    body: dict[str, str],
    description: str | None,
) -> None:
    respx_mock.post(TOKEN_URL).respond(status, json=body)

    with pytest.raises(OAuthError) as raised:
        await exchange(hosted, "secret-code", pending_sign_in(clock), how)

    assert (raised.value.error, raised.value.description) == (body["error"], description)
    assert "secret-code" not in str(raised.value)
    assert "v" * 64 not in str(raised.value)


@BOTH_WAYS
@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(500, json={"error": "server_error"}),
        httpx.Response(503, text="Service Unavailable"),
        httpx.Response(429, json={"error": "too_many_requests"}),
        httpx.Response(400, text="<html>Bad Request</html>"),
        httpx.Response(400, json={"message": "no error field"}),
        httpx.Response(200, text="not json"),
        httpx.Response(200, json=["a", "list"]),
        httpx.Response(200, json={"id_token": "x", "expires_in": 3600}),
        httpx.Response(200, json={"access_token": "a", "expires_in": "3600"}),
        httpx.Response(200, json={"access_token": "a", "expires_in": 3600, "id_token": 5}),
        httpx.Response(200, json={"access_token": "a", "expires_in": 3600, "token_type": None}),
    ],
    ids=lambda answer: f"{answer.status_code}-{answer.content[:20]!r}",
)
async def test_token_endpoint_nonsense_is_hosted_ui_unavailable(
    respx_mock: Any, hosted: HostedUIClient, clock: Clock, how: How, answer: httpx.Response
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=answer)

    with pytest.raises(HostedUIUnavailableError):
        await exchange(hosted, "code-1", pending_sign_in(clock), how)


@BOTH_WAYS
async def test_token_answer_over_one_mebibyte_is_refused_unread(
    respx_mock: Any, hosted: HostedUIClient, issuer: LocalIssuer, clock: Clock, how: How
) -> None:
    padded = json.dumps(token_answer(issuer)).encode() + b" " * (1024 * 1024)  # valid JSON, only too large
    respx_mock.post(TOKEN_URL).respond(200, content=padded, headers={"Content-Type": "application/json"})

    with pytest.raises(HostedUIUnavailableError, match="bytes"):
        await exchange(hosted, "code-1", pending_sign_in(clock), how)


@BOTH_WAYS
@pytest.mark.parametrize(
    "error", [httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadTimeout, httpx.RemoteProtocolError]
)
async def test_transport_failures_are_hosted_ui_unavailable(
    respx_mock: Any, hosted: HostedUIClient, clock: Clock, how: How, error: type[httpx.HTTPError]
) -> None:
    respx_mock.post(TOKEN_URL).mock(side_effect=error("simulated"))

    with pytest.raises(HostedUIUnavailableError, match=error.__name__):
        await exchange(hosted, "code-1", pending_sign_in(clock), how)


@BOTH_WAYS
async def test_answer_without_id_token_is_a_sign_in_error(
    respx_mock: Any, hosted: HostedUIClient, issuer: LocalIssuer, clock: Clock, how: How
) -> None:
    respx_mock.post(TOKEN_URL).respond(200, json=token_answer(issuer, id_token=None))

    with pytest.raises(SignInError, match="openid"):
        await exchange(hosted, "code-1", pending_sign_in(clock), how)


@BOTH_WAYS
@pytest.mark.parametrize("nonce", ["nonce-2", None])
async def test_id_token_with_another_or_no_nonce_is_rejected(
    respx_mock: Any, hosted: HostedUIClient, issuer: LocalIssuer, clock: Clock, how: How, nonce: str | None
) -> None:
    respx_mock.post(TOKEN_URL).respond(200, json=token_answer(issuer, nonce=nonce))

    with pytest.raises(ClaimError, match="nonce"):
        await exchange(hosted, "code-1", pending_sign_in(clock), how)


@BOTH_WAYS
async def test_id_token_whose_at_hash_does_not_fit_the_access_token_is_rejected(
    respx_mock: Any, hosted: HostedUIClient, issuer: LocalIssuer, clock: Clock, how: How
) -> None:
    answer = token_answer(issuer, id_claims={"at_hash": at_hash(issuer.access_token())})
    respx_mock.post(TOKEN_URL).respond(200, json=answer)

    with pytest.raises(ClaimError, match="at_hash"):
        await exchange(hosted, "code-1", pending_sign_in(clock), how)


@BOTH_WAYS
async def test_id_token_without_at_hash_is_accepted(
    respx_mock: Any, hosted: HostedUIClient, issuer: LocalIssuer, clock: Clock, how: How
) -> None:
    respx_mock.post(TOKEN_URL).respond(200, json=token_answer(issuer, id_claims={"at_hash": None}))

    _, claims = await exchange(hosted, "code-1", pending_sign_in(clock), how)

    assert "at_hash" not in claims


@BOTH_WAYS
async def test_id_token_of_another_pool_is_rejected(
    respx_mock: Any, hosted: HostedUIClient, issuer: LocalIssuer, clock: Clock, how: How
) -> None:
    stranger = LocalIssuer(
        user_pool_id="eu-west-1_Stranger",
        client_id="client-a",
        clock=clock,
        access_key=issuer.access_key,
        id_key=issuer.id_key,
    )
    respx_mock.post(TOKEN_URL).respond(200, json=token_answer(stranger))

    with pytest.raises(IssuerError):
        await exchange(hosted, "code-1", pending_sign_in(clock), how)


# -- verify_id_token -------------------------------------------------------------------------------------------------
@BOTH_WAYS
async def test_verify_id_token_refuses_access_tokens_even_with_a_lenient_verifier(
    issuer: LocalIssuer, clock: Clock, how: How
) -> None:
    client = make_client(issuer, clock, verifier=issuer.verifier(token_use=None))

    with pytest.raises(TokenUseError):
        await verify_id(client, issuer.access_token(), how)


@BOTH_WAYS
async def test_verify_id_token_refuses_other_clients_even_with_a_lenient_verifier(
    issuer: LocalIssuer, clock: Clock, how: How
) -> None:
    client = make_client(issuer, clock, verifier=issuer.verifier(token_use="id", client_id=None))

    with pytest.raises(ClientIdError):
        await verify_id(client, issuer.id_token(client_id="client-b"), how)


@BOTH_WAYS
async def test_verify_id_token_checks_nonce_and_at_hash_only_when_asked(
    hosted: HostedUIClient, issuer: LocalIssuer, how: How
) -> None:
    id_token = issuer.id_token(nonce="nonce-1", claims={"at_hash": "not-the-hash"})

    claims = await verify_id(hosted, id_token, how)

    assert claims["nonce"] == "nonce-1"


# -- refresh -----------------------------------------------------------------------------------------------------------
@BOTH_WAYS
async def test_refresh_posts_the_refresh_grant(
    respx_mock: Any, confidential: HostedUIClient, issuer: LocalIssuer, how: How
) -> None:
    route = respx_mock.post(TOKEN_URL).respond(200, json=token_answer(issuer, nonce=None, refresh_token=None))

    await refresh(confidential, "refresh-1", how)

    request = route.calls.last.request
    assert form(request) == {"grant_type": ["refresh_token"], "refresh_token": ["refresh-1"], "client_id": ["client-a"]}
    assert request.headers["authorization"].startswith("Basic ")


@BOTH_WAYS
async def test_refresh_keeps_the_old_refresh_token_when_none_is_returned(
    respx_mock: Any, hosted: HostedUIClient, issuer: LocalIssuer, clock: Clock, how: How
) -> None:
    respx_mock.post(TOKEN_URL).respond(200, json=token_answer(issuer, nonce=None, refresh_token=None))

    tokens, claims = await refresh(hosted, "refresh-old", how)

    assert tokens.refresh_token == "refresh-old"
    assert tokens.expires_at == clock.now + 3600
    assert claims is not None
    assert claims.username == "alice"


@BOTH_WAYS
async def test_refresh_takes_a_rotated_refresh_token(
    respx_mock: Any, hosted: HostedUIClient, issuer: LocalIssuer, how: How
) -> None:
    respx_mock.post(TOKEN_URL).respond(200, json=token_answer(issuer, nonce=None, refresh_token="refresh-new"))

    tokens, _ = await refresh(hosted, "refresh-old", how)

    assert tokens.refresh_token == "refresh-new"


@BOTH_WAYS
async def test_refresh_without_id_token_gives_no_claims(
    respx_mock: Any, hosted: HostedUIClient, issuer: LocalIssuer, how: How
) -> None:
    respx_mock.post(TOKEN_URL).respond(200, json=token_answer(issuer, id_token=None, refresh_token=None))

    tokens, claims = await refresh(hosted, "refresh-old", how)

    assert (tokens.id_token, claims) == (None, None)


@BOTH_WAYS
async def test_refresh_checks_the_new_id_tokens_at_hash(
    respx_mock: Any, hosted: HostedUIClient, issuer: LocalIssuer, how: How
) -> None:
    answer = token_answer(issuer, nonce=None, id_claims={"at_hash": at_hash("another access token")})
    respx_mock.post(TOKEN_URL).respond(200, json=answer)

    with pytest.raises(ClaimError, match="at_hash"):
        await refresh(hosted, "refresh-old", how)


@BOTH_WAYS
async def test_refresh_with_a_revoked_token_is_an_invalid_grant_oauth_error(
    respx_mock: Any, hosted: HostedUIClient, how: How
) -> None:
    respx_mock.post(TOKEN_URL).respond(
        400, json={"error": "invalid_grant", "error_description": "Refresh Token has been revoked"}
    )

    with pytest.raises(OAuthError) as raised:
        await refresh(hosted, "refresh-old", how)

    assert raised.value.error == "invalid_grant"
    assert "refresh-old" not in str(raised.value)


# -- revoke ------------------------------------------------------------------------------------------------------------
@BOTH_WAYS
async def test_revoke_posts_the_token_with_client_authentication(
    respx_mock: Any, confidential: HostedUIClient, how: How
) -> None:
    route = respx_mock.post(REVOKE_URL).respond(200)

    await revoke(confidential, "refresh-1", how)

    request = route.calls.last.request
    assert form(request) == {"token": ["refresh-1"], "client_id": ["client-a"]}
    assert base64.b64decode(request.headers["authorization"][6:]).startswith(b"client-a:")


@BOTH_WAYS
async def test_revoke_error_answer_is_an_oauth_error(respx_mock: Any, hosted: HostedUIClient, how: How) -> None:
    respx_mock.post(REVOKE_URL).respond(400, json={"error": "unsupported_token_type"})

    with pytest.raises(OAuthError) as raised:
        await revoke(hosted, "an.access.token", how)

    assert raised.value.error == "unsupported_token_type"


@BOTH_WAYS
@pytest.mark.parametrize("answer", [httpx.Response(500), httpx.Response(302, headers={"Location": "/"})])
async def test_revoke_failure_answer_is_hosted_ui_unavailable(
    respx_mock: Any, hosted: HostedUIClient, how: How, answer: httpx.Response
) -> None:
    respx_mock.post(REVOKE_URL).mock(return_value=answer)

    with pytest.raises(HostedUIUnavailableError):
        await revoke(hosted, "refresh-1", how)


@BOTH_WAYS
async def test_revoke_transport_failure_is_hosted_ui_unavailable(
    respx_mock: Any, hosted: HostedUIClient, how: How
) -> None:
    respx_mock.post(REVOKE_URL).mock(side_effect=httpx.ConnectError("simulated"))

    with pytest.raises(HostedUIUnavailableError):
        await revoke(hosted, "refresh-1", how)


# -- logout ------------------------------------------------------------------------------------------------------------
def test_logout_url_uses_the_configured_logout_uri(hosted: HostedUIClient) -> None:
    assert hosted.logout_url() == f"{BASE}/logout?client_id=client-a&logout_uri=https%3A%2F%2Fapp.example.com%2F"


def test_logout_url_takes_a_logout_uri_argument(hosted: HostedUIClient) -> None:
    url = hosted.logout_url(logout_uri="https://app.example.com/bye?lang=de%20fr")

    assert query(url) == {"client_id": ["client-a"], "logout_uri": ["https://app.example.com/bye?lang=de%20fr"]}


def test_logout_url_without_any_logout_uri_is_a_configuration_error(issuer: LocalIssuer, clock: Clock) -> None:
    client = make_client(issuer, clock, logout_uri=None)

    with pytest.raises(ConfigurationError, match="logout_uri"):
        client.logout_url()


def test_logout_url_refuses_an_insecure_logout_uri_argument(hosted: HostedUIClient) -> None:
    with pytest.raises(ConfigurationError, match="logout_uri"):
        hosted.logout_url(logout_uri="http://evil.example.com/")


# -- HTTP clients ------------------------------------------------------------------------------------------------------
@BOTH_WAYS
async def test_given_http_clients_are_used_and_left_open(
    respx_mock: Any, issuer: LocalIssuer, clock: Clock, how: How
) -> None:
    respx_mock.post(TOKEN_URL).respond(200, json=token_answer(issuer))
    http_client, async_http_client = httpx.Client(), httpx.AsyncClient()
    client = make_client(issuer, clock, http_client=http_client, async_http_client=async_http_client)

    await exchange(client, "code-1", pending_sign_in(clock), how)
    await client.aclose()

    assert not http_client.is_closed
    assert not async_http_client.is_closed
    await async_http_client.aclose()
    http_client.close()  # noqa: ASYNC212  (closing an idle client does no I/O)


async def test_given_verifier_is_left_open(issuer: LocalIssuer, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = issuer.verifier(token_use="id")
    closed: list[str] = []
    monkeypatch.setattr(verifier, "close", lambda: closed.append("close"))
    monkeypatch.setattr(verifier, "aclose", lambda: closed.append("aclose"))
    client = make_client(issuer, clock, verifier=verifier)

    client.close()
    await client.aclose()

    assert closed == []


async def test_own_verifier_is_closed_with_the_client(
    issuer: LocalIssuer, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client(issuer, clock, verifier=None, user_pool_id=issuer.user_pool_id)
    closed: list[str] = []
    monkeypatch.setattr(client.verifier, "close", lambda: closed.append("close"))

    async def aclose() -> None:
        closed.append("aclose")

    monkeypatch.setattr(client.verifier, "aclose", aclose)

    client.close()
    await client.aclose()

    assert closed == ["close", "aclose"]


def test_own_sync_http_client_is_closed_by_close(
    respx_mock: Any, hosted: HostedUIClient, issuer: LocalIssuer, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    respx_mock.post(TOKEN_URL).respond(200, json=token_answer(issuer))
    closed: list[httpx.Client] = []
    monkeypatch.setattr(httpx.Client, "close", lambda self: closed.append(self))
    hosted.exchange_code_sync("code-1", pending_sign_in(clock))

    hosted.close()

    assert len(closed) == 1


async def test_pending_of_the_wrong_type_is_a_state_error(hosted: HostedUIClient, clock: Clock) -> None:
    pending = dataclasses.asdict(pending_sign_in(clock))

    with pytest.raises(SignInStateError):
        await hosted.exchange_code("code-1", pending)  # type: ignore[arg-type]
