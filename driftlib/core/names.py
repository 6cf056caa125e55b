"""Components chosen by name in params (estimators, learners, metrics, stat tests, sinks, …).

One small helper instead of ten dict-plus-error-message copies: a name that is not registered is a
`ConfigError` naming the params field and the choices, raised when params load, not mid-run.
"""
from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from driftlib.core.errors import ConfigError

T = TypeVar("T")


class Names(Generic[T]):
    """A registry of components by name, for one params field (e.g. 'model.estimator')."""

    def __init__(self, field: str, items: dict[str, T] | None = None):
        self.field, self._items = field, dict(items or {})

    def register(self, name: str) -> Callable[[T], T]:
        def add(obj: T) -> T:
            self._items[name] = obj
            return obj
        return add

    def get(self, name: str, field: str | None = None) -> T:
        if name not in self._items:
            raise ConfigError(f"field '{field or self.field}': unknown name '{name}' "
                              f"(choose from {', '.join(sorted(self._items))})")
        return self._items[name]

    def check(self, name: str, field: str | None = None) -> None:
        self.get(name, field)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
