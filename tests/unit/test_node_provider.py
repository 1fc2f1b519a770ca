"""The node provider's contract with Ray's autoscaler, through a real provisioner on its socket.

Playbook runs are recorded, not run: the test finishes each with the outcome it wants.
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from unittest import mock

import pytest
import yaml
from ray.autoscaler.tags import (
    NODE_KIND_HEAD,
    NODE_KIND_WORKER,
    STATUS_SETTING_UP,
    STATUS_UP_TO_DATE,
    TAG_RAY_LAUNCH_REQUEST,
    TAG_RAY_NODE_KIND,
    TAG_RAY_NODE_STATUS,
    TAG_RAY_USER_NODE_TYPE,
)
from ray.autoscaler.v2.instance_manager.config import FileConfigReader
from ray.autoscaler.v2.instance_manager.node_provider import NodeProviderAdapter
from ray.core.generated.instance_manager_pb2 import NodeKind  # type: ignore[attr-defined]

from ansible_collections.rayfleet.cluster.plugins.module_utils.autoscaling import LEGACY_FIELDS
from rayfleet.autoscaler.launcher import JOIN_PLAYBOOK, LEAVE_PLAYBOOK, Outcome
from rayfleet.autoscaler.provider import AnsibleNodeProvider
from rayfleet.autoscaler.provisioner import Provisioner, ProvisionerServer
from rayfleet.autoscaler.run_lock import RunLockHeldError
from rayfleet.autoscaler.settings import ProviderSettings
from rayfleet.autoscaler.state import HostRecord, PoolState, StateStore, Status, encode

T = TypeVar("T")


class RecordingLauncher:
    """Remembers each playbook run; the test finishes it with ``finish``."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, str]] = []
        # Per run: whether a join was to try the host's quick join first.
        self.quick: list[bool] = []
        self._pending: dict[str, Outcome] = {}
        # Set while another run holds the cluster's run lock: the refusal.
        self.refusal = ""

    def start(self, playbook: str, host: str, outcome: Outcome, quick: bool = False) -> None:
        if self.refusal:
            raise RunLockHeldError(self.refusal)
        self.runs.append((playbook, host))
        self.quick.append(quick)
        self._pending[host] = outcome

    def busy(self, host: str) -> bool:
        return host in self._pending

    @contextlib.contextmanager
    def holding(self) -> Iterator[str]:
        if self.refusal:
            raise RunLockHeldError(self.refusal)
        yield "provisioner"

    def finish(self, host: str, error: str | None = None) -> None:
        self._pending.pop(host)(host, error)


def provider_config(state_dir: Path) -> dict[str, Any]:
    return {
        "type": "external",
        "module": "rayfleet.autoscaler.provider.AnsibleNodeProvider",
        "rayfleet": {
            "state_dir": str(state_dir),
            "ansible_config": "/etc/rayfleet/autoscaler/ansible.cfg",
            # A Unix socket's path may not exceed 107 bytes: beside the state, not in it.
            "socket": str(state_dir.parent / "p.sock"),
            "inventory": "/etc/rayfleet/autoscaler/inventory.yml",
            "head": {"name": "head", "node_type": "head", "ip": "10.0.0.10"},
            "static": [{"name": "cpu-1", "node_type": "cpu", "ip": "10.0.0.11"}],
            "pool": [
                {"name": "small-1", "node_type": "small", "ip": "10.0.0.21"},
                {"name": "small-2", "node_type": "small", "ip": "10.0.0.22"},
                {"name": "big-1", "node_type": "big", "ip": "10.0.0.31"},
            ],
            "quarantine_base_s": 60,
            "quarantine_max_s": 3600,
            "playbook_timeout_s": 600,
        },
    }


def start_provisioner(tmp_path: Path, launcher: RecordingLauncher) -> Provisioner:
    """A provisioner with the recording launcher, serving its socket in a thread."""
    settings = ProviderSettings.from_provider_config(provider_config(tmp_path / "state"), "lab")
    provisioner = Provisioner(settings, launcher)
    server = ProvisionerServer(settings.socket, provisioner, grp.getgrgid(os.getgid()).gr_name)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    SERVERS.append(server)
    return provisioner


