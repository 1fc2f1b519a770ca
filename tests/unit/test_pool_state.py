"""The pool state: allocation, transitions, quarantine, persistence and locking."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from rayfleet.autoscaler.members_inventory import joined, render
from rayfleet.autoscaler.state import (
    HostRecord,
    LaunchRequest,
    PoolHost,
    PoolState,
    QuarantinePolicy,
    StateStore,
    Status,
    allocate,
    decode,
    encode,
    leaves_due,
    mark_failed,
    mark_free,
    mark_join_failed,
    mark_leave_failed,
    mark_left,
    mark_running,
    mark_terminating,
    members,
    rebuild,
    unfinished,
    write_atomically,
)

POOL = (
    PoolHost("small-1", "small", "10.0.0.1"),
    PoolHost("small-2", "small", "10.0.0.2"),
    PoolHost("big-1", "big", "10.0.0.3"),
)
POLICY = QuarantinePolicy(base_s=10, maximum_s=35)


def take(
    state: PoolState, node_type: str, count: int = 1, now: float = 0
) -> tuple[PoolState, list[str]]:
    return allocate(state, POOL, LaunchRequest(node_type, count, {"ray-launch-request": "r1"}), now)


def test_allocation_takes_free_hosts_of_the_type_in_inventory_order() -> None:
    state, chosen = take({}, "small")
    assert chosen == ["small-1"]
    assert state["small-1"].status is Status.LAUNCHING
    assert state["small-1"].tags == {"ray-launch-request": "r1"}
    state, chosen = take(state, "small", count=5)
    assert chosen == ["small-2"]
    assert take(state, "small")[1] == []


def test_each_allocation_gets_a_new_node_id() -> None:
    state, _ = take({}, "big")
    first = state["big-1"].node_id
    state = mark_free(mark_terminating(mark_running(state, "big-1", 1), "big-1", 2), "big-1", 3)
    state, _ = take(state, "big")
    assert state["big-1"].node_id != first
    assert members(state) == {state["big-1"].node_id: "big-1"}


def test_a_failed_host_sits_out_its_backoff_and_others_go_first() -> None:
    state, _ = take({}, "small")
    state = mark_failed(state, "small-1", "unreachable", now=100, policy=POLICY)
    assert state["small-1"].status is Status.QUARANTINED
    assert state["small-1"].quarantined_until == 110
    assert take(state, "small", now=105)[1] == ["small-2"]
    # Back from quarantine, but a host that never failed is tried first.
    assert take(state, "small", count=2, now=110)[1] == ["small-2", "small-1"]


def test_backoff_doubles_up_to_the_maximum() -> None:
    assert [POLICY.duration(failures) for failures in (1, 2, 3, 4)] == [10, 20, 35, 35]


def test_a_successful_join_forgives_failures() -> None:
    state = mark_failed({}, "small-1", "boom", now=0, policy=POLICY)
    state, _ = take(state, "small", now=50)
    state = mark_running(state, "small-1", 60)
    assert (state["small-1"].failures, state["small-1"].last_error) == (0, "")


def test_unfinished_lists_what_a_crashed_autoscaler_left() -> None:
    state: PoolState = {
        "a": HostRecord(status=Status.LAUNCHING),
        "b": HostRecord(status=Status.RUNNING),
        "c": HostRecord(status=Status.TERMINATING),
        "d": HostRecord(status=Status.FREE),
        "e": HostRecord(status=Status.QUARANTINED),
    }
    assert unfinished(state) == ["a", "b", "c"]


def test_state_survives_encoding() -> None:
    state, _ = take({}, "small")
    state = mark_failed(state, "small-2", "unreachable", now=5, policy=POLICY)
    assert decode(encode(state)) == state


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="format"):
        decode('{"version": 99, "hosts": {}}')


def test_an_interrupted_write_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "state.json"
    write_atomically(target, "old\n")

    def crash(*_args: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        write_atomically(target, "new\n")
    assert target.read_text() == "old\n"
    assert [path.name for path in tmp_path.iterdir()] == ["state.json"]


def test_store_persists_changes_and_reports_them(tmp_path: Path) -> None:
    seen: list[PoolState] = []
    store = StateStore(tmp_path / "pool", on_change=seen.append)
    chosen = store.change(lambda state: take(state, "big"))
    assert chosen == ["big-1"]
    assert store.read()["big-1"].status is Status.LAUNCHING
    assert seen == [store.read()]
    # A change that changes nothing writes nothing.
    store.change(lambda state: (state, None))
    assert len(seen) == 1


def test_the_state_and_its_lock_become_the_owners_alone(tmp_path: Path) -> None:
    # As an earlier release left them: readable by the ray group, lock included.
    (tmp_path / "state.lock").touch(mode=0o644)
    store = StateStore(tmp_path)
    store.change(lambda state: take(state, "big"))
    assert (tmp_path / "state.lock").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "state.json").stat().st_mode & 0o777 == 0o600


def _allocate_one(directory: str, results: multiprocessing.Queue[list[str]]) -> None:
    store = StateStore(Path(directory))
    results.put(store.change(lambda state: take(state, "small")))


def test_concurrent_requests_never_get_the_same_host(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    results: multiprocessing.Queue[list[str]] = context.Queue()
    workers = [
        context.Process(target=_allocate_one, args=(str(tmp_path), results)) for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    chosen = sorted(host for _ in workers for host in results.get(timeout=5))
    assert chosen == ["small-1", "small-2"]
    assert set(members(StateStore(tmp_path).read()).values()) == {"small-1", "small-2"}


@pytest.mark.parametrize(
    "garbage",
    [
        '{"version": 1, "hosts": {"small-1": {"status": "runn',
        "",
        "\x00\xff\xfe",
        '{"version": 1, "hosts": {"small-1": {"status": "lost"}}}',
        "[]",
    ],
)
def test_a_corrupt_state_is_set_aside_and_rebuilt_from_the_members_file(
    tmp_path: Path, garbage: str
) -> None:
    # small-1 was a member; small-2 was leaving (so the members file no longer lists it).
    state, _ = take({}, "small")
    state = mark_running(state, "small-1", 1)
    members_file = tmp_path / "members.yml"
    members_file.write_text(render(state, POOL, "lab"))
    seen: list[PoolState] = []
    store = StateStore(
        tmp_path,
        on_change=seen.append,
        rebuild=lambda: rebuild(POOL, joined(members_file.read_text()), 1_800_000_000),
    )
    (tmp_path / "state.json").write_bytes(garbage.encode("latin-1"))
    rebuilt = store.read()
    [aside] = tmp_path.glob("state.json.bad-*")
    assert aside.read_bytes() == garbage.encode("latin-1")
    assert (rebuilt["small-1"].status, rebuilt["small-1"].node_id) == (
        Status.RUNNING,
        state["small-1"].node_id,
    )
    # Every other pool host leaves, so that no Ray runs where the state says free.
    assert {rebuilt[name].status for name in ("small-2", "big-1")} == {Status.TERMINATING}
    assert store.read() == rebuilt == seen[0]
    # A new allocation never gives a node id out twice.
    after, _ = take(mark_free(rebuilt, "small-2", 2), "small")
    assert after["small-2"].node_id == "small-2-1800000001"


def test_a_change_on_a_corrupt_state_rebuilds_it_first(tmp_path: Path) -> None:
    store = StateStore(tmp_path, rebuild=lambda: rebuild(POOL, {}, 5))
    (tmp_path / "state.json").write_text("{")
    chosen = store.change(lambda state: take(mark_free(state, "big-1", 6), "big"))
    assert chosen == ["big-1"]
    assert store.read()["small-1"].status is Status.TERMINATING


def test_an_unreadable_members_file_lists_no_member() -> None:
    assert joined("") == {}
    assert joined("all: [") == {}
    assert joined("all:\n  children:\n    ray_pool_members:\n      hosts:\n        x: {}\n") == {}


def test_a_failed_join_leaves_before_its_quarantine() -> None:
    state, _ = take({}, "small")
    state = mark_join_failed(state, "small-1", "join.yml failed: rc 2", now=5)
    assert state["small-1"].status is Status.TERMINATING
    assert "small-1" not in members(state).values()
    assert take(state, "small")[1] == ["small-2"]
    left = mark_left(state, "small-1", now=9, policy=POLICY)["small-1"]
    assert (left.status, left.quarantined_until, left.last_error) == (
        Status.QUARANTINED,
        19,
        "join.yml failed: rc 2",
    )


def test_a_failed_leave_stays_leaving_and_backs_off() -> None:
    state, _ = take({}, "big")
    state = mark_terminating(mark_running(state, "big-1", 1), "big-1", 2)
    state = mark_leave_failed(state, "big-1", "leave.yml failed: unreachable", 3, POLICY)
    assert state["big-1"].status is Status.TERMINATING
    assert leaves_due(state, now=12) == []
    assert leaves_due(state, now=13) == ["big-1"]
    again = mark_leave_failed(state, "big-1", "leave.yml failed: unreachable", 13, POLICY)
    assert again["big-1"].retry_at == 13 + 20
    # Nothing but a leave that went through frees it.
    assert take(again, "big")[1] == []
    assert mark_left(again, "big-1", 40, POLICY)["big-1"].status is Status.FREE


def test_a_state_of_an_earlier_release_reads_with_no_leave_due() -> None:
    state, _ = take({}, "small")
    text = encode(state).replace('"retry_at": 0.0,', "").replace('"failed_join": false,', "")
    assert "retry_at" not in text and "failed_join" not in text
    assert decode(text) == state
