"""Small value classes without dataclasses: `Value` (equality and repr from the slots) and
`FrozenValue` (the same, immutable and hashable).

Why: creating a dataclass *class* costs 0.3–1 ms (dataclasses `exec`s its `__init__`,
`__repr__`, `__eq__`, frozen `__setattr__`…), and a dozen of them used to be created before
`ask` sends its request and before `chat` shows its prompt (docs/performance.md, "What keeps
it fast"). A plain class with `__slots__` and a hand-written `__init__` costs almost nothing
to create. This is not a general dataclass replacement: a subclass lists its fields in
`__slots__` (sorted, as ruff wants; its repr shows them in that order, a base class's
first), writes its own `__init__` taking each field as a keyword of the same name, and
overrides `_fields()` to leave a field out of equality.

It lives here, at the bottom of the layers (below `errors`), because `local`, `protocol`,
`api`, `tenancy`, `chat` and `repl` all use it and each may import only what is below it.
Stdlib only; imports nothing from meilichat_cli.
"""

from __future__ import annotations

from typing import Any, TypeVar

_V = TypeVar("_V", bound="Value")


class Value:
    """Equal to an object of the same type with equal fields; shown with its fields. Mutable,
    and so unhashable (like a dataclass with `eq=True`)."""

    __slots__: tuple[str, ...] = ()
    # Every field: the slots of the class and of the values it derives from.
    _field_names: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._field_names = tuple(
            name for klass in reversed(cls.__mro__) for name in vars(klass).get("__slots__", ())
        )

    def _fields(self) -> tuple[Any, ...]:
        """What equality (and, for a frozen value, the hash) compares."""
        return tuple(getattr(self, name) for name in self._field_names)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Value)
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._field_names)
        return f"{type(self).__name__}({shown})"

    def replace(self: _V, **changes: Any) -> _V:
        """A copy with `changes` (like `dataclasses.replace`): the subclass's `__init__`
        takes each slot as a keyword of the same name."""
        values = {name: getattr(self, name) for name in self._field_names}
        unknown = set(changes) - set(values)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {sorted(unknown)[0]!r}")
        values.update(changes)
        return type(self)(**values)


class FrozenValue(Value):
    """A `Value` that cannot change once made: assigning an attribute raises AttributeError.
    Hashable from its fields. `__init__` sets the fields with `_set`."""

    __slots__ = ()

    def _set(self, **values: Any) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: {type(self).__name__} is frozen")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: {type(self).__name__} is frozen")

    def __hash__(self) -> int:  # type: ignore[override]
        return hash((type(self), self._fields()))
