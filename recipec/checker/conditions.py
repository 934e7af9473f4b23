"""Conditions in `where`, `require` and `if`: nodes -> program.Cond, names checked."""

from __future__ import annotations

from collections.abc import Callable

from recipec import nodes as n
from recipec import program as p
from recipec.checker.context import Context, literal

# Given a reference, return the resolved path or raise Invalid (after reporting).
Resolver = Callable[[n.Ref], tuple[str, ...]]


def condition(ctx: Context, c: n.Condition, resolve: Resolver) -> p.Cond:
    match c:
        case n.Compare(left, op, right):
            return p.Cmp(resolve(left), op, literal(ctx, right))
        case n.Member(left, items):
            return p.In(resolve(left), tuple(literal(ctx, i) for i in items.items))
        case n.Not(item):
            return p.Neg(condition(ctx, item, resolve))
        case n.And(items):
            return p.AllOf(tuple(condition(ctx, i, resolve) for i in items))
        case n.Or(items):
            return p.AnyOf(tuple(condition(ctx, i, resolve) for i in items))
    raise TypeError(c)
