"""LocalAlb: an Application Load Balancer stand-in that signs ALB-shaped user claims and serves its keys.

Tokens are what an ALB with an ``authenticate-cognito`` action puts in ``x-amzn-oidc-data``: ES256, the header
``{"typ", "kid", "alg", "iss", "client", "signer", "exp"}``, Cognito's userinfo claims (``email_verified`` as the
string ``"true"``) plus ``exp`` and ``iss``, every segment base64url *with* its ``=`` padding.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from .._alb_keys import alb_key_url, parse_alb_arn
from ..alb import ACCESS_TOKEN_HEADER, DATA_HEADER, IDENTITY_HEADER, AlbVerifier
from ..verifier import CognitoVerifier
from ._issuer import LocalIssuer

if TYPE_CHECKING:
    import respx

__all__ = ["DEFAULT_ALB_ARN", "AlbKeyPair", "LocalAlb", "LocalAlbKeyServer"]

DEFAULT_ALB_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/local-alb/50dc6c495c0c9188"
"""The ARN a :class:`LocalAlb` signs as unless told otherwise."""

_DELETE: Any = None  # in ``claims=`` / ``headers=`` overrides, None removes the entry


def _segment(data: bytes, padded: bool) -> str:
    text = base64.urlsafe_b64encode(data).decode("ascii")
    return text if padded else text.rstrip("=")


class AlbKeyPair:
    """A P-256 private key with its ``kid`` (a UUID, as the ALB names its keys); ``public_pem`` is what the key
    server publishes at ``.../{kid}``."""

    def __init__(self, kid: str | None = None, private_key: ec.EllipticCurvePrivateKey | None = None) -> None:
        self.kid = kid or str(uuid.uuid4())
        self.private_key = private_key or ec.generate_private_key(ec.SECP256R1())

    @property
    def public_pem(self) -> str:
        return (
            self.private_key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode("ascii")
        )

    def sign(self, signing_input: bytes) -> bytes:
        """The raw 64-byte ``R || S`` ES256 signature (JWS form, not DER)."""
        r, s = decode_dss_signature(self.private_key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


class LocalAlb:
    """A stand-in ALB: its ARN, a signing key on its region's (shared) key server, and ``x-amzn-oidc-*`` minting.

    ``pool``: the :class:`LocalIssuer` users sign in with; ``issuer`` and ``client_id`` default to its own, and
    :meth:`headers` adds its access token. ``other_alb()`` is someone else's ALB in the same region: its tokens
    verify with the same key server, and only the ``signer`` check refuses them.
    """

    def __init__(
        self,
        *,
        alb_arn: str = DEFAULT_ALB_ARN,
        pool: LocalIssuer | None = None,
        issuer: str | None = None,
        client_id: str | None = None,
        key: AlbKeyPair | None = None,
        clock: Callable[[], float] | None = None,
        published: dict[str, str] | None = None,
    ) -> None:
        self.alb_arn = alb_arn
        self.partition, self.region = parse_alb_arn(alb_arn)
        self.pool = pool
        self.issuer = issuer or (
            pool.issuer if pool else f"https://cognito-idp.{self.region}.amazonaws.com/{self.region}_LocalTest"
        )
        self.client_id = client_id or (pool.client_id if pool else "local-test-client")
        self.clock: Callable[[], float] = clock or (pool.clock if pool else time.time)
        self.key = key or AlbKeyPair()
        self._published = {} if published is None else published  # kid -> PEM, shared by the region's ALBs
        self._published[self.key.kid] = self.key.public_pem
        self._impostor: AlbKeyPair | None = None

    # -- keys --------------------------------------------------------------------------------------------------------
    @property
    def keys(self) -> dict[str, str]:
        """Every key the region's key server publishes (this ALB's and its neighbours'), kid -> PEM."""
        return dict(self._published)

    @property
    def key_url(self) -> str:
        """The AWS key server of this ALB's region, as a template with ``{kid}``."""
        return alb_key_url(self.partition, self.region)

    def rotate(self) -> AlbKeyPair:
        """Sign with a new key from now on; the old one stays published (tokens signed with it still verify)."""
        self.key = AlbKeyPair()
        self._published[self.key.kid] = self.key.public_pem
        return self.key

    def other_alb(self, alb_arn: str | None = None) -> LocalAlb:
        """Someone else's ALB in this region: same key server, its own key and ARN, same IdP settings."""
        arn = alb_arn or (
            f"arn:{self.partition}:elasticloadbalancing:{self.region}:999999999999:"
            f"loadbalancer/app/someone-elses-alb/{uuid.uuid4().hex[:16]}"
        )
        return LocalAlb(
            alb_arn=arn,
            pool=self.pool,
            issuer=self.issuer,
            client_id=self.client_id,
            clock=self.clock,
            published=self._published,
        )

    def verifier(self, *, access_token: bool | CognitoVerifier = False, **options: Any) -> AlbVerifier:
        """An :class:`AlbVerifier` for this ALB, offline with the published keys unless ``key_url=`` is given.

        ``access_token=True`` also verifies ``x-amzn-oidc-accesstoken`` with the pool's (offline) verifier.
        """
        options.setdefault("alb_arn", self.alb_arn)
        options.setdefault("client_id", self.client_id)
        options.setdefault("issuer", self.issuer)
        options.setdefault("clock", self.clock)
        if "key_url" not in options:
            options.setdefault("keys", self.keys)
        if access_token is True:
            if self.pool is None:
                raise ValueError("access_token=True needs a LocalAlb made with pool=LocalIssuer(...)")
            access_token = self.pool.verifier(token_use="access")
        return AlbVerifier(access_token=access_token or None, **options)

    # -- minting -----------------------------------------------------------------------------------------------------
    def sign(
        self, header: Mapping[str, Any], payload: Mapping[str, Any] | str, *, key: AlbKeyPair, padded: bool = True
    ) -> str:
        """Sign exactly this header and payload with ES256, segments padded as the ALB writes them (or not)."""
        raw = payload if isinstance(payload, str) else json.dumps(dict(payload), separators=(",", ":"))
        header_segment = _segment(json.dumps(dict(header), separators=(",", ":")).encode(), padded)
        signing_input = f"{header_segment}.{_segment(raw.encode(), padded)}"
        return f"{signing_input}.{_segment(key.sign(signing_input.encode()), padded)}"

    def subject(self, username: str) -> str:
        """The ``sub`` of ``username``: the one the pool's tokens carry for that user."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.issuer}/{username}"))

    def data_token(
        self,
        *,
        username: str = "alice",
        sub: str | None = None,
        email: str | None = "alice@example.com",
        claims: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
        issued_at: float | None = None,
        expires_in: float = 120,
        padded: bool = True,
        bad_signature: bool = False,
        key: AlbKeyPair | None = None,
    ) -> str:
        """An ``x-amzn-oidc-data`` token for ``username``, shaped like an ALB's in front of Cognito.

        ``claims`` / ``headers`` add or replace payload claims / header fields (``None`` removes one);
        ``issued_at`` is "now" (default: the clock); ``padded=False`` drops the ``=`` padding;
        ``bad_signature=True`` signs with a key that is not published, under the right ``kid``.
        """
        now = int(self.clock() if issued_at is None else issued_at)
        exp = int(now + expires_in)
        payload: dict[str, Any] = {"sub": sub or self.subject(username)}
        if email is not None:
            payload.update({"email_verified": "true", "email": email})
        payload.update({"username": username, "exp": exp, "iss": self.issuer})
        signer = key or self.key
        header: dict[str, Any] = {
            "typ": "JWT",
            "kid": signer.kid,
            "alg": "ES256",
            "iss": self.issuer,
            "client": self.client_id,
            "signer": self.alb_arn,
            "exp": exp,
        }
        for target, overrides in ((payload, claims), (header, headers)):
            for name, value in (overrides or {}).items():
                if value is _DELETE:
                    target.pop(name, None)
                else:
                    target[name] = value
        if bad_signature:
            if self._impostor is None:
                self._impostor = AlbKeyPair()
            signer = AlbKeyPair(kid=signer.kid, private_key=self._impostor.private_key)
        return self.sign(header, payload, key=signer, padded=padded)

    def headers(self, *, username: str = "alice", access_token: bool = True, **data: Any) -> dict[str, str]:
        """The ``x-amzn-oidc-*`` headers the ALB adds to a request of ``username``: the data token (options as in
        :meth:`data_token`), the pool's access token for the same user (with ``pool`` and ``access_token=True``) and
        the identity (``sub``)."""
        token = self.data_token(username=username, **data)
        sub = data.get("sub") or self.subject(username)
        headers = {DATA_HEADER: token, IDENTITY_HEADER: sub}
        if access_token and self.pool is not None:
            headers[ACCESS_TOKEN_HEADER] = self.pool.access_token(username=username, sub=sub)
        return headers

    # -- serving the keys --------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def serve_keys(self) -> Iterator[LocalAlbKeyServer]:
        """Serve the published keys over HTTP on 127.0.0.1 as the ALB key server does (``GET /{kid}``: the PEM, or
        404); yields the running server, whose ``key_url`` goes to ``verifier(key_url=...)``."""
        with LocalAlbKeyServer(lambda: self._published) as server:
            yield server

    def mock_keys(self, router: respx.MockRouter | None = None) -> respx.Route:
        """Route ``GET`` of the region's AWS key server URL to the published keys under respx (404 for unknown kids).

        Pass the ``respx_mock`` fixture or a ``respx.mock()`` router (default: the global one, which must be active).
        Returns the route, whose ``call_count`` tells how often keys were fetched.
        """
        import re

        import httpx
        import respx as respx_module

        prefix, _ = self.key_url.split("{kid}")

        def answer(request: httpx.Request) -> httpx.Response:
            pem = self._published.get(str(request.url)[len(prefix) :])
            return httpx.Response(404) if pem is None else httpx.Response(200, text=pem)

        target: Any = router if router is not None else respx_module
        return target.get(url__regex=re.escape(prefix) + ".+").mock(side_effect=answer)  # type: ignore[no-any-return]


class LocalAlbKeyServer:
    """A key server on a free port of 127.0.0.1: ``GET /{kid}`` answers the PEM (``application/octet-stream``) or
    404, like ``public-keys.auth.elb.{region}.amazonaws.com``. A context manager; ``paths`` lists what was asked."""

    def __init__(self, keys: Callable[[], Mapping[str, str]]) -> None:
        self._keys = keys
        self._lock = threading.Lock()
        self._paths: list[str] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _KeyHandler)
        self._httpd.key_server = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def key_url(self) -> str:
        """The URL template to give ``AlbVerifier(key_url=...)``."""
        return f"{self.base_url}/{{kid}}"

    @property
    def paths(self) -> list[str]:
        with self._lock:
            return list(self._paths)

    def __enter__(self) -> LocalAlbKeyServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def _answer(self, path: str) -> str | None:
        with self._lock:
            self._paths.append(path)
        return self._keys().get(path.lstrip("/"))


class _KeyHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        pem = self.server.key_server._answer(self.path)  # type: ignore[attr-defined]
        body = b"Not Found" if pem is None else pem.encode("ascii")
        self.send_response(404 if pem is None else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