SERVERS: list[ProvisionerServer] = []


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[RecordingLauncher]:
    fake = RecordingLauncher()
    yield fake
    while SERVERS:
        server = SERVERS.pop()
        server.shutdown()
        server.server_close()


def make_provider(tmp_path: Path, launcher: RecordingLauncher) -> AnsibleNodeProvider:
    """The provider as Ray's monitor builds it, and its provisioner (once per test)."""
    if not SERVERS:
        start_provisioner(tmp_path, launcher)
    return AnsibleNodeProvider(provider_config(tmp_path / "state"), "lab")


def pool_state(tmp_path: Path) -> PoolState:
    """The state as the provisioner keeps it."""
    return StateStore(tmp_path / "state").read()


def launch(provider: AnsibleNodeProvider, node_type: str, count: int = 1) -> list[str]:
    tags = {
        TAG_RAY_NODE_KIND: NODE_KIND_WORKER,
        TAG_RAY_USER_NODE_TYPE: node_type,
        TAG_RAY_LAUNCH_REQUEST: "request-1",
    }
    created = provider.create_node_with_resources_and_labels({}, tags, count, {}, {})
    assert created is not None
    return list(created)


def big_1_leaving(tmp_path: Path, launcher: RecordingLauncher) -> tuple[AnsibleNodeProvider, str]:
    """A provider whose big-1 joined and is now told to terminate: its leave runs."""
    provider = make_provider(tmp_path, launcher)
    [node] = launch(provider, "big")
    launcher.finish("big-1")
    provider.terminate_node(node)
    return provider, node


