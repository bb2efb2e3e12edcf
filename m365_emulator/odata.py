"""The OData query options Graph honours on directory and Places lists: the basics only.

$filter supports `prop eq|ne|gt|ge|lt|le value` and `startswith(prop,'x')` joined by `and`;
anything else answers 400 like Graph does for an unsupported filter.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import GraphError

_CLAUSE = re.compile(r"^\s*([\w/]+)\s+(eq|ne|gt|ge|lt|le)\s+(.+?)\s*$", re.I)
_STARTSWITH = re.compile(r"^\s*startswith\(\s*([\w/]+)\s*,\s*'((?:[^']|'')*)'\s*\)\s*$", re.I)


def _value(raw: str) -> Any:
    if raw.startswith("'") and raw.endswith("'"):
        return raw[1:-1].replace("''", "'")
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    try:
        return int(raw)
    except ValueError:
        raise GraphError(400, "BadRequest", f"Invalid filter clause: '{raw}'.") from None


def _get(item: dict[str, Any], path: str) -> Any:
    value: Any = item
    for part in path.split("/"):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _predicate(clause: str):
    if m := _STARTSWITH.match(clause):
        prop, prefix = m[1], m[2].replace("''", "'").lower()
        return lambda item: str(_get(item, prop) or "").lower().startswith(prefix)
    if m := _CLAUSE.match(clause):
        prop, op, expected = m[1], m[2].lower(), _value(m[3])

        def compare(item: dict[str, Any]) -> bool:
            actual = _get(item, prop)
            if isinstance(actual, str) and isinstance(expected, str):
                actual_cmp, expected_cmp = actual.lower(), expected.lower()
            else:
                actual_cmp, expected_cmp = actual, expected
            if op == "eq":
                return actual_cmp == expected_cmp
            if op == "ne":
                return actual_cmp != expected_cmp
            if actual_cmp is None or expected_cmp is None:
                return False
            return {"gt": actual_cmp > expected_cmp, "ge": actual_cmp >= expected_cmp,
                    "lt": actual_cmp < expected_cmp, "le": actual_cmp <= expected_cmp}[op]
        return compare
    raise GraphError(400, "BadRequest", f"Invalid filter clause: '{clause}'.")


def apply_list_query(items: list[dict[str, Any]], query: dict[str, str], *, page_size: int,
                     select_id: bool = True) -> tuple[list[dict[str, Any]], int | None, int]:
    """Filter, page and project; returns (page, next $skip or None, total after filter)."""
    if query.get("$filter"):
        predicates = [_predicate(c) for c in re.split(r"\s+and\s+", query["$filter"], flags=re.I)]
        items = [i for i in items if all(p(i) for p in predicates)]
    try:
        skip = int(query.get("$skip") or 0)
        top = int(query.get("$top") or page_size)
    except ValueError:
        raise GraphError(400, "BadRequest", "Invalid value for $top or $skip.") from None
    if top < 1 or skip < 0:
        raise GraphError(400, "BadRequest", "Invalid value for $top or $skip.")
    page = items[skip:skip + top]
    next_skip = skip + top if skip + top < len(items) else None
    if query.get("$select"):
        fields = [f.strip() for f in query["$select"].split(",") if f.strip()]
        keep = set(fields) | ({"id"} if select_id else set())
        page = [{k: v for k, v in i.items() if k in keep or k.startswith("@odata.")} for i in page]
    return page, next_skip, len(items)
