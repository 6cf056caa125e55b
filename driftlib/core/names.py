"""Components chosen by name in params (estimators, learners, metrics, stat tests, sinks, …).

One small helper instead of ten dict-plus-error-message copies: a name that is not registered is a
one-line `ConfigError` naming the params field, the kind of component and the choices
("field 'model.estimator': unknown estimator 'xgboost' (choose from ...)"), raised when params load
(`workbench.preflight`), not mid-run.
"""
from __future__ import annotations

from typing import Callable, Generic, Iterator, Mapping, TypeVar

from driftlib.core.errors import ConfigError

T = TypeVar("T")


class Names(Generic[T]):
    """A registry of components by name, for one params field (e.g. 'model.estimator').

    Reads like a read-only dict (`in`, iteration in registration order, `[name]`, `items()`), except
    that an unknown name is the field's `ConfigError`, never a `KeyError`.
    """

    def __init__(self, field: str, items: Mapping[str, T] | None = None, *, kind: str = "name"):
        self.field, self.kind, self._items = field, kind, dict(items or {})

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: `@NAMES.register("jsonl") class JsonlSink: ...`."""
        def add(obj: T) -> T:
            self._items[name] = obj
            return obj
        return add

    def error(self, name: object, field: str | None = None, source: str | None = None) -> ConfigError:
        where = f"{source}: " if source else ""
        return ConfigError(f"{where}field '{field or self.field}': unknown {self.kind} '{name}' "
                           f"(choose from {', '.join(sorted(self._items))})")

    def get(self, name: str, field: str | None = None, source: str | None = None) -> T:
        """The component called `name`; `field` names the params field when it is not `self.field`
        (e.g. 'drift.columns.x.method'), `source` the params file the message starts with."""
        if name not in self._items:
            raise self.error(name, field, source)
        return self._items[name]

    def check(self, name: str, field: str | None = None, source: str | None = None) -> None:
        self.get(name, field, source)

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def keys(self):
        return self._items.keys()

    def items(self):
        return self._items.items()

    def values(self):
        return self._items.values()

    def __repr__(self) -> str:
        return f"Names({self.field!r}, {list(self._items)!r})"
