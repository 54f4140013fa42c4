"""Serve a LocalIssuer's JWKS at its real URL under respx (for tests of the online path)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import respx

    from ._issuer import LocalIssuer


def mock_jwks(issuer: LocalIssuer, router: respx.MockRouter | None = None) -> respx.Route:
    """Route ``GET {issuer}/.well-known/jwks.json`` to the issuer's current JWKS (rotation included).

    Pass the ``respx_mock`` fixture or a ``respx.mock()`` router; with none, the global respx router is used (it
    must be active). Returns the route, whose ``call_count`` tells how often the keys were fetched.
    """
    import httpx
    import respx as respx_module

    target: Any = router if router is not None else respx_module
    return target.get(issuer.jwks_uri).mock(side_effect=lambda request: httpx.Response(200, json=issuer.jwks))  # type: ignore[no-any-return]
