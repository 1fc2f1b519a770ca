"""ray_host_probe: what the ray role reads of a host before changing it, in one call."""

from __future__ import annotations

import http.server
import json
import platform
import socket
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from local_http import serving
from modules import run_module

from ansible_collections.rayfleet.cluster.plugins.modules import ray_host_probe


def probe(tmp_path: Path, **options: Any) -> dict[str, Any]:
    """The probe with this Python, a venv never built, and ``options``."""
    result, _ = run_module(
        "ray_host_probe", python=sys.executable, manifest=str(tmp_path / "none"), **options
    )
    return result


def test_it_reads_python_packages_manifest_and_shm(tmp_path: Path) -> None:
    manifest = tmp_path / "rayfleet-requirements.txt"
    manifest.write_text("ray[default]==X\n")
    result, _ = run_module(
        "ray_host_probe",
        python=sys.executable,
        # dpkg is on every Debian host; the other package is on none.
        packages=["dpkg", "rayfleet-no-such-package"],
        manifest=str(manifest),
    )
    assert not result["changed"]
    assert result["python_version"] == platform.python_version() and result["python_error"] == ""
    assert result["missing_packages"] == ["rayfleet-no-such-package"]
    assert result["manifest"] == "ray[default]==X\n"
    assert result["shm_bytes"] > 0


def test_the_user_as_it_is_home_included() -> None:
    result, _ = run_module(
        "ray_host_probe", python=sys.executable, manifest="/nonexistent", user="root"
    )
    assert result["user"] == {
        "home": "/root",
        "shell": result["user"]["shell"],
        "group": "root",
        "home_exists": True,
    }
    nobody, _ = run_module(
        "ray_host_probe",
        python=sys.executable,
        manifest="/nonexistent",
        user="rayfleet-no-such-user",
    )
    assert nobody["user"] is None


def test_a_python_that_does_not_run_and_a_venv_never_built(tmp_path: Path) -> None:
    result, _ = run_module(
        "ray_host_probe", python=str(tmp_path / "python3"), manifest=str(tmp_path / "none")
    )
    assert result["python_version"] == "" and "No such file" in result["python_error"]
    assert result["manifest"] is None


def test_unit_files_are_those_of_rays_nodes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (
        "ray.service",
        "ray-1.service",
        "ray-gpu.timer",
        "rayfleet-fence.service",
        "redis.service",
    ):
        (tmp_path / name).write_text("")
    # A masked unit is a link to /dev/null: no node of the host.
    (tmp_path / "ray-2.service").symlink_to("/dev/null")
    monkeypatch.setattr(ray_host_probe, "UNIT_DIR", str(tmp_path))
    assert ray_host_probe.unit_files(["ray.service", "ray-*.service"]) == [
        {"path": f"{tmp_path}/ray-1.service"},
        {"path": f"{tmp_path}/ray.service"},
    ]


