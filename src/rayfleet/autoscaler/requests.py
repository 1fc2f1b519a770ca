"""What the node provider may ask the provisioner, and the checks each request passes.

The provider runs inside Ray's monitor as ray, like every job: anything that can talk to the
provisioner's socket is to be read as a job. So a request names only a node type of the
pool, a count the pool can hold, a node id, and Ray's own string tags, or asks for the pool
state; the provisioner chooses the hosts and runs the playbooks. Pure functions: pytest
imports them directly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_REQUEST_BYTES = 64 * 1024
MAX_TAGS = 64
MAX_TEXT = 256


class RequestError(ValueError):
    """A request the provisioner refuses; the text says why."""


@dataclass(frozen=True)
class Create:
    node_type: str
    count: int
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Terminate:
    node_id: str


@dataclass(frozen=True)
class SetTags:
    node_id: str
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReadState:
    """The pool state, which only the provisioner's user may read from its file."""


Request = Create | Terminate | SetTags | ReadState


def encode(request: Request) -> bytes:
    """One JSON line."""
    if isinstance(request, Create):
        body: dict[str, Any] = {
            "op": "create",
            "node_type": request.node_type,
            "count": request.count,
            "tags": dict(request.tags),
        }
    elif isinstance(request, Terminate):
        body = {"op": "terminate", "node_id": request.node_id}
    elif isinstance(request, ReadState):
        body = {"op": "state"}
    else:
        body = {"op": "set_tags", "node_id": request.node_id, "tags": dict(request.tags)}
    return json.dumps(body).encode() + b"\n"


def decode(line: bytes, node_types: Mapping[str, int]) -> Request:
    """The request in ``line``, checked against the pool (``node_types``: type to host count)."""
    if len(line) > MAX_REQUEST_BYTES:
        raise RequestError(f"a request of {len(line)} bytes is over {MAX_REQUEST_BYTES}")
    try:
        body = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RequestError(f"not JSON: {error}") from error
    if not isinstance(body, dict):
        raise RequestError("a request is a JSON object")
    operation = body.get("op")
    if operation == "create":
        node_type = _text(body, "node_type")
        if node_type not in node_types:
            raise RequestError(f"{node_type!r} is not a node type of the pool")
        count = body.get("count")
        if not isinstance(count, int) or isinstance(count, bool):
            raise RequestError("count is not a number")
        if not 1 <= count <= node_types[node_type]:
            raise RequestError(
                f"count {count} is not 1 to {node_types[node_type]}, the hosts of {node_type}"
            )
        return Create(node_type, count, _tags(body))
    if operation == "terminate":
        return Terminate(_text(body, "node_id"))
    if operation == "set_tags":
        return SetTags(_text(body, "node_id"), _tags(body))
    if operation == "state":
        return ReadState()
    raise RequestError(f"unknown operation {operation!r}")


def _text(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT:
        raise RequestError(f"{name} is not a string of 1 to {MAX_TEXT} characters")
    return value


def _tags(body: Mapping[str, Any]) -> dict[str, str]:
    tags = body.get("tags", {})
    if not isinstance(tags, dict) or len(tags) > MAX_TAGS:
        raise RequestError(f"tags are not a mapping of at most {MAX_TAGS} entries")
    for key, value in tags.items():
        if not isinstance(value, str) or len(key) > MAX_TEXT or len(value) > MAX_TEXT:
            raise RequestError(f"tag {key[:MAX_TEXT]!r} is not a string of at most {MAX_TEXT}")
    return dict(tags)
