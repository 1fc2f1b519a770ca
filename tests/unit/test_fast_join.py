"""The provisioner's side of a quick join: how it reaches the host, what it sends, how it waits.

A stand-in ssh on PATH records what it was given and answers as rayfleet-ray-join would;
a local HTTP server answers as the head's dashboard. The helper itself is tested in
test_rayfleet_ray_join.py, and both together on lab hosts in molecule/autoscaler.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar
from unittest import mock

import pytest
import yaml

from ansible_collections.rayfleet.cluster.plugins.module_utils.names import (
    JOIN_COMMAND,
    JOIN_FINGERPRINT_VAR,
)
from rayfleet.autoscaler import fast_join, members_inventory
from rayfleet.autoscaler.launcher import PlaybookLauncher
from rayfleet.autoscaler.run_lock import ProvisionerRunLock
from rayfleet.autoscaler.settings import ProviderSettings
from rayfleet.autoscaler.state import HostRecord, Status

TOKEN = "c" * 64
# Answers FAKE_RC (after FAKE_SLEEP s); where that is 0 it "starts" the node, which the
# dashboard lists then.
FAKE_SSH = """#!/bin/sh
printf '%s\\n' "$@" > "$FAKE_DIR/argv"
cat > "$FAKE_DIR/stdin"
sleep "${FAKE_SLEEP:-0}"
[ -n "$FAKE_ERR" ] && echo "$FAKE_ERR" >&2
[ "${FAKE_RC:-0}" = 0 ] && touch "$FAKE_DIR/started"
exit "${FAKE_RC:-0}"
"""


class Dashboard(http.server.BaseHTTPRequestHandler):
    """The state API's node list: a node at each address of ``alive`` once the stand-in ssh
    started it, and the nodes of ``stale`` (address to node id) all along."""

    alive: ClassVar[set[str]] = set()
    stale: ClassVar[dict[str, str]] = {}
    started: ClassVar[Path] = Path("/nonexistent")
    body: ClassVar[str | None] = None
    tokens: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        Dashboard.tokens.append(self.headers.get("Authorization"))
        listed = [{"node_ip": ip, "node_id": node} for ip, node in Dashboard.stale.items()]
        if Dashboard.started.exists():
            listed += [{"node_ip": ip, "node_id": "new"} for ip in sorted(Dashboard.alive)]
        wanted = [{**node, "state": "ALIVE"} for node in listed if node["node_ip"] in self.path]
        text = Dashboard.body or json.dumps({"data": {"result": {"result": wanted}}})
        body = text.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def dashboard() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Dashboard)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Dashboard.alive, Dashboard.stale, Dashboard.tokens, Dashboard.body = set(), {}, [], None
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def pool_vars(**extra: Any) -> dict[str, Any]:
    return {"ansible_host": "192.0.2.21", "ansible_port": 2222, "ansible_user": "deploy", **extra}


def make_settings(
    tmp_path: Path, dashboard: str, host_vars: dict[str, Any] | None = None
) -> ProviderSettings:
    state_dir = tmp_path / "state"
    state_dir.mkdir(exist_ok=True)
    inventory = tmp_path / "inventory.yml"
    workers = {"pool_small": {"hosts": {"small-1": host_vars or pool_vars(ansible_become=True)}}}
    inventory.write_text(
        yaml.safe_dump({"all": {"children": {"ray_workers": {"children": workers}}}})
    )
    (tmp_path / "release-1").mkdir(exist_ok=True)
    (tmp_path / "current").unlink(missing_ok=True)
    (tmp_path / "current").symlink_to("release-1")
    (tmp_path / "ansible.cfg").write_text(
        "[defaults]\nprivate_key_file = /etc/rayfleet/autoscaler/ssh/id_ed25519\n"
        f"collections_path = {tmp_path / 'current'}\nforks = 10\n"
    )
    settings = ProviderSettings.from_provider_config(
        {
            "rayfleet": {
                "state_dir": str(state_dir),
                "ansible_config": str(tmp_path / "ansible.cfg"),
                "socket": str(tmp_path / "p.sock"),
                "inventory": str(inventory),
                "head": {"name": "head", "node_type": "head", "ip": "10.0.0.10"},
                "pool": [{"name": "small-1", "node_type": "pool_small", "ip": "10.0.0.21"}],
                "quarantine_base_s": 60,
                "quarantine_max_s": 3600,
                "playbook_timeout_s": 600,
                "dashboard_url": dashboard,
                "start_timeout_s": 1,
            }
        },
        "lab",
    )
    state = {"small-1": HostRecord(status=Status.LAUNCHING, node_id="small-1-3", allocations=3)}
    members_inventory.write(settings, state)
    return settings


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """The stand-in ssh and the head's token file; ``answer`` sets what the helper says."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text(FAKE_SSH)
    (bin_dir / "ssh").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_DIR", str(tmp_path))
    token_file = tmp_path / "auth-token"
    token_file.write_text(TOKEN + "\n")
    monkeypatch.setattr(fast_join, "NODE_TOKEN_FILE", token_file)
    Dashboard.started = tmp_path / "started"

    def answer(rc: int, err: str = "") -> None:
        monkeypatch.setenv("FAKE_RC", str(rc))
        monkeypatch.setenv("FAKE_ERR", err)

    return SimpleNamespace(
        answer=answer,
        argv=lambda: (tmp_path / "argv").read_text().splitlines(),
        stdin=lambda: json.loads((tmp_path / "stdin").read_text()),
        token_file=token_file,
    )


