"""Specification of Claims (issue 2, section 3): a read-only mapping of the raw claims with typed properties."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import Any

import pytest

from cognito_guard import Claims, errors
from cognito_guard.testing import LocalIssuer

ROLE_ADMIN = "arn:aws:iam::123456789012:role/admin"
ROLE_READER = "arn:aws:iam::123456789012:role/reader"


def access_claims(issuer: LocalIssuer, **options: Any) -> Claims:
    return issuer.verifier(token_use="access").verify_sync(issuer.access_token(**options))


def id_claims(issuer: LocalIssuer, **options: Any) -> Claims:
    return issuer.verifier(token_use="id").verify_sync(issuer.id_token(**options))


def machine_claims(issuer: LocalIssuer, **options: Any) -> Claims:
    return issuer.verifier(token_use="access").verify_sync(issuer.client_credentials_token(**options))


def payload_of(token: str) -> Any:
    """A minted token's payload, read back test-side (the library never trusts an unverified payload)."""
    segment = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc)


# -- identity -------------------------------------------------------------------------------------------------------


def test_sub_is_the_subject(issuer: LocalIssuer) -> None:
    assert access_claims(issuer, sub="5f0c-user").sub == "5f0c-user"


def test_sub_of_a_machine_token_is_the_client_id(issuer: LocalIssuer) -> None:
    assert machine_claims(issuer, client_id="client-a").sub == "client-a"


def test_username_of_an_access_token_is_its_username_claim(issuer: LocalIssuer) -> None:
    assert access_claims(issuer, username="alice").username == "alice"


def test_username_of_an_id_token_is_its_cognito_username_claim(issuer: LocalIssuer) -> None:
    assert id_claims(issuer, username="bob").username == "bob"


def test_username_of_a_client_credentials_token_is_none(issuer: LocalIssuer) -> None:
    assert machine_claims(issuer).username is None


@pytest.mark.parametrize(("kind", "expected"), [("access", "access"), ("id", "id")])
def test_token_use_tells_the_token_kind(issuer: LocalIssuer, kind: str, expected: str) -> None:
    claims = access_claims(issuer) if kind == "access" else id_claims(issuer)
    assert (claims.token_use, claims.is_access_token, claims.is_id_token) == (expected, kind == "access", kind == "id")


def test_client_id_of_an_access_token_is_its_client_id_claim(issuer: LocalIssuer) -> None:
    assert access_claims(issuer, claims={"aud": "https://api.example.com"}).client_id == "client-a"


def test_client_id_of_an_id_token_is_its_aud(issuer: LocalIssuer) -> None:
    claims = issuer.verifier(token_use="id", client_id=None).verify_sync(issuer.id_token(client_id="web-client"))
    assert claims.client_id == "web-client"


def test_client_id_of_a_client_credentials_token_is_the_client(issuer: LocalIssuer) -> None:
    assert machine_claims(issuer).client_id == "client-a"


def test_issuer_is_the_iss_claim(issuer: LocalIssuer) -> None:
    assert access_claims(issuer).issuer == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool1"


def test_jti_and_origin_jti_are_exposed(issuer: LocalIssuer) -> None:
    claims = access_claims(issuer, claims={"jti": "jti-1", "origin_jti": "origin-1"})
    assert (claims.jti, claims.origin_jti) == ("jti-1", "origin-1")


@pytest.mark.parametrize(("kind", "expected"), [("machine", True), ("user-access", False), ("user-id", False)])
def test_is_machine_is_true_only_for_client_credentials_tokens(issuer: LocalIssuer, kind: str, expected: bool) -> None:
    builders = {"machine": machine_claims, "user-access": access_claims, "user-id": id_claims}
    assert builders[kind](issuer).is_machine is expected


def test_email_is_exposed(issuer: LocalIssuer) -> None:
    assert id_claims(issuer, email="carol@example.com").email == "carol@example.com"


@pytest.mark.parametrize(("value", "expected"), [(True, True), ("true", True), (False, False), ("false", False)])
def test_email_verified_reads_booleans_and_cognito_strings(issuer: LocalIssuer, value: object, expected: bool) -> None:
    assert id_claims(issuer, claims={"email_verified": value}).email_verified is expected


def test_email_verified_is_false_without_the_claim(issuer: LocalIssuer) -> None:
    assert id_claims(issuer, email=None).email_verified is False


# -- authorization data -----------------------------------------------------------------------------------------------


def test_scopes_are_a_frozenset_of_the_space_separated_scope_claim(issuer: LocalIssuer) -> None:
    claims = access_claims(issuer, scopes=["openid", "orders/read", "https://api.example.com/orders.write"])
    assert claims.scopes == frozenset({"openid", "orders/read", "https://api.example.com/orders.write"})


def test_scopes_ignore_repeated_spaces(issuer: LocalIssuer) -> None:
    assert access_claims(issuer, claims={"scope": "  openid   profile "}).scopes == frozenset({"openid", "profile"})


