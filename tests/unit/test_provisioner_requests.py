"""What the provisioner takes from its socket: only requests about the pool it serves."""

from __future__ import annotations

import json

import pytest

from rayfleet.autoscaler.requests import (
    MAX_REQUEST_BYTES,
    Create,
    ReadState,
    RequestError,
    SetTags,
    Terminate,
    decode,
    encode,
)

NODE_TYPES = {"small": 2, "big": 1}


def line(**body: object) -> bytes:
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    "request_",
    [
        Create("small", 2, {"ray-launch-request": "r1"}),
        Terminate("small-1-3"),
        SetTags("big-1-1", {"ray-node-status": "up-to-date"}),
        ReadState(),
    ],
)
def test_what_the_provider_sends_comes_back_the_same(
    request_: Create | Terminate | SetTags | ReadState,
) -> None:
    assert decode(encode(request_), NODE_TYPES) == request_


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (line(op="create", node_type="gpu", count=1), "'gpu' is not a node type of the pool"),
        (line(op="create", node_type="small", count=3), "count 3 is not 1 to 2"),
        (line(op="create", node_type="small", count=0), "count 0 is not 1 to 2"),
        (line(op="create", node_type="small", count=True), "count is not a number"),
        (line(op="create", node_type="small", count=1, tags={"a": 1}), "tag 'a' is not a string"),
        (line(op="create", node_type="small", count=1, tags=["a"]), "tags are not a mapping"),
        (line(op="terminate", node_id=""), "node_id is not a string"),
        (line(op="terminate", node_id="x" * 300), "node_id is not a string"),
        (line(op="run", playbook="site.yml"), "unknown operation 'run'"),
        (b"[1, 2]", "a request is a JSON object"),
        (b"{not json", "not JSON"),
        (b" " * (MAX_REQUEST_BYTES + 1), "is over"),
    ],
)
def test_anything_else_is_refused_with_its_reason(raw: bytes, why: str) -> None:
    with pytest.raises(RequestError, match=why):
        decode(raw, NODE_TYPES)