def test_the_host_joins_once_its_node_is_alive_and_the_token_goes_on_stdin_only(
    tmp_path: Path, dashboard: str, host: SimpleNamespace
) -> None:
    settings = make_settings(tmp_path, dashboard)
    Dashboard.alive = {"10.0.0.21"}
    assert fast_join.join(settings, "small-1", "fp") is None
    argv = host.argv()
    assert argv[-5:] == ["deploy@192.0.2.21", "sudo", "-n", JOIN_COMMAND, "join"]
    assert argv[argv.index("-p") : argv.index("-p") + 2] == ["-p", "2222"]
    assert f"UserKnownHostsFile={settings.state_dir / 'known_hosts'}" in argv
    assert "/etc/rayfleet/autoscaler/ssh/id_ed25519" in argv
    assert not any(TOKEN in word for word in argv)
    asked = host.stdin()
    assert asked.pop("not_after") == pytest.approx(time.time() + fast_join.NOT_AFTER_S, abs=5)
    assert asked == {
        "fingerprint": "fp",
        "node_id": "small-1-3",
        "node_ip": "10.0.0.21",
        "token": TOKEN,
    }
    assert Dashboard.tokens[-1] == f"Bearer {TOKEN}"


def test_a_refusal_sends_the_host_to_the_full_join_with_the_helpers_reason(
    tmp_path: Path, dashboard: str, host: SimpleNamespace
) -> None:
    settings = make_settings(tmp_path, dashboard)
    host.answer(3, "Warning: Permanently added '192.0.2.21'\nrayfleet-ray-join: refused: x")
    assert fast_join.join(settings, "small-1", "fp") == "rayfleet-ray-join: refused: x"
    host.answer(255)
    assert fast_join.join(settings, "small-1", "fp") == "rayfleet-ray-join: rc 255"


def test_a_node_that_never_shows_up_fails_the_join(
    tmp_path: Path, dashboard: str, host: SimpleNamespace
) -> None:
    settings = make_settings(tmp_path, dashboard)
    Dashboard.alive = {"10.0.0.99"}
    with pytest.raises(
        fast_join.QuickJoinFailedError, match=r"no ALIVE node at 10\.0\.0\.21 after 1 s"
    ):
        fast_join.join(settings, "small-1", "fp")


def test_the_node_of_the_hosts_last_join_still_listed_alive_does_not_count(
    tmp_path: Path, dashboard: str, host: SimpleNamespace
) -> None:
    settings = make_settings(tmp_path, dashboard)
    Dashboard.stale = {"10.0.0.21": "old"}
    with pytest.raises(fast_join.QuickJoinFailedError, match="no ALIVE node"):
        fast_join.join(settings, "small-1", "fp")
    (tmp_path / "started").unlink()
    Dashboard.alive = {"10.0.0.21"}
    assert fast_join.join(settings, "small-1", "fp") is None


def test_a_dashboard_that_cannot_say_sends_the_host_to_the_full_join_untouched(
    tmp_path: Path, dashboard: str, host: SimpleNamespace
) -> None:
    settings = make_settings(tmp_path, dashboard)
    Dashboard.body = '{"result": false, "data": {}}'
    assert "an answer of another shape" in str(fast_join.join(settings, "small-1", "fp"))
    assert not (tmp_path / "argv").exists()


def test_a_cluster_without_a_token_sends_none(
    tmp_path: Path, dashboard: str, host: SimpleNamespace
) -> None:
    settings = make_settings(tmp_path, dashboard, pool_vars(ansible_user="root"))
    host.token_file.unlink()
    Dashboard.alive = {"10.0.0.21"}
    assert fast_join.join(settings, "small-1", "fp") is None
    assert host.argv()[-3:] == ["root@192.0.2.21", JOIN_COMMAND, "join"]
    assert host.stdin()["token"] is None
    assert Dashboard.tokens[-1] is None


@pytest.mark.parametrize(
    "host_vars",
    [
        pool_vars(ansible_become=True, ansible_become_method="su"),
        pool_vars(ansible_become="yes", ansible_become_user="admin"),
        pool_vars(ansible_connection="local"),
    ],
)
def test_a_host_reached_otherwise_takes_the_full_join_untouched(
    tmp_path: Path, dashboard: str, host: SimpleNamespace, host_vars: dict[str, Any]
) -> None:
    settings = make_settings(tmp_path, dashboard, host_vars)
    assert "other than over SSH" in str(fast_join.join(settings, "small-1", "fp"))
    assert not (tmp_path / "argv").exists()