def members_file(tmp_path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load((tmp_path / "state" / "members.yml").read_text())
    children: dict[str, Any] = loaded["all"]["children"]
    return children


def test_head_and_static_workers_are_always_listed(
    tmp_path: Path, launcher: RecordingLauncher
) -> None:
    provider = make_provider(tmp_path, launcher)
    assert provider.non_terminated_nodes({}) == ["head", "cpu-1"]
    assert provider.non_terminated_nodes({TAG_RAY_NODE_KIND: NODE_KIND_HEAD}) == ["head"]
    assert provider.node_tags("head")[TAG_RAY_USER_NODE_TYPE] == "head"
    assert provider.internal_ip("cpu-1") == "10.0.0.11"
    provider.terminate_node("cpu-1")
    assert provider.non_terminated_nodes({}) == ["head", "cpu-1"]
    assert launcher.runs == []


def test_a_launch_is_pending_until_the_join_playbook_succeeds(
    tmp_path: Path, launcher: RecordingLauncher
) -> None:
    provider = make_provider(tmp_path, launcher)
    [node] = launch(provider, "small")
    assert launcher.runs == [(JOIN_PLAYBOOK, "small-1")]
    assert node in provider.non_terminated_nodes({TAG_RAY_USER_NODE_TYPE: "small"})
    tags = provider.node_tags(node)
    assert tags[TAG_RAY_NODE_STATUS] == STATUS_SETTING_UP
    assert tags[TAG_RAY_LAUNCH_REQUEST] == "request-1"
    assert not provider.is_running(node)
    assert provider.internal_ip(node) == "10.0.0.21"
    assert members_file(tmp_path)["ray_pool_members"]["hosts"]["small-1"] == {
        "rayfleet_node_id": node,
        "rayfleet_pool_status": "launching",
    }
    launcher.finish("small-1")
    assert provider.is_running(node)
    assert provider.node_tags(node)[TAG_RAY_NODE_STATUS] == STATUS_UP_TO_DATE
    assert members_file(tmp_path)["small"]["hosts"] == {"small-1": {}}


def test_a_failed_host_leaves_is_quarantined_and_another_takes_over_its_launch(
    tmp_path: Path, launcher: RecordingLauncher
) -> None:
    provider = make_provider(tmp_path, launcher)
    [node] = launch(provider, "small")
    launcher.finish("small-1", "join.yml failed: rc 2")
    assert provider.is_terminated(node)
    # The join may have started Ray before it failed: the host leaves first.
    assert pool_state(tmp_path)["small-1"].status is Status.TERMINATING
    # The same request goes on with small-2, without waiting for the autoscaler.
    assert sorted(launcher.runs[1:]) == [(JOIN_PLAYBOOK, "small-2"), (LEAVE_PLAYBOOK, "small-1")]
    [replacement] = provider.non_terminated_nodes({TAG_RAY_USER_NODE_TYPE: "small"})
    assert provider.node_tags(replacement)[TAG_RAY_LAUNCH_REQUEST] == "request-1"
    assert launch(provider, "small") == []
    # Once Ray is stopped there, the host sits out its quarantine.
    launcher.finish("small-1")
    record = pool_state(tmp_path)["small-1"]
    assert (record.status, record.last_error) == (Status.QUARANTINED, "join.yml failed: rc 2")
    assert record.quarantined_until > time.time() + 50
    # With no host left to take over, the launch just ends.
    launcher.finish("small-2", "join.yml failed: rc 2")
    launcher.finish("small-2")
    assert provider.non_terminated_nodes({TAG_RAY_USER_NODE_TYPE: "small"}) == []
    assert [run for run in launcher.runs if run[0] == JOIN_PLAYBOOK] == [
        (JOIN_PLAYBOOK, "small-1"),
        (JOIN_PLAYBOOK, "small-2"),
    ]
    # Neither had failed before: both tried their quick join first.
    joins = [
        quick
        for run, quick in zip(launcher.runs, launcher.quick, strict=True)
        if run[0] == JOIN_PLAYBOOK
    ]
    assert joins == [True, True]


def test_a_host_whose_last_join_failed_takes_the_full_join(
    tmp_path: Path, launcher: RecordingLauncher
) -> None:
    # Back from quarantine: its failures are forgiven only once a join succeeded.
    StateStore(tmp_path / "state").change(
        lambda state: ({**state, "small-1": HostRecord(failures=1)}, None)
    )
    provider = make_provider(tmp_path, launcher)
    launch(provider, "small", count=2)
    assert list(zip(launcher.runs, launcher.quick, strict=True)) == [
        ((JOIN_PLAYBOOK, "small-2"), True),
        ((JOIN_PLAYBOOK, "small-1"), False),
    ]


def test_a_failed_leave_stays_leaving_and_is_tried_again_after_its_backoff(
    tmp_path: Path, launcher: RecordingLauncher
) -> None:
    provider, node = big_1_leaving(tmp_path, launcher)
    launcher.finish("big-1", "leave.yml failed: unreachable")
    # Ray may still run there: never free, never handed out, not a member either.
    record = pool_state(tmp_path)["big-1"]
    assert record.status is Status.TERMINATING
    assert launch(provider, "big") == []
    assert node not in provider.non_terminated_nodes({})
    # Ray's autoscaler asks every round; before the backoff is over, nothing runs again.
    runs = len(launcher.runs)
    provider.non_terminated_nodes({})
    assert len(launcher.runs) == runs
    past_backoff = record.retry_at + 1
    with mock.patch("rayfleet.autoscaler.provisioner.time.time", return_value=past_backoff):
        provider.non_terminated_nodes({})
    assert launcher.runs[-1] == (LEAVE_PLAYBOOK, "big-1") and len(launcher.runs) == runs + 1
    launcher.finish("big-1")
    assert pool_state(tmp_path)["big-1"].status is Status.FREE


def test_terminate_drains_through_the_leave_playbook_and_frees_the_host(
    tmp_path: Path, launcher: RecordingLauncher
) -> None:
    provider, node = big_1_leaving(tmp_path, launcher)
    assert launcher.runs[-1] == (LEAVE_PLAYBOOK, "big-1")
    # Ray sees it gone at once; the host is not handed out again until it has left.
    assert provider.is_terminated(node)
    assert node not in provider.non_terminated_nodes({})
    assert launch(provider, "big") == []
    launcher.finish("big-1")
    assert pool_state(tmp_path)["big-1"].status is Status.FREE
    assert members_file(tmp_path)["ray_pool_members"]["hosts"] == {}
    [again] = launch(provider, "big")
    assert again != node


def test_terminate_during_a_join_leaves_after_the_join(
    tmp_path: Path, launcher: RecordingLauncher
) -> None:
    provider = make_provider(tmp_path, launcher)
    [node] = launch(provider, "big")
    provider.terminate_node(node)
    assert launcher.runs == [(JOIN_PLAYBOOK, "big-1")]
    launcher.finish("big-1")
    assert launcher.runs[-1] == (LEAVE_PLAYBOOK, "big-1")
    assert pool_state(tmp_path)["big-1"].status is Status.TERMINATING


def test_a_new_autoscaler_rechecks_what_the_last_one_left(
    tmp_path: Path, launcher: RecordingLauncher
) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / "state.json").write_text(
        encode(
            {
                "small-1": HostRecord(status=Status.LAUNCHING, node_id="small-1-1", allocations=1),
                "small-2": HostRecord(status=Status.RUNNING, node_id="small-2-4", allocations=4),
                "big-1": HostRecord(status=Status.TERMINATING, node_id="big-1-2", allocations=2),
            }
        )
    )
    provider = make_provider(tmp_path, launcher)
    assert sorted(launcher.runs) == [
        (JOIN_PLAYBOOK, "small-1"),
        (JOIN_PLAYBOOK, "small-2"),
        (LEAVE_PLAYBOOK, "big-1"),
    ]
    # Same node ids: Ray may already know them.
    assert sorted(provider.non_terminated_nodes({TAG_RAY_NODE_KIND: NODE_KIND_WORKER})) == [
        "cpu-1",
        "small-1-1",
        "small-2-4",
    ]
    assert not provider.is_running("small-2-4")
    launcher.finish("small-2")
    assert provider.is_running("small-2-4")


