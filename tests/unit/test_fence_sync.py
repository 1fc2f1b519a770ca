"""The head tells every host of the cluster which pool hosts joined, as they join and leave.

Driven through record.py (a join and a leave by hand) with an ``ssh`` on PATH that records
whom it was asked to tell what; molecule/autoscaler shows the real thing on lab hosts.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from rayfleet.autoscaler.fence import joined_hosts
from rayfleet.autoscaler.record import main
from rayfleet.autoscaler.state import HostRecord, Status

# The head and a static worker, two pool hosts; no-fw runs no rayfleet firewall.
FENCED = {"head": 22, "cpu-1": 2222, "small-1": 22, "small-2": 22}


@pytest.fixture
def config(tmp_path: Path, write_autoscaling_config: Callable[..., Path]) -> Path:
    path = write_autoscaling_config(
        tmp_path,
        static=[
            {"name": "cpu-1", "node_type": "cpu", "ip": "10.0.0.11"},
            {"name": "no-fw", "node_type": "cpu", "ip": "10.0.0.12"},
        ],
        fence={"key": "/etc/rayfleet/autoscaler/ssh/fence_ed25519", "hosts": FENCED},
    )
    (tmp_path / "state").mkdir()
    return path


@pytest.fixture
def ssh_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the fake ssh appends its arguments; it fails for hosts listed in ``unreachable``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "ssh-calls"
    script = bin_dir / "ssh"
    script.write_text(
        "#!/bin/sh\n"
        f"for target in $(cat {tmp_path}/unreachable 2>/dev/null); do\n"
        '  case " $* " in *" root@$target "*) echo "connection refused" >&2; exit 255;; esac\n'
        "done\n"
        f'printf "%s\\n" "$*" >> {log}\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def told(log: Path) -> dict[str, list[str]]:
    """The list each host was told, by address, from the calls since the last look."""
    calls = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    result = {}
    for call in calls:
        words = call.split()
        target = next(word for word in words if word.startswith("root@"))
        port = words[words.index("-p") + 1]
        result[f"{target.removeprefix('root@')}:{port}"] = words[words.index(target) + 2 :]
    return result


def record(config: Path, status: str, host: str) -> None:
    assert main(["--config", str(config), status, host]) == 0


def test_a_join_lets_the_host_in_everywhere_before_it_starts_and_a_leave_shuts_it_out(
    config: Path, ssh_calls: Path
) -> None:
    record(config, "launching", "small-1")
    # The static members, and the joining host itself; never the host without the firewall.
    assert told(ssh_calls) == {
        "10.0.0.10:22": ["10.0.0.21"],
        "10.0.0.11:2222": ["10.0.0.21"],
        "10.0.0.21:22": ["10.0.0.21"],
    }
    record(config, "launching", "small-2")
    assert told(ssh_calls) == {
        address: ["10.0.0.21", "10.0.0.22"]
        for address in ("10.0.0.10:22", "10.0.0.11:2222", "10.0.0.21:22", "10.0.0.22:22")
    }
    # Running: the members are the same, so nobody needs telling.
    record(config, "running", "small-1")
    assert told(ssh_calls) == {}
    record(config, "free", "small-1")
    # The host that left runs no Ray: it is not told, the others shut it out.
    assert told(ssh_calls) == {
        address: ["10.0.0.22"] for address in ("10.0.0.10:22", "10.0.0.11:2222", "10.0.0.22:22")
    }


def test_a_host_that_could_not_be_told_is_told_at_the_next_change(
    config: Path, ssh_calls: Path, tmp_path: Path
) -> None:
    (tmp_path / "unreachable").write_text("10.0.0.11\n")
    record(config, "launching", "small-1")
    assert "10.0.0.11:2222" not in told(ssh_calls)
    (tmp_path / "unreachable").unlink()
    record(config, "running", "small-1")
    assert told(ssh_calls) == {"10.0.0.11:2222": ["10.0.0.21"]}


def test_the_call_uses_the_fence_key_alone_and_checks_host_keys(
    config: Path, ssh_calls: Path, tmp_path: Path
) -> None:
    record(config, "launching", "small-1")
    call = ssh_calls.read_text().splitlines()[0].split()
    assert call[call.index("-i") + 1] == "/etc/rayfleet/autoscaler/ssh/fence_ed25519"
    options = [call[index + 1] for index, word in enumerate(call) if word == "-o"]
    assert "BatchMode=yes" in options
    assert "IdentitiesOnly=yes" in options
    assert f"UserKnownHostsFile={tmp_path / 'state' / 'known_hosts'}" in options


def test_what_each_host_was_told_is_the_provisioners_alone(
    config: Path, ssh_calls: Path, tmp_path: Path
) -> None:
    record(config, "launching", "small-1")
    told_file = tmp_path / "state" / "fence.json"
    assert stat.S_IMODE(told_file.stat().st_mode) == 0o600
    assert json.loads(told_file.read_text())["head"] == ["10.0.0.21"]


def test_a_host_that_joins_again_is_told_again(config: Path, ssh_calls: Path) -> None:
    for status, host in [
        ("launching", "small-1"),
        ("launching", "small-2"),
        ("free", "small-2"),
        ("free", "small-1"),
        ("launching", "small-1"),
    ]:
        record(config, status, host)
    told(ssh_calls)
    # small-2 last heard this very list, two joins ago; its firewall may have been reset since.
    record(config, "launching", "small-2")
    assert told(ssh_calls)["10.0.0.22:22"] == ["10.0.0.21", "10.0.0.22"]


def test_a_host_whose_join_or_leave_failed_is_shut_out_while_it_leaves() -> None:
    state = {
        "member": HostRecord(status=Status.RUNNING, node_id="member-1"),
        "draining": HostRecord(status=Status.TERMINATING, node_id="draining-1"),
        "failed-join": HostRecord(status=Status.TERMINATING, failed_join=True),
        "failed-leave": HostRecord(status=Status.TERMINATING, retry_at=100.0),
        "quarantined": HostRecord(status=Status.QUARANTINED),
    }
    # A first leave drains through the cluster; a host that failed takes no part in it.
    assert joined_hosts(state) == ["draining", "member"]
