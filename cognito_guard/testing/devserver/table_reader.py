"""Reading one table of the stand-in's pool config, naming the table and the setting in every error."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ...errors import ConfigurationError

__all__ = ["TableReader"]


class TableReader:
    """Reads one table of the config, naming the setting in every error."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, Mapping):
            raise ConfigurationError(f"{where} must be a table/object")
        self.data = data
        self.where = where

    def string(self, name: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self.data.get(name, default)
        if value is None:
            if required:
                raise ConfigurationError(f"{self.where}: {name} is required")
            return None
        if not isinstance(value, str) or not value:
            raise ConfigurationError(f"{self.where}: {name} must be a non-empty string")
        return value

    def strings(self, name: str, default: Sequence[str] = ()) -> tuple[str, ...]:
        value = self.data.get(name, list(default))
        if isinstance(value, str):
            value = value.split()
        if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
            raise ConfigurationError(f"{self.where}: {name} must be a list of non-empty strings")
        return tuple(value)

    def boolean(self, name: str, default: bool) -> bool:
        value = self.data.get(name, default)
        if not isinstance(value, bool):
            raise ConfigurationError(f"{self.where}: {name} must be true or false")
        return value

    def integer(self, name: str, default: int | None, bounds: tuple[int, int] | None = None) -> int | None:
        value = self.data.get(name, default)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigurationError(f"{self.where}: {name} must be an integer")
        if bounds and not bounds[0] <= value <= bounds[1]:
            raise ConfigurationError(f"{self.where}: {name} must lie between {bounds[0]} and {bounds[1]} seconds")
        return value

    def tables(self, name: str) -> list[TableReader]:
        value = self.data.get(name, [])
        if not isinstance(value, list):
            raise ConfigurationError(f"{self.where}: {name} must be a list of tables")
        return [TableReader(item, f"{name}[{index}]") for index, item in enumerate(value)]

    def unknown(self, known: set[str]) -> None:
        extra = set(self.data) - known
        if extra:
            raise ConfigurationError(f"{self.where}: unknown setting(s) {', '.join(sorted(map(str, extra)))}")
