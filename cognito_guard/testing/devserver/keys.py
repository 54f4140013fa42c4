"""The stand-in pool's two signing keys (access and ID, like Cognito), generated or kept in a directory."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ...errors import ConfigurationError
from .._issuer import SigningKeyPair

__all__ = ["PoolKeys"]

_KIDS_FILE = "kids.json"
_KEY_FILES = ("access.pem", "id.pem")  # what save() writes besides kids.json


@dataclass(frozen=True)
class PoolKeys:
    """One key signs access tokens, the other ID tokens: the two tokens of a sign-in carry different ``kid``s."""

    access: SigningKeyPair
    id: SigningKeyPair

    @classmethod
    def generate(cls) -> PoolKeys:
        return cls(SigningKeyPair(), SigningKeyPair())

    @property
    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.access.public_jwk, self.id.public_jwk]}

    @classmethod
    def load_or_create(cls, directory: str | Path) -> PoolKeys:
        """Load the keys saved in ``directory``, or generate and save them there (private keys readable by the owner
        only), so tokens stay valid across restarts. Raises :class:`ConfigurationError` for unusable files."""
        directory = Path(directory)
        if (directory / _KIDS_FILE).exists():
            return cls._load(directory)
        keys = cls.generate()
        keys.save(directory)
        return keys

    @classmethod
    def load(cls, directory: str | Path) -> PoolKeys:
        """Load the keys that :meth:`save` (and so ``cognito-guard dev --keys DIR``) wrote in ``directory``, never
        creating any. Raises :class:`ConfigurationError` when files are missing or unusable."""
        directory = Path(directory)
        missing = [name for name in (*_KEY_FILES, _KIDS_FILE) if not (directory / name).is_file()]
        if missing:
            raise ConfigurationError(
                f"no dev-server keys in {directory} (missing {', '.join(missing)}): "
                f"`cognito-guard dev --keys {directory}` writes them"
            )
        return cls._load(directory)

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        for name, pair in (("access", self.access), ("id", self.id)):
            pem = pair.private_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            descriptor = os.open(directory / f"{name}.pem", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "wb") as file:
                file.write(pem)
        # Written last: its presence means both keys are complete.
        (directory / _KIDS_FILE).write_text(json.dumps({"access": self.access.kid, "id": self.id.kid}, indent=2))

    @classmethod
    def _load(cls, directory: Path) -> PoolKeys:
        try:
            kids = json.loads((directory / _KIDS_FILE).read_text())
            pairs = []
            for name in ("access", "id"):
                key = serialization.load_pem_private_key((directory / f"{name}.pem").read_bytes(), password=None)
                if not isinstance(key, rsa.RSAPrivateKey) or not isinstance(kids.get(name), str):
                    raise ConfigurationError(f"{directory}/{name}.pem is not an RSA private key with a kid")
                pairs.append(SigningKeyPair(kid=kids[name], private_key=key))
        except (OSError, ValueError, TypeError, AttributeError) as error:
            raise ConfigurationError(f"cannot load the dev-server keys from {directory}: {error}") from None
        return cls(pairs[0], pairs[1])
