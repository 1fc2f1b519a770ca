# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Records and containers as plain dicts and lists, for facts and files."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from typing import Any


def plain(value: Any) -> Any:
    """Records, mappings and sequences as plain dicts and lists, copied item by item.

    Not dataclasses.asdict: it rebuilds each mapping as its own type, and ansible-core
    2.19's containers are not built that way: a lazy one refuses, a tagged one comes out
    without its tags and breaks the JSON encoding of facts (ansible-runner's fact cache).
    """
    if is_dataclass(value) and not isinstance(value, type):
        return {item.name: plain(getattr(value, item.name)) for item in fields(value)}
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value
