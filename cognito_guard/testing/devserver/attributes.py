"""User attributes of the stand-in pool: which names Cognito knows, and the values it writes into tokens."""

from __future__ import annotations

from collections.abc import Mapping

from ...errors import ConfigurationError

__all__ = ["STANDARD_ATTRIBUTES", "attribute_strings", "is_user_attribute", "parse_attributes"]

# Cognito's standard attributes. `sub` is one in Cognito too, but here it is the user's own setting. Any other
# attribute is a custom one, written `custom:NAME`: Cognito puts nothing else into tokens.
STANDARD_ATTRIBUTES = frozenset(
    (
        "address",
        "birthdate",
        "email",
        "email_verified",
        "family_name",
        "gender",
        "given_name",
        "locale",
        "middle_name",
        "name",
        "nickname",
        "phone_number",
        "phone_number_verified",
        "picture",
        "preferred_username",
        "profile",
        "updated_at",
        "website",
        "zoneinfo",
    )
)
_VERIFIED = frozenset(("email_verified", "phone_number_verified"))


def is_user_attribute(name: str) -> bool:
    """True for a standard attribute name or ``custom:NAME``: the attributes Cognito writes into ID tokens."""
    return name in STANDARD_ATTRIBUTES or (name.startswith("custom:") and len(name) > len("custom:"))


def attribute_strings(attributes: Mapping[str, str | bool]) -> dict[str, str]:
    """The user attributes among ``attributes`` as userInfo and ``GetUser`` answer them: every value a string
    (``"true"``, not ``true``)."""
    return {
        name: ("true" if value else "false") if isinstance(value, bool) else value
        for name, value in attributes.items()
        if is_user_attribute(name)
    }


def _name(name: object, where: str) -> str:
    if isinstance(name, str) and is_user_attribute(name):
        return name
    if name == "sub":
        raise ConfigurationError(f"{where}: sub is not an attribute here: use the user's own sub setting (sub = '...')")
    raise ConfigurationError(
        f"{where}: attribute {name!r} is not a Cognito attribute: use a standard one (email, name, phone_number...) "
        "or a custom one, written custom:NAME"
    )


def _value(name: str, value: object, where: str) -> str | bool:
    if name in _VERIFIED:
        if not isinstance(value, bool):
            raise ConfigurationError(f"{where}: attribute {name} must be true or false")
        return value
    # Cognito stores every attribute as a string; custom:* claims are always strings in tokens.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise ConfigurationError(f"{where}: attribute {name} must be a string, number or boolean")


def parse_attributes(raw: object, where: str) -> dict[str, str | bool]:
    """A user's ``attributes`` table, checked; ``email_verified`` defaults to true with an ``email``.
    Raises :class:`ConfigurationError` naming the first bad attribute."""
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"{where}: attributes must be a table/object")
    attributes: dict[str, str | bool] = {}
    for key, value in raw.items():
        name = _name(key, where)
        attributes[name] = _value(name, value, where)
    if "email" in attributes:
        attributes.setdefault("email_verified", True)
    return attributes
