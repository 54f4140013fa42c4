"""Where a user may be sent after signing in: only a path on this site (no open redirect)."""

from __future__ import annotations

import pytest

from cognito_guard.hosted_ui import safe_next_path


@pytest.mark.parametrize(
    "value",
    ["/", "/profile", "/orders?page=2&sort=date", "/a/b#section", "/search?q=a%20b", "/files/report.pdf"],
)
def test_a_local_path_is_kept(value: str) -> None:
    assert safe_next_path(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "https://evil.example/",
        "http://evil.example",
        "//evil.example",
        "//evil.example/path",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "evil.example",
        "profile",
        "",
        None,
        "/\x00admin",
        "/profile\r\nSet-Cookie: a=b",
        "/\tevil",
        "/" + "a" * 2048,
    ],
)
def test_anything_else_becomes_the_default(value: str | None) -> None:
    assert safe_next_path(value) == "/"


def test_the_default_can_be_chosen() -> None:
    assert safe_next_path("https://evil.example/", "/home") == "/home"


def test_spaces_and_non_ascii_are_percent_encoded_for_the_location_header() -> None:
    assert safe_next_path("/café menu") == "/caf%C3%A9%20menu"


def test_existing_percent_escapes_are_kept() -> None:
    assert safe_next_path("/a%2Fb") == "/a%2Fb"
