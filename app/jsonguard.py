"""Hostile-JSON guard run on every JSON request body before FastAPI parses it.

Python's ``json`` accepts ``NaN``, ``Infinity`` and ``1e999`` (→ ``inf``), which are not JSON,
cannot be stored in a PostgreSQL ``json`` column and poison arithmetic; and it recurses once per
nesting level, so a deeply nested body could exhaust the stack. :func:`check_json` finds the first
such problem and names where it is (``reward.components[0].weight``) and the limit; the middleware
answers it with 422 before any route runs (so nothing is written).
"""

from __future__ import annotations

import json
import math
from typing import Any


class _NonFinite:
    def __init__(self, text: str) -> None:
        self.text = text


def _dotted(path: list[str | int]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out or "body"


def check_json(body: bytes, max_depth: int) -> tuple[str, str] | None:
    """``(field, reason)`` of the first non-finite number or too-deep nesting in ``body``, or of
    malformed JSON (``body``); None when fine."""
    depth_reason = f"JSON nested deeper than {max_depth} levels (max_json_depth)"
    try:
        value = json.loads(body, parse_constant=_NonFinite)
    except RecursionError:
        return "body", depth_reason
    except ValueError as exc:  # malformed JSON, bad UTF-8, an integer of more than 4300 digits
        return "body", f"not valid JSON: {str(exc).splitlines()[0][:200]}"
    stack: list[tuple[Any, list[str | int]]] = [(value, [])]
    while stack:
        v, path = stack.pop()
        if len(path) > max_depth:
            return _dotted(path), depth_reason
        if isinstance(v, _NonFinite) or (isinstance(v, float) and not math.isfinite(v)):
            shown = v.text if isinstance(v, _NonFinite) else repr(v)
            return _dotted(path), f"{shown} is not a finite number (JSON numbers must be finite)"
        if isinstance(v, dict):
            stack.extend((item, [*path, str(k)]) for k, item in v.items())
        elif isinstance(v, list):
            stack.extend((item, [*path, i]) for i, item in enumerate(v))
    return None


def long_string(value: Any, limit: int, path: str) -> str | None:
    """The dotted path of the first string longer than ``limit`` characters inside ``value``."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        v, where = stack.pop()
        if isinstance(v, str) and len(v) > limit:
            return where
        if isinstance(v, dict):
            stack.extend((item, f"{where}.{k}") for k, item in v.items())
        elif isinstance(v, list):
            stack.extend((item, f"{where}[{i}]") for i, item in enumerate(v))
    return None