@pytest.mark.parametrize("separator", ["\u00a0", "\t", "\n", "\u2003"], ids=["nbsp", "tab", "newline", "em-space"])
def test_scopes_are_separated_by_the_space_character_only(issuer: LocalIssuer, separator: str) -> None:
    claims = access_claims(issuer, claims={"scope": f"openid{separator}admin orders/read"})
    assert claims.scopes == frozenset({f"openid{separator}admin", "orders/read"})


def test_scopes_of_an_id_token_are_empty(issuer: LocalIssuer) -> None:
    assert id_claims(issuer).scopes == frozenset()


def test_scopes_are_immutable(issuer: LocalIssuer) -> None:
    assert isinstance(access_claims(issuer).scopes, frozenset)


def test_groups_keep_cognitos_order(issuer: LocalIssuer) -> None:
    assert access_claims(issuer, groups=["zeta", "alpha", "mid"]).groups == ("zeta", "alpha", "mid")


def test_groups_are_empty_without_the_claim(issuer: LocalIssuer) -> None:
    assert access_claims(issuer).groups == ()


def test_roles_are_the_cognito_roles_claim(issuer: LocalIssuer) -> None:
    assert id_claims(issuer, roles=[ROLE_ADMIN, ROLE_READER]).roles == (ROLE_ADMIN, ROLE_READER)


def test_roles_are_empty_without_the_claim(issuer: LocalIssuer) -> None:
    assert id_claims(issuer).roles == ()


def test_preferred_role_is_the_cognito_preferred_role_claim(issuer: LocalIssuer) -> None:
    assert id_claims(issuer, preferred_role=ROLE_ADMIN).preferred_role == ROLE_ADMIN


def test_preferred_role_is_none_without_the_claim(issuer: LocalIssuer) -> None:
    assert id_claims(issuer).preferred_role is None


def test_custom_attributes_are_keyed_without_the_prefix(issuer: LocalIssuer) -> None:
    claims = id_claims(issuer, custom={"tenant": "acme", "plan": "gold"})
    assert dict(claims.custom) == {"tenant": "acme", "plan": "gold"}


def test_custom_attributes_keep_only_string_values(issuer: LocalIssuer) -> None:
    claims = id_claims(issuer, claims={"custom:tenant": "acme", "custom:seats": 5, "custom:tags": ["a"]})
    assert dict(claims.custom) == {"tenant": "acme"}


def test_custom_attributes_ignore_claims_without_the_prefix(issuer: LocalIssuer) -> None:
    assert dict(id_claims(issuer, claims={"tenant": "acme", "customer": "x"}).custom) == {}


def test_custom_attributes_refuse_mutation(issuer: LocalIssuer) -> None:
    custom = id_claims(issuer, custom={"tenant": "acme"}).custom
    with pytest.raises(TypeError):
        custom["tenant"] = "evil"  # type: ignore[index]


# -- time -----------------------------------------------------------------------------------------------------------


def test_issued_at_is_an_aware_utc_datetime(issuer: LocalIssuer) -> None:
    now = issuer.clock()
    assert access_claims(issuer, issued_at=now - 10).issued_at == utc(now - 10)


def test_expires_at_is_an_aware_utc_datetime(issuer: LocalIssuer) -> None:
    now = issuer.clock()
    expires_at = access_claims(issuer, issued_at=now, expires_in=900).expires_at
    assert (expires_at, expires_at.tzinfo) == (utc(now + 900), timezone.utc)


def test_auth_time_is_an_aware_utc_datetime(issuer: LocalIssuer) -> None:
    now = issuer.clock()
    assert id_claims(issuer, claims={"auth_time": now - 3600}).auth_time == utc(now - 3600)


def test_auth_time_is_none_without_the_claim(issuer: LocalIssuer) -> None:
    assert machine_claims(issuer, claims={"auth_time": None}).auth_time is None


def test_fractional_times_keep_their_fraction(issuer: LocalIssuer) -> None:
    now = issuer.clock()
    assert access_claims(issuer, claims={"exp": now + 60.5}).expires_at == utc(now + 60.5)


def test_far_future_exp_is_rejected_or_gives_a_usable_expires_at(issuer: LocalIssuer) -> None:
    try:
        claims = access_claims(issuer, claims={"exp": 1e300})
    except errors.TokenError:
        return
    assert claims.expires_at.year == 9999


# -- mapping and copies ---------------------------------------------------------------------------------------------


def test_claims_are_a_mapping_of_the_raw_claims(issuer: LocalIssuer) -> None:
    claims = access_claims(issuer, username="alice")
    assert (claims["username"], claims.get("missing"), "sub" in claims) == ("alice", None, True)


def test_claims_keep_unknown_claims(issuer: LocalIssuer) -> None:
    assert access_claims(issuer, claims={"device_key": "eu-west-1_abc"})["device_key"] == "eu-west-1_abc"


def test_claims_refuse_item_assignment(issuer: LocalIssuer) -> None:
    claims = access_claims(issuer)
    with pytest.raises(TypeError):
        claims["username"] = "mallory"  # type: ignore[index]


def test_claims_refuse_item_deletion(issuer: LocalIssuer) -> None:
    claims = access_claims(issuer)
    with pytest.raises(TypeError):
        del claims["username"]  # type: ignore[attr-defined]