def test_autoscaler_v2_launches_and_terminates_through_rays_adapter(
    tmp_path: Path, launcher: RecordingLauncher
) -> None:
    provider = make_provider(tmp_path, launcher)
    config = {
        "cluster_name": "lab",
        "max_workers": 3,
        "head_node_type": "head",
        "available_node_types": {
            "head": {"node_config": {}, "resources": {}, "max_workers": 0},
            "small": {"node_config": {}, "resources": {"CPU": 1, "small": 1}, "max_workers": 2},
            "big": {"node_config": {}, "resources": {"CPU": 1, "big": 1}, "max_workers": 1},
        },
        "provider": provider_config(tmp_path / "state"),
        **LEGACY_FIELDS,
    }
    config_file = tmp_path / "autoscaling.yaml"
    config_file.write_text(yaml.safe_dump(config))
    adapter = NodeProviderAdapter(provider, FileConfigReader(str(config_file)))

    adapter.launch({"big": 1}, request_id="request-7")
    instances = wait_for(adapter.get_non_terminated, lambda found: len(found) == 3)
    [node] = [node for node in instances if node not in ("head", "cpu-1")]
    assert instances["head"].node_kind == NodeKind.HEAD
    assert (instances[node].node_type, instances[node].request_id) == ("big", "request-7")
    assert not instances[node].is_running
    launcher.finish("big-1")
    assert adapter.get_non_terminated()[node].is_running

    adapter.terminate([node], request_id="terminate-1")
    wait_for(adapter.get_non_terminated, lambda found: node not in found)
    # The provisioner marks the host leaving, then starts the playbook.
    wait_for(lambda: launcher.runs[-1], lambda run: run == (LEAVE_PLAYBOOK, "big-1"))
    assert adapter.poll_errors() == []