def test_paths_and_lines_say_whether_never_what(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.env"
    secrets.write_text("RAY_REDIS_PASSWORD=s3cret\n")
    keys = tmp_path / "authorized_keys"
    keys.write_text("ssh-ed25519 AAAA rayfleet-fence\n")
    result = probe(
        tmp_path,
        paths=[str(secrets), str(tmp_path / "auth-token")],
        lines_ending=[
            {"path": str(keys), "text": " rayfleet-fence"},
            {"path": str(secrets), "text": " rayfleet-fence"},
        ],
        lines_starting=[
            {"path": str(secrets), "text": "RAY_REDIS_PASSWORD="},
            {"path": str(keys), "text": "rayfleet-fence"},
            {"path": str(tmp_path / "gone.env"), "text": "RAY_REDIS_PASSWORD="},
        ],
    )
    assert result["present"] == [str(secrets)]
    assert result["lines_found"] == [" rayfleet-fence"]
    assert result["lines_started"] == ["RAY_REDIS_PASSWORD="]
    assert "s3cret" not in json.dumps(result)


def test_it_names_the_c_library_as_getconf_does(tmp_path: Path) -> None:
    result = probe(tmp_path)
    getconf = subprocess.run(
        ["getconf", "GNU_LIBC_VERSION"], capture_output=True, text=True, check=True
    )
    assert result["libc_version"] == getconf.stdout.strip()


class NodesDashboard(http.server.BaseHTTPRequestHandler):
    """Ray's state API with the cluster's token: its nodes, filtered as asked."""

    paths: ClassVar[list[str]] = []
    # In place of the state API's answer, when set.
    body: ClassVar[bytes | None] = None
    nodes: ClassVar[list[dict[str, Any]]] = [
        {"node_ip": "10.0.0.10", "state": "ALIVE", "labels": {}},
        {"node_ip": "10.0.0.11", "state": "ALIVE", "labels": {"rayfleet.io/slot": "1"}},
        {"node_ip": "10.0.0.11", "state": "DEAD", "labels": {"rayfleet.io/slot": "0"}},
    ]

    def do_GET(self) -> None:
        NodesDashboard.paths.append(self.path)
        if self.headers.get("Authorization") != "Bearer t0ken":
            self.send_response(401)
            self.end_headers()
            return
        if NodesDashboard.body is not None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(NodesDashboard.body)
            return
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        wanted = dict(zip(query["filter_keys"], query["filter_values"], strict=True))
        result = [
            node
            for node in self.nodes
            if all(node.get(key) == value for key, value in wanted.items())
        ]
        self.send_response(200)
        self.end_headers()
        self.wfile.write(json.dumps({"data": {"result": {"result": result}}}).encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def dashboard() -> Iterator[str]:
    NodesDashboard.paths.clear()
    NodesDashboard.body = None
    with serving(NodesDashboard) as url:
        yield url


def head_probe(dashboard: str, tmp_path: Path) -> dict[str, Any]:
    """The probe on a head whose token file holds the token the dashboard wants."""
    token = tmp_path / "auth-token"
    token.write_text("t0ken\n")
    return probe(tmp_path, dashboard_url=dashboard, auth_token_file=str(token))


def test_a_head_lists_the_nodes_its_dashboard_has_alive(dashboard: str, tmp_path: Path) -> None:
    result = head_probe(dashboard, tmp_path)
    # Every host's ALIVE nodes, by address and slot: a DEAD node of a slot is not one of them.
    assert result["alive_nodes"] == ["10.0.0.10/0", "10.0.0.11/1"]
    assert len(NodesDashboard.paths) == 1


def test_no_list_without_a_dashboard_that_answers(dashboard: str, tmp_path: Path) -> None:
    common = {"python": sys.executable, "manifest": str(tmp_path / "none")}
    without_url, _ = run_module("ray_host_probe", **common)
    refused, _ = run_module("ray_host_probe", **common, dashboard_url=dashboard)
    unreadable, _ = run_module(
        "ray_host_probe",
        **common,
        dashboard_url=dashboard,
        auth_token_file=str(tmp_path / "no-token"),
    )
    # A port nothing listens on: a head whose Ray does not run yet.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    not_running, _ = run_module(
        "ray_host_probe", **common, dashboard_url=f"http://127.0.0.1:{port}"
    )
    assert [
        result["alive_nodes"] for result in (without_url, refused, unreadable, not_running)
    ] == [None, None, None, None]
    # Asked once, without the token it refused; never with a token file it could not read.
    assert len(NodesDashboard.paths) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"<html>a proxy's page</html>",
        b'{"data": {"result": {}}}',
        b'{"data": {"result": {"result": [{"node_ip": "10.0.0.10", "state": "ALIVE",'
        b' "labels": {"rayfleet.io/slot": "gpu"}}]}}}',
    ],
)
def test_an_answer_that_is_no_node_list_gives_none(
    dashboard: str, tmp_path: Path, body: bytes
) -> None:
    NodesDashboard.body = body
    result = head_probe(dashboard, tmp_path)
    # The probe still answers (the run goes on), with no list: every node is waited on.
    assert result["alive_nodes"] is None