def test_settings_from_before_quick_joins_take_the_full_join(
    tmp_path: Path, host: SimpleNamespace
) -> None:
    settings = make_settings(tmp_path, "")
    assert fast_join.join(settings, "small-1", "fp") == "the head's settings predate quick joins"
    assert not (tmp_path / "argv").exists()


def test_the_fingerprint_changes_with_the_inventory_the_ansible_cfg_and_the_roles_release(
    tmp_path: Path, dashboard: str
) -> None:
    settings = make_settings(tmp_path, dashboard)
    first = fast_join.fingerprint(settings)
    assert fast_join.fingerprint(settings) == first
    settings.ansible_config.write_text(settings.ansible_config.read_text() + "timeout = 9\n")
    second = fast_join.fingerprint(settings)
    settings.inventory.write_text(settings.inventory.read_text() + "# edited\n")
    third = fast_join.fingerprint(settings)
    # A new bundle behind the same collections_path, before the provisioner restarted.
    (tmp_path / "release-2").mkdir()
    (tmp_path / "current").unlink()
    (tmp_path / "current").symlink_to("release-2")
    assert len({first, second, third, fast_join.fingerprint(settings)}) == 4


def test_a_helper_that_does_not_answer_in_time_fails_the_join(
    tmp_path: Path,
    dashboard: str,
    host: SimpleNamespace,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = make_settings(tmp_path, dashboard)
    monkeypatch.setattr(fast_join, "COMMAND_TIMEOUT_S", 1)
    monkeypatch.setenv("FAKE_SLEEP", "3")
    with pytest.raises(fast_join.QuickJoinFailedError, match="no answer in 1 s"):
        fast_join.join(settings, "small-1", "fp")


def play(
    settings: ProviderSettings, tmp_path: Path, playbook: str, quick: bool = False
) -> tuple[str | None, mock.MagicMock]:
    """The launcher's run of ``playbook`` for small-1, and the playbook runs it asked for."""
    launcher = PlaybookLauncher(settings, ProvisionerRunLock(600, str(tmp_path / "lock")))
    with mock.patch("rayfleet.autoscaler.launcher.run_playbook") as run_playbook:
        run_playbook.return_value = SimpleNamespace(ok=True, changed=1)
        return launcher._play(playbook, "small-1", "p", quick=quick), run_playbook


def test_the_launcher_runs_no_playbook_for_a_quick_join(
    tmp_path: Path, dashboard: str, host: SimpleNamespace
) -> None:
    Dashboard.alive = {"10.0.0.21"}
    error, run_playbook = play(make_settings(tmp_path, dashboard), tmp_path, "join.yml", True)
    assert error is None
    run_playbook.assert_not_called()


def test_a_refused_quick_join_runs_the_full_join_which_seals_with_the_fingerprint(
    tmp_path: Path, dashboard: str, host: SimpleNamespace
) -> None:
    settings = make_settings(tmp_path, dashboard)
    host.answer(3, "rayfleet-ray-join: refused: the node's files changed")
    error, run_playbook = play(settings, tmp_path, "join.yml", quick=True)
    assert error is None
    extravars = run_playbook.call_args.kwargs["extravars"]
    assert extravars[JOIN_FINGERPRINT_VAR] == fast_join.fingerprint(settings)
    assert extravars["rayfleet_run_lock_under"] == "p"


def test_a_quick_join_whose_node_never_shows_up_fails_without_a_playbook(
    tmp_path: Path, dashboard: str, host: SimpleNamespace
) -> None:
    error, run_playbook = play(make_settings(tmp_path, dashboard), tmp_path, "join.yml", True)
    assert error is not None and error.startswith("the quick join failed: no ALIVE node")
    run_playbook.assert_not_called()


def test_a_join_asked_for_in_full_seals_without_asking_the_host(
    tmp_path: Path, dashboard: str, host: SimpleNamespace
) -> None:
    settings = make_settings(tmp_path, dashboard)
    error, run_playbook = play(settings, tmp_path, "join.yml")
    assert error is None
    assert run_playbook.call_args.kwargs["extravars"][JOIN_FINGERPRINT_VAR] == (
        fast_join.fingerprint(settings)
    )
    assert not (tmp_path / "argv").exists()


def test_a_leave_is_always_the_playbook(
    tmp_path: Path, dashboard: str, host: SimpleNamespace
) -> None:
    error, run_playbook = play(make_settings(tmp_path, dashboard), tmp_path, "leave.yml", True)
    assert error is None
    assert JOIN_FINGERPRINT_VAR not in run_playbook.call_args.kwargs["extravars"]
    assert not (tmp_path / "argv").exists()
