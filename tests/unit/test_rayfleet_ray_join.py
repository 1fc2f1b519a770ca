"""rayfleet-ray-join: a pool host's quick join, which refuses unless the host is as sealed.

Real files in a temporary directory; systemd, nft and the process table are the host's, so
the tests give the helper what they would answer.
"""

from __future__ import annotations

import io
import json
import os
import socket
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from role_files import load_role_file

join_helper = load_role_file("ray", "rayfleet_ray_join")

TOKEN = "f" * 64
ENVIRONMENT = (
    "# Ansible managed\nRAY_CLOUD_INSTANCE_ID=small-1-1\nRAY_AUTH_MODE=token\nRAY_foo=bar\n"
)


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A sealed node whose unit is stopped, and what its systemctl calls were."""
    config = tmp_path / "etc-ray"
    config.mkdir()
    files = {
        "labels": config / "labels.yaml",
        "environment": config / "ray.env",
        "unit": tmp_path / "ray.service",
        "secrets": config / "secrets.env",
        "token": config / "auth-token",
    }
    files["labels"].write_text("rayfleet.io/group: pool_small\n")
    files["environment"].write_text(ENVIRONMENT)
    files["environment"].chmod(0o600)
    files["unit"].write_text("[Service]\nExecStart=/opt/ray/bin/ray start --block\n")
    files["secrets"].write_text("")
    files["token"].write_text(TOKEN)
    files["token"].chmod(0o640)
    monkeypatch.setattr(join_helper, "SEAL_FILE", config / "join-seal.json")
    monkeypatch.setattr(join_helper, "LOCK_FILE", tmp_path / "join.lock")
    monkeypatch.setattr(join_helper.os, "geteuid", lambda: 0)
    monkeypatch.setattr(join_helper.signal, "alarm", lambda seconds: 0)
    host: dict[str, Any] = {
        "unit": {"LoadState": "loaded", "ActiveState": "inactive", "UnitFileState": "disabled"},
        "processes": 0,
        "firewall": True,
        "facts": {"memtotal_kb": 8_000_000, "cpus": 4, "shm_bytes": 1 << 30},
        "local": True,
        "systemctl": [],
    }
    monkeypatch.setattr(join_helper, "unit_state", lambda service: dict(host["unit"]))
    monkeypatch.setattr(join_helper, "user_processes", lambda user: host["processes"])
    monkeypatch.setattr(join_helper, "firewall_loaded", lambda: host["firewall"])
    monkeypatch.setattr(join_helper, "host_facts", lambda user: dict(host["facts"]))
    monkeypatch.setattr(join_helper, "address_is_local", lambda address: host["local"])

    def systemctl(argv: list[str], check: bool) -> subprocess.CompletedProcess[str]:
        host["systemctl"].append(argv[1])
        return subprocess.CompletedProcess(argv, 0)

    monkeypatch.setattr(join_helper.subprocess, "run", systemctl)
    join_helper.seal(
        {
            "fingerprint": "fp-1",
            "service": "ray",
            "user": "ray",
            "files": [str(files[name]) for name in ("labels", "environment", "unit", "secrets")],
            "environment_file": str(files["environment"]),
            "token_file": str(files["token"]),
            "node_ip": "10.0.0.21",
            "firewall": True,
        }
    )
    return {"files": files, "host": host}


def request(**changes: Any) -> dict[str, Any]:
    return {
        "fingerprint": "fp-1",
        "node_id": "small-1-2",
        "node_ip": "10.0.0.21",
        "token": TOKEN,
        "not_after": time.time() + 50,
        **changes,
    }


def snapshot(files: dict[str, Path]) -> dict[str, tuple[bytes, int]]:
    return {name: (path.read_bytes(), path.stat().st_mode) for name, path in files.items()}


def test_a_sealed_host_joins_with_its_new_node_id_and_the_token(node: dict[str, Any]) -> None:
    files, host = node["files"], node["host"]
    mode = files["environment"].stat().st_mode
    join_helper.join(request(token="e" * 64))
    assert files["environment"].read_text() == ENVIRONMENT.replace("small-1-1", "small-1-2")
    assert files["environment"].stat().st_mode == mode
    assert files["token"].read_text() == "e" * 64
    assert stat.S_IMODE(files["token"].stat().st_mode) == 0o640
    # Started before it is enabled: enabling reloads systemd, which the node need not wait for.
    assert host["systemctl"] == ["start", "enable"]
    # The seal still holds: the node id is no part of it, so the next join is quick too.
    host["unit"]["ActiveState"] = "inactive"
    assert join_helper.host_refusal(json.loads(join_helper.SEAL_FILE.read_text())) is None


def test_the_seal_is_roots_alone_and_holds_no_token(node: dict[str, Any]) -> None:
    sealed = join_helper.SEAL_FILE
    assert stat.S_IMODE(sealed.stat().st_mode) == 0o600
    assert TOKEN not in sealed.read_text()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda files, host: host["unit"].update(ActiveState="active"), "ray is active"),
        (lambda files, host: host["unit"].update(UnitFileState="enabled"), "ray is enabled"),
        (lambda files, host: host.update(processes=2), "processes of it still run"),
        (lambda files, host: host.update(processes=None), "ray is gone"),
        (lambda files, host: host.update(firewall=False), "firewall is not loaded"),
        (lambda files, host: host["facts"].update(cpus=8), "memory, CPUs, /dev/shm"),
        (lambda files, host: host.update(local=False), "no longer holds 10.0.0.21"),
        (
            lambda files, host: files["labels"].write_text("rayfleet.io/group: edited\n"),
            "files changed",
        ),
        (
            lambda files, host: files["environment"].write_text(ENVIRONMENT + "RAY_x=1\n"),
            "files changed",
        ),
        (lambda files, host: files["unit"].chmod(0o666), "files changed"),
        (lambda files, host: files["token"].chmod(0o644), "files changed"),
        (lambda files, host: files["secrets"].unlink(), "files changed"),
    ],
)
def test_a_host_not_as_sealed_is_refused_and_left_untouched(
    node: dict[str, Any], change: Any, reason: str
) -> None:
    files, host = node["files"], node["host"]
    change(files, host)
    before = snapshot({name: path for name, path in files.items() if path.exists()})
    with pytest.raises(join_helper.RefusedError, match=reason):
        join_helper.join(request())
    assert snapshot({name: path for name, path in files.items() if path.exists()}) == before
    assert host["systemctl"] == []


def test_the_token_content_is_no_part_of_the_seal(node: dict[str, Any]) -> None:
    node["files"]["token"].write_text("0" * 64)
    join_helper.join(request())
    assert node["host"]["systemctl"] == ["start", "enable"]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"fingerprint": "fp-2"}, "inventory or release changed"),
        ({"node_ip": "10.0.0.99"}, "knows the node as 10.0.0.99, not 10.0.0.21"),
        ({"node_id": "small-1-2\n"}, "not a plain name"),
        ({"node_id": "small-1-2\nRAY_ADDRESS=evil:1"}, "not a plain name"),
        ({"node_id": 'small "1"'}, "not a plain name"),
        ({"node_id": 7}, "not a plain name"),
        ({"token": None}, "token"),
        ({"token": ""}, "token"),
        ({"token": "a\nb"}, "token"),
        # The provisioner has given up on the call: starting now could race its leave.
        ({"not_after": time.time() - 1}, "stopped waiting"),
        ({"not_after": None}, "stopped waiting"),
    ],
)
def test_a_request_that_does_not_fit_the_seal_is_refused(
    node: dict[str, Any], changes: dict[str, Any], reason: str
) -> None:
    before = snapshot(node["files"])
    with pytest.raises(join_helper.RefusedError, match=reason):
        join_helper.join(request(**changes))
    assert snapshot(node["files"]) == before


def test_a_host_never_sealed_is_refused(node: dict[str, Any]) -> None:
    join_helper.SEAL_FILE.unlink()
    with pytest.raises(join_helper.RefusedError, match="no full join has sealed"):
        join_helper.join(request())
    join_helper.SEAL_FILE.write_text('{"v": 0}')
    with pytest.raises(join_helper.RefusedError, match="another version"):
        join_helper.join(request())


def test_an_environment_file_without_one_node_id_line_is_refused_before_any_write(
    node: dict[str, Any],
) -> None:
    files = node["files"]
    files["environment"].write_text(ENVIRONMENT + "RAY_CLOUD_INSTANCE_ID=x\n")
    # Sealed as it is now: only the second node id line stands in the way.
    join_helper.seal({**json.loads(join_helper.SEAL_FILE.read_text()), "firewall": True})
    before = snapshot(files)
    with pytest.raises(join_helper.RefusedError, match="2 RAY_CLOUD_INSTANCE_ID lines"):
        join_helper.join(request(token="e" * 64))
    assert snapshot(files) == before


def test_a_seal_is_written_only_when_it_changes(
    node: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sealed = json.loads(join_helper.SEAL_FILE.read_text())
    asked = {key: sealed[key] for key in ("fingerprint", "service", "user", "files")}
    asked |= {key: sealed[key] for key in ("environment_file", "token_file", "node_ip")}
    asked["firewall"] = True
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(asked)))
    assert join_helper.main(["seal"]) == 0
    assert capsys.readouterr().out == "unchanged\n"
    node["host"]["facts"]["cpus"] = 8
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(asked)))
    assert join_helper.main(["seal"]) == 0
    assert capsys.readouterr().out == "changed\n"
    assert json.loads(join_helper.SEAL_FILE.read_text())["facts"]["cpus"] == 8


def test_an_environment_without_exactly_one_node_id_is_refused() -> None:
    with pytest.raises(join_helper.RefusedError, match="0 RAY_CLOUD_INSTANCE_ID lines"):
        join_helper.with_node_id("RAY_x=1\n", "small-1-2")
    twice = "RAY_CLOUD_INSTANCE_ID=a\nRAY_CLOUD_INSTANCE_ID=b\n"
    with pytest.raises(join_helper.RefusedError, match="2 RAY_CLOUD_INSTANCE_ID lines"):
        join_helper.with_node_id(twice, "small-1-2")


def test_over_the_command_line_a_refusal_exits_3_and_never_prints_the_token(
    node: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(request(fingerprint="fp-2"))))
    assert join_helper.main(["join"]) == join_helper.REFUSED
    err = capsys.readouterr().err
    assert "refused: the provisioner's inventory or release changed" in err
    assert TOKEN not in err
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(request())))
    assert join_helper.main(["join"]) == 0
    for argv, stdin in ((["start"], "{}"), (["join"], "[1]"), (["join"], "not json")):
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        assert join_helper.main(argv) == 2
    monkeypatch.setattr(join_helper.os, "geteuid", lambda: 1000)
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(request())))
    assert join_helper.main(["join"]) == 2
    assert "only root" in capsys.readouterr().err


def test_an_address_is_local_only_where_the_host_holds_it() -> None:
    assert join_helper.address_is_local("127.0.0.1")
    # TEST-NET-1 (RFC 5737): no host holds it.
    assert not join_helper.address_is_local("192.0.2.1")


def test_a_kernel_without_ipv6_has_no_ipv6_route(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.socket

    def no_ipv6(family: int = socket.AF_INET, *args: Any) -> socket.socket:
        if family == socket.AF_INET6:
            raise OSError(97, "Address family not supported by protocol")
        return real(family, *args)

    monkeypatch.setattr(join_helper.socket, "socket", no_ipv6)
    assert join_helper.route_source(socket.AF_INET6, "2001:4860:4860::8888") is None
    assert join_helper.host_facts("root")["routes"][1] is None


def test_an_unchanged_seal_is_made_roots_alone_again(node: dict[str, Any]) -> None:
    sealed = json.loads(join_helper.SEAL_FILE.read_text())
    join_helper.SEAL_FILE.chmod(0o644)
    asked = {**sealed, "firewall": True}
    assert join_helper.seal(asked) is False
    assert stat.S_IMODE(join_helper.SEAL_FILE.stat().st_mode) == 0o600


def test_the_facts_are_this_hosts() -> None:
    facts = join_helper.host_facts("root")
    assert facts["cpus"] == os.cpu_count()
    assert facts["memtotal_kb"] > 0 and facts["shm_bytes"] > 0
    assert facts["user"][:3] == [0, 0, "/root"]
    assert join_helper.host_facts("no-such-user-here")["user"] is None
