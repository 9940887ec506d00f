"""The core dataclasses to and from JSON-able dicts.

Encoding is generic (fields by name, tuples as lists, nested dataclasses as
dicts).  Decoding is driven by each class's type hints, resolved once per
class: ``tuple[Message, ...]`` becomes a tuple of ``Message``, ``Usage | None``
stays None or becomes a ``Usage``, ``dict[str, float]`` is copied.  Keys the
class does not know are ignored and missing keys take the field default, so
a session written by an older or newer version still opens.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from functools import cache
from typing import Any, Callable, TypeVar

T = TypeVar("T")
Converter = Callable[[Any], Any]


# Most values are these; they pass through before any other check (a call
# record is encoded for every call a run makes).
_SCALARS = frozenset({str, int, float, bool, type(None)})


def encode(obj: Any) -> dict:
    """A dataclass instance as a fresh JSON-able dict."""
    return {name: _plain(getattr(obj, name)) for name in _field_names(type(obj))}  # type: ignore[arg-type]  # a class is hashable; mypy does not see type[...] as Hashable


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _plain(value: Any) -> Any:
    kind = type(value)
    if kind in _SCALARS:
        return value
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(kind):
        return encode(value)
    return value


def decode(cls: type[T], data: dict) -> T:
    """Rebuild ``cls`` from what :func:`encode` produced."""
    names, converters = _plan(cls)  # type: ignore[arg-type]  # as above
    kwargs = {name: data[name] for name in names if name in data}
    for name, convert in converters:
        if name in kwargs:
            kwargs[name] = convert(kwargs[name])
    return cls(**kwargs)


@cache
def _plan(cls: type) -> tuple[tuple[str, ...], tuple[tuple[str, Converter], ...]]:
    """The init fields of ``cls``, and converters for those that are not taken as they are."""
    hints = typing.get_type_hints(cls)
    names = tuple(f.name for f in dataclasses.fields(cls) if f.init)
    converters = tuple((n, c) for n in names if (c := _converter(hints[n])) is not _identity)
    return names, converters


def _identity(value: Any) -> Any:
    return value


def _converter(hint: Any) -> Converter:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return lambda value: decode(typing.cast(type, hint), value)  # a hint is a class, never an instance
    if origin is tuple:
        item = _converter(args[0]) if args else _identity
        if item is _identity:
            return tuple
        return lambda value: tuple(item(v) for v in value)
    if origin is list:
        item = _converter(args[0]) if args else _identity
        return list if item is _identity else (lambda value: [item(v) for v in value])
    if origin is dict:
        item = _converter(args[1]) if args else _identity
        if item is _identity:
            return dict  # a copy, never shared with the store
        return lambda value: {k: item(v) for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        inner = _converter(options[0]) if len(options) == 1 else _identity
        if inner is _identity:
            return _identity  # str | None and the like
        return lambda value: None if value is None else inner(value)
    return _identity  # str, int, float, bool, Literal[...]