def wait_for(read: Callable[[], T], done: Callable[[T], bool], timeout_s: float = 10) -> T:
    """What ``read`` returns once ``done`` holds for it; the adapter works in threads."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = read()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"still {value!r} after {timeout_s} s"
        time.sleep(0.05)


def test_a_job_on_the_socket_gets_nothing_beyond_the_pool(
    tmp_path: Path, launcher: RecordingLauncher
) -> None:
    provider = make_provider(tmp_path, launcher)
    socket_path = provider.settings.socket
    assert socket_path.stat().st_mode & 0o777 == 0o660
    [node] = launch(provider, "small")
    # The state file is the provisioner's alone; the provider reads it through the socket.
    assert (tmp_path / "state" / "state.json").stat().st_mode & 0o777 == 0o600
    # Whoever can open the lock can hold it and stop every change.
    assert (tmp_path / "state" / "state.lock").stat().st_mode & 0o777 == 0o600
    assert provider.node_tags(node)[TAG_RAY_USER_NODE_TYPE] == "small"

    def ask(raw: bytes) -> dict[str, Any]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.connect(str(socket_path))
            connection.sendall(raw + b"\n")
            with connection.makefile("rb") as replies:
                answer: dict[str, Any] = json.loads(replies.readline())
                return answer

    run_a_playbook = json.dumps({"op": "run", "playbook": "site.yml", "limit": "all"}).encode()
    assert ask(run_a_playbook) == {"error": "unknown operation 'run'"}
    gpu = json.dumps({"op": "create", "node_type": "gpu", "count": 1}).encode()
    assert ask(gpu) == {"error": "'gpu' is not a node type of the pool"}
    retag_the_head = json.dumps({"op": "set_tags", "node_id": "head", "tags": {}}).encode()
    assert ask(retag_the_head) == {"error": "node head is no pool member"}
    assert ask(json.dumps({"op": "terminate", "node_id": "cpu-1"}).encode()) == {}
    assert launcher.runs == [(JOIN_PLAYBOOK, "small-1")]
    assert list(pool_state(tmp_path)) == ["small-1"]


def test_a_corrupt_state_file_never_takes_the_provider_down(
    tmp_path: Path, launcher: RecordingLauncher
) -> None:
    provider = make_provider(tmp_path, launcher)
    [node_id] = launch(provider, "small")
    launcher.finish("small-1")
    state_file = tmp_path / "state" / "state.json"
    # As a full disk or a hand edit could leave it (issue 15 saw a restart loop from one).
    state_file.write_text('{"version": 1, "hosts": {"small-1": {"sta')
    # The next round of Ray's autoscaler: the same members, and nothing raised.
    assert node_id in provider.non_terminated_nodes({TAG_RAY_NODE_KIND: NODE_KIND_WORKER})
    [aside] = state_file.parent.glob("state.json.bad-*")
    assert aside.read_text().startswith('{"version": 1')
    # The member is re-checked by the join playbook; the others leave, so that none runs
    # Ray outside the provider's view, and are free again once they have.
    assert sorted(launcher.runs[1:]) == [
        (JOIN_PLAYBOOK, "small-1"),
        (LEAVE_PLAYBOOK, "big-1"),
        (LEAVE_PLAYBOOK, "small-2"),
    ]
    # A re-check is the full join, which converges whatever the member runs.
    assert launcher.quick[launcher.runs.index((JOIN_PLAYBOOK, "small-1"), 1)] is False
    for host in ("small-1", "small-2", "big-1"):
        launcher.finish(host)
    assert {name: record.status for name, record in pool_state(tmp_path).items()} == {
        "small-1": Status.RUNNING,
        "small-2": Status.FREE,
        "big-1": Status.FREE,
    }
    assert provider.is_running(node_id)


def test_no_run_starts_while_an_operator_holds_the_cluster_and_leaves_wait_their_turn(
    tmp_path: Path, launcher: RecordingLauncher
) -> None:
    provider = make_provider(tmp_path, launcher)
    [small] = launch(provider, "small")
    launcher.finish("small-1")
    launcher.refusal = "another run holds this cluster's run lock: carol@desk"
    runs = list(launcher.runs)
    # A launch waits: Ray's autoscaler asks again next round.
    assert launch(provider, "small") == []
    provider.terminate_node(small)
    assert launcher.runs == runs
    record = pool_state(tmp_path)["small-1"]
    assert (record.status, record.last_error) == (Status.TERMINATING, launcher.refusal)
    assert provider.is_terminated(small)
    # Requests go on meanwhile, starting nothing; the first one after the lock is free
    # starts the leave.
    provider.non_terminated_nodes({})
    assert launcher.runs == runs
    launcher.refusal = ""
    provider.non_terminated_nodes({})
    assert launcher.runs == [*runs, (LEAVE_PLAYBOOK, "small-1")]
    launcher.finish("small-1")
    assert pool_state(tmp_path)["small-1"].status is Status.FREE