def test_json_arrays_are_tuples(issuer: LocalIssuer) -> None:
    claims = id_claims(issuer, claims={"amr": ["pwd", "mfa"]})
    assert claims["amr"] == ("pwd", "mfa")


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda value: value.__setitem__("primary", "false"), id="setitem"),
        pytest.param(lambda value: value.__delitem__("primary"), id="delitem"),
        pytest.param(lambda value: value.update(primary="false"), id="update"),
        pytest.param(lambda value: value.pop("primary"), id="pop"),
        pytest.param(lambda value: value.popitem(), id="popitem"),
        pytest.param(lambda value: value.clear(), id="clear"),
        pytest.param(lambda value: value.setdefault("new", 1), id="setdefault"),
        pytest.param(lambda value: value.__ior__({"primary": "false"}), id="ior"),
    ],
)
def test_json_objects_refuse_mutation(issuer: LocalIssuer, mutate: Any) -> None:
    claims = id_claims(issuer, claims={"identities": [{"providerName": "Google", "primary": "true"}]})
    with pytest.raises(TypeError):
        mutate(claims["identities"][0])


def test_to_dict_is_a_mutable_deep_copy(issuer: LocalIssuer) -> None:
    claims = id_claims(issuer, groups=["users"], claims={"identities": [{"providerName": "Google"}]})
    copy = claims.to_dict()
    copy["cognito:groups"].append("admins")
    copy["identities"][0]["providerName"] = "Evil"
    assert (claims.groups, claims["identities"][0]["providerName"]) == (("users",), "Google")


def test_to_dict_gives_plain_lists_and_dicts(issuer: LocalIssuer) -> None:
    copy = id_claims(issuer, groups=["users"], claims={"identities": [{"providerName": "Google"}]}).to_dict()
    assert (type(copy["cognito:groups"]), type(copy["identities"][0])) == (list, dict)


def test_to_dict_is_json_serialisable_and_round_trips_the_payload(issuer: LocalIssuer) -> None:
    extra = {"identities": [{"providerName": "Google", "primary": "true"}], "nested": {"a": [1, {"b": None}]}}
    token = issuer.id_token(groups=["users"], claims=extra)
    payload = payload_of(token)
    claims = issuer.verifier(token_use="id").verify_sync(token)
    assert json.loads(json.dumps(claims.to_dict())) == payload


def test_json_dumps_accepts_nested_frozen_objects(issuer: LocalIssuer) -> None:
    claims = id_claims(issuer, claims={"identities": [{"providerName": "Google"}]})
    assert json.loads(json.dumps(claims["identities"])) == [{"providerName": "Google"}]


def test_repr_shows_who_but_no_other_claim(issuer: LocalIssuer) -> None:
    claims = access_claims(issuer, sub="5f0c-user", claims={"secret_note": "do-not-log"})
    assert repr(claims) == "Claims(sub='5f0c-user', token_use='access', username='alice')"


# -- missing optional claims ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("username", None),
        ("client_id", None),
        ("email", None),
        ("email_verified", False),
        ("jti", None),
        ("origin_jti", None),
        ("scopes", frozenset()),
        ("groups", ()),
        ("roles", ()),
        ("preferred_role", None),
        ("custom", {}),
        ("auth_time", None),
        ("is_machine", False),
    ],
)
def test_missing_optional_claim_gives_an_empty_value(name: str, expected: object) -> None:
    claims = Claims({"sub": "user-1", "token_use": "id", "iat": 1_800_000_000, "exp": 1_800_003_600})
    assert getattr(claims, name) == expected


@pytest.mark.parametrize(
    "name",
    [
        "sub",
        "token_use",
        "username",
        "client_id",
        "issuer",
        "scopes",
        "groups",
        "roles",
        "preferred_role",
        "custom",
        "issued_at",
        "expires_at",
        "auth_time",
        "is_machine",
        "email",
        "email_verified",
        "jti",
        "origin_jti",
    ],
)
def test_no_property_raises_on_an_empty_claim_set(name: str) -> None:
    getattr(Claims({}), name)


@pytest.mark.parametrize(
    ("claim", "value", "name", "expected"),
    [
        ("cognito:groups", ["admins", 1], "groups", ("admins",)),
        ("cognito:groups", "admins", "groups", ()),
        ("scope", ["openid"], "scopes", frozenset()),
        ("username", 7, "username", None),
        ("email", ["a@example.com"], "email", None),
        ("cognito:preferred_role", 1, "preferred_role", None),
        ("auth_time", "yesterday", "auth_time", None),
    ],
)
def test_claims_built_by_hand_tolerate_wrong_types(claim: str, value: object, name: str, expected: object) -> None:
    claims = Claims({"sub": "user-1", "token_use": "access", claim: value})
    assert getattr(claims, name) == expected


def test_claims_built_by_hand_freeze_nested_values() -> None:
    source: dict[str, Any] = {"sub": "user-1", "cognito:groups": ["users"], "profile": {"tags": ["a"]}}
    claims = Claims(source)
    source["cognito:groups"].append("admins")
    source["profile"]["tags"].append("b")
    assert (claims.groups, claims["profile"]["tags"]) == (("users",), ("a",))
