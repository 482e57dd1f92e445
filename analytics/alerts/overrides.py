"""Per-site overrides of rule parameters, as the API persists them (JSON).

Shape: ``{rule_id: {param: value}}``, e.g.::

    {"barn.thi": {"levels": [68, 72, 80], "min_duration_s": 900},
     "device.battery_low": {"enabled": false}}

JSON values are coerced to the field types (lists -> tuples/frozensets, strings -> enums,
ints -> floats); anything else — unknown rule, unknown or read-only parameter, wrong type, a
value the rule's own validation rejects — raises ``ValueError`` naming the rule and parameter.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any, TypeAlias

from analytics.alerts.rules import Rule

__all__ = ["READ_ONLY_PARAMS", "RuleOverrides", "apply_overrides", "overridable_params"]

RuleOverrides: TypeAlias = Mapping[str, Mapping[str, Any]]
"""``{rule_id: {param: value}}`` (JSON-compatible values)."""

READ_ONLY_PARAMS = frozenset({"id", "source"})
"""Parameters an override may not change."""


def overridable_params(rule: Rule) -> dict[str, Any]:
    """Parameter name -> resolved type of every field an override may set on ``rule``."""
    hints = typing.get_type_hints(type(rule))
    return {f.name: hints[f.name] for f in dataclasses.fields(rule)
            if f.name not in READ_ONLY_PARAMS}


def _coerce(tp: Any, value: Any, where: str) -> Any:
    """``value`` (from JSON) as type ``tp``; ``ValueError`` when it does not fit."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, where)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError("; ".join(errors))
    if origin in (tuple, frozenset):
        if not isinstance(value, list | tuple | set | frozenset):
            raise ValueError(f"{where}: expected a list, got {value!r}")
        (item_tp, *_) = typing.get_args(tp)
        items = [_coerce(item_tp, v, f"{where}[]") for v in value]
        return tuple(items) if origin is tuple else frozenset(items)
    if tp is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{where}: expected an integer, got {value!r}")
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{where}: expected an integer, got {value!r}")
        return int(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ValueError(f"{where}: expected a string, got {value!r}")
        return value
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(value)
        except ValueError:
            allowed = [e.value for e in tp]
            raise ValueError(f"{where}: expected one of {allowed}, got {value!r}") from None
    raise ValueError(f"{where}: unsupported parameter type {tp!r}")


def _override_one(rule: Rule, params: Mapping[str, Any]) -> Rule:
    if not isinstance(params, Mapping):
        raise ValueError(f"rule {rule.id}: overrides must be an object, got {params!r}")
    fields = overridable_params(rule)
    changes: dict[str, Any] = {}
    for name, value in params.items():
        if name in READ_ONLY_PARAMS:
            raise ValueError(f"rule {rule.id}: parameter {name!r} cannot be overridden")
        if name not in fields:
            raise ValueError(
                f"rule {rule.id}: unknown parameter {name!r}; known: {sorted(fields)}")
        changes[name] = _coerce(fields[name], value, f"rule {rule.id}: {name}")
    try:
        return dataclasses.replace(rule, **changes)
    except TypeError as exc:  # defensive: replace() rejects a field combination
        raise ValueError(f"rule {rule.id}: {exc}") from exc


def apply_overrides(rules: Iterable[Rule], overrides: RuleOverrides) -> tuple[Rule, ...]:
    """``rules`` with ``overrides`` applied (``dataclasses.replace`` by rule id), order kept.

    :raises ValueError: unknown rule id or parameter, a read-only parameter, a value of the
        wrong type, or a combination the rule rejects (e.g. CLEAR beyond SET).
    """
    rules = tuple(rules)
    known = {r.id for r in rules}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown rule ids in overrides: {unknown}")
    return tuple(_override_one(r, overrides[r.id]) if r.id in overrides else r for r in rules)
