"""rayfleet's HTTP clients and Ray's token authentication: the token file and the header."""

from __future__ import annotations

import http.server
import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from local_http import serving

from ansible_collections.rayfleet.cluster.plugins.module_utils.ray_auth import (
    TokenError,
    auth_headers,
    read_token,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.ray_health import (
    http_get,
    listed_nodes,
    nodes_query_path,
)

TOKEN = "0123abcd" * 8


class TokenCheckingDashboard(http.server.BaseHTTPRequestHandler):
    """Answers as Ray's dashboard does with RAY_AUTH_MODE=token: 401, 403 or the nodes."""

    def do_GET(self) -> None:
        header = self.headers.get("Authorization")
        if header is None:
            self._answer(401, "Unauthorized: Missing authentication token")
        elif header != f"Bearer {TOKEN}":
            self._answer(403, "Forbidden: Invalid authentication token")
        else:
            result = [{"node_id": "n1", "node_ip": "10.0.0.11", "state": "ALIVE"}]
            self._answer(200, json.dumps({"data": {"result": {"result": result}}}))

    def _answer(self, status: int, body: str) -> None:
        self.send_response(status)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def dashboard() -> Iterator[str]:
    with serving(TokenCheckingDashboard) as url:
        yield url


def token_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "auth-token"
    path.write_text(text)
    return str(path)


def test_the_token_is_read_without_its_newline(tmp_path: Path) -> None:
    assert read_token(token_file(tmp_path, TOKEN + "\n")) == TOKEN


@pytest.mark.parametrize("text", ["", "  \n"])
def test_an_empty_token_file_is_refused_by_name(tmp_path: Path, text: str) -> None:
    path = token_file(tmp_path, text)
    with pytest.raises(TokenError, match=f"token file {path} is empty"):
        read_token(path)


def test_a_missing_token_file_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(TokenError, match=f"cannot read Ray's token file {tmp_path}/none"):
        read_token(str(tmp_path / "none"))


def test_a_cluster_without_auth_gets_no_header() -> None:
    assert auth_headers(None) == {}


def test_the_dashboard_answers_with_the_token_only(dashboard: str, tmp_path: Path) -> None:
    url = dashboard + nodes_query_path("10.0.0.11", "ALIVE")
    without = http_get(url, 5)
    wrong = http_get(url, 5, {"Authorization": "Bearer nope"})
    right = http_get(url, 5, auth_headers(token_file(tmp_path, TOKEN)))
    assert (without.ok, without.detail) == (
        False,
        "HTTP 401 Unauthorized: Missing authentication token",
    )
    assert (wrong.ok, wrong.detail) == (False, "HTTP 403 Forbidden: Invalid authentication token")
    assert right.ok
    assert [node["node_id"] for node in listed_nodes(right.body)] == ["n1"]


def test_the_node_query_filters_by_address_and_state() -> None:
    path, _, query = nodes_query_path("10.0.0.11", "DEAD").partition("?")
    assert path == "/api/v0/nodes"
    assert urllib.parse.parse_qs(query) == {
        "detail": ["false"],
        "filter_keys": ["node_ip", "state"],
        "filter_predicates": ["=", "="],
        "filter_values": ["10.0.0.11", "DEAD"],
    }
