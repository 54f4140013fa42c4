"""CognitoAuthMiddleware's include/exclude rules under a root_path (uvicorn --root-path, a Starlette Mount).

The app may route on the full path or on the path below root_path, so a rule applies when it names either form: an
include naming either protects, an exclude naming either exempts (both name the same resource).
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from cognito_guard import CognitoVerifier
from cognito_guard.asgi import CognitoAuthMiddleware, PathRule
from cognito_guard.testing import LocalIssuer


@pytest.fixture
def verifier(issuer: LocalIssuer) -> CognitoVerifier:
    return issuer.verifier()


async def echo_route_path(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request.url.path)


def starlette_app() -> Starlette:
    return Starlette(routes=[Route("/{path:path}", echo_route_path)])


async def status_of(app: Any, *, path: str, root_path: str) -> int:
    """The status of one GET through the raw ASGI interface, with the scope a server behind a root_path builds."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": root_path,
        "headers": [],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status: int = sent[0]["status"]
    return status


def guarded(
    verifier: CognitoVerifier,
    *,
    include: PathRule | list[PathRule] | None = None,
    exclude: PathRule | list[PathRule] | None = None,
) -> CognitoAuthMiddleware:
    return CognitoAuthMiddleware(starlette_app(), verifier=verifier, include=include, exclude=exclude)


# -- include ---------------------------------------------------------------------------------------------------------
async def test_include_rule_protects_the_route_path_below_root_path(verifier: CognitoVerifier) -> None:
    status = await status_of(guarded(verifier, include="/admin"), path="/api/admin", root_path="/api")

    assert status == 401


@pytest.mark.parametrize("path", ["/api/admin/", "/api/admin/users"])
async def test_include_rule_protects_what_lies_under_the_route_path(verifier: CognitoVerifier, path: str) -> None:
    status = await status_of(guarded(verifier, include="/admin"), path=path, root_path="/api")

    assert status == 401


async def test_include_pattern_protects_the_route_path_below_root_path(verifier: CognitoVerifier) -> None:
    app = guarded(verifier, include=re.compile(r"/items/\d+"))

    assert await status_of(app, path="/api/items/7", root_path="/api") == 401


async def test_include_rule_still_protects_the_full_path(verifier: CognitoVerifier) -> None:
    status = await status_of(guarded(verifier, include="/api/admin"), path="/api/admin", root_path="/api")

    assert status == 401


async def test_include_rule_protects_a_path_the_server_sent_without_its_root_path(verifier: CognitoVerifier) -> None:
    status = await status_of(guarded(verifier, include="/admin"), path="/admin", root_path="/api")

    assert status == 401


async def test_include_rule_leaves_other_paths_below_root_path_public(verifier: CognitoVerifier) -> None:
    status = await status_of(guarded(verifier, include="/admin"), path="/api/orders", root_path="/api")

    assert status == 200


async def test_root_path_is_stripped_only_at_a_segment_boundary(verifier: CognitoVerifier) -> None:
    # Starlette routes "/apiadmin" as it is (not as "admin"), so an include of "/admin" does not cover it.
    status = await status_of(guarded(verifier, include="/admin"), path="/apiadmin", root_path="/api")

    assert status == 200


async def test_include_rule_protects_a_route_inside_a_starlette_mount(verifier: CognitoVerifier) -> None:
    app = Starlette(routes=[Mount("/v1", app=guarded(verifier, include="/admin"))])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        admin = await client.get("/v1/admin")
        orders = await client.get("/v1/orders")

    assert (admin.status_code, orders.status_code, orders.text) == (401, 200, "/v1/orders")


async def test_include_rule_matches_the_decoded_path_below_root_path(verifier: CognitoVerifier) -> None:
    transport = httpx.ASGITransport(app=guarded(verifier, include="/admin"), root_path="/api")
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/api/%61dmin")

    assert response.status_code == 401


# -- exclude ---------------------------------------------------------------------------------------------------------
async def test_exclude_naming_both_forms_leaves_the_path_public(verifier: CognitoVerifier) -> None:
    app = guarded(verifier, exclude=["/health", "/api/health"])

    assert await status_of(app, path="/api/health", root_path="/api") == 200


async def test_exclude_pattern_matching_both_forms_leaves_the_path_public(verifier: CognitoVerifier) -> None:
    app = guarded(verifier, exclude=re.compile(r"(?:/api)?/health"))

    assert await status_of(app, path="/api/health", root_path="/api") == 200


async def test_exclude_naming_both_forms_leaves_nothing_else_public(verifier: CognitoVerifier) -> None:
    app = guarded(verifier, exclude=["/health", "/api/health"])

    statuses = [await status_of(app, path=path, root_path="/api") for path in ("/api/admin", "/api/healthz", "/api")]

    assert statuses == [401, 401, 401]


async def test_exclude_naming_the_full_path_exempts_it_below_root_path(verifier: CognitoVerifier) -> None:
    app = guarded(verifier, exclude="/api/health")

    assert await status_of(app, path="/api/health", root_path="/api") == 200


async def test_exclude_naming_the_route_path_exempts_it_below_root_path(verifier: CognitoVerifier) -> None:
    app = guarded(verifier, exclude="/health")

    assert await status_of(app, path="/api/health", root_path="/api") == 200


async def test_exclude_in_either_form_leaves_nothing_else_public(verifier: CognitoVerifier) -> None:
    full, route = guarded(verifier, exclude="/api/health"), guarded(verifier, exclude="/health")

    statuses = [
        await status_of(app, path=path, root_path="/api")
        for app in (full, route)
        for path in ("/api/admin", "/api/healthz")
    ]

    assert statuses == [401, 401, 401, 401]


async def test_exclude_inside_a_starlette_mount_names_the_path_in_either_form(verifier: CognitoVerifier) -> None:
    app = Starlette(
        routes=[
            Mount("/v1", app=guarded(verifier, exclude="/v1/health"), name="full"),
            Mount("/v2", app=guarded(verifier, exclude="/health"), name="route"),
        ]
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        statuses = [(await client.get(path)).status_code for path in ("/v1/health", "/v1/admin", "/v2/health")]

    assert statuses == [200, 401, 200]


async def test_exclude_without_root_path_is_unchanged(verifier: CognitoVerifier) -> None:
    app = guarded(verifier, exclude="/health")

    statuses = [await status_of(app, path=path, root_path="") for path in ("/health", "/health/live", "/admin")]

    assert statuses == [200, 200, 401]


async def test_include_naming_the_full_path_protects_it_when_the_server_leaves_root_path_out_of_path(
    verifier: CognitoVerifier,
) -> None:
    # Hypercorn, and FastAPI(root_path="/api"): path "/admin", root_path "/api"; the full path is "/api/admin".
    app = guarded(verifier, include="/api/admin")

    assert await status_of(app, path="/admin", root_path="/api") == 401


async def test_without_root_path_there_is_no_second_form(verifier: CognitoVerifier) -> None:
    app = guarded(verifier, include="/api/admin")

    assert await status_of(app, path="/admin", root_path="") == 200
