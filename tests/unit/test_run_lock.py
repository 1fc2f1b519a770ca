"""One run at a time per cluster: the run lock's rules, its file, and the provisioner's hold."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from unittest import mock

import pytest
from modules import run_module
from plans import cluster, node

from ansible_collections.rayfleet.cluster.plugins.module_utils.plan import Plan
from ansible_collections.rayfleet.cluster.plugins.module_utils.run_lock import (
    HOLDER_FILE,
    Holder,
    RunLockError,
    Verdict,
    change,
    gone_here,
    process_started,
    release,
    take,
    this_process,
    work_under,
)
from rayfleet.autoscaler.launcher import PlaybookLauncher
from rayfleet.autoscaler.run_lock import ProvisionerRunLock, RunLockHeldError
from rayfleet.autoscaler.settings import ProviderSettings

NOW = 1_000_000.0
ALICE = Holder(machine="laptop", pid=100, started=5, who="alice@laptop: ansible-playbook site.yml")
BOB = Holder(machine="desk", pid=200, started=7, who="bob@desk: ansible-playbook ray.yml")


def never_gone(holder: Holder) -> bool:
    return False


def held(holder: Holder, since: float = NOW - 60, expires: float = NOW + 600) -> Holder:
    return Holder(**{**holder.__dict__, "since": since, "expires": expires})


def test_a_free_lock_is_taken_for_the_lease() -> None:
    verdict = take(None, ALICE, NOW, 7200, gone=never_gone)
    assert verdict.write and not verdict.refusal
    assert verdict.holder is not None
    assert (verdict.holder.id, verdict.holder.since, verdict.holder.expires) == (
        "laptop:100:5",
        NOW,
        NOW + 7200,
    )


def test_a_live_holder_refuses_another_run_naming_itself_and_the_way_out() -> None:
    verdict = take(held(BOB), ALICE, NOW, 7200, gone=never_gone)
    assert not verdict.write and verdict.holder == held(BOB)
    assert "bob@desk: ansible-playbook ray.yml (pid 200)" in verdict.refusal
    assert "rayfleet_run_lock_break=true" in verdict.refusal


def test_its_own_holder_renews_the_lease_and_keeps_its_start() -> None:
    verdict = take(held(ALICE), ALICE, NOW, 100, gone=never_gone)
    assert verdict.write and not verdict.refusal
    assert verdict.holder is not None
    assert (verdict.holder.since, verdict.holder.expires) == (NOW - 60, NOW + 100)


@pytest.mark.parametrize(
    ("current", "gone", "force", "why"),
    [
        (held(BOB, expires=NOW), never_gone, False, "whose lease ran out"),
        (held(BOB), lambda holder: holder.pid == 200, False, "whose process has ended"),
        (held(BOB), never_gone, True, "as rayfleet_run_lock_break asked"),
    ],
)
def test_a_holder_that_is_gone_or_broken_is_replaced_with_a_warning(
    current: Holder, gone: object, force: bool, why: str
) -> None:
    verdict = take(current, ALICE, NOW, 7200, gone=gone, force=force)  # type: ignore[arg-type]
    assert verdict.write and verdict.holder is not None and verdict.holder.id == ALICE.id
    assert why in verdict.warning and "bob@desk" in verdict.warning


def test_only_the_holder_releases_the_lock() -> None:
    assert release(held(ALICE), ALICE.id).write
    assert release(held(ALICE), ALICE.id).holder is None
    other = release(held(BOB), ALICE.id)
    assert not other.write and other.holder == held(BOB) and "left alone" in other.warning
    assert not release(None, ALICE.id).write


def test_a_run_started_under_a_holder_goes_on_only_while_that_holder_has_the_lock() -> None:
    assert not work_under(held(ALICE), ALICE.id).refusal
    assert not work_under(held(ALICE), ALICE.id).write
    assert "bob@desk" in work_under(held(BOB), ALICE.id).refusal
    assert "released" in work_under(None, ALICE.id).refusal


def test_a_process_is_known_gone_only_on_its_own_machine() -> None:
    child = subprocess.Popen(["true"])
    child.wait()
    here = this_process("me")
    gone = gone_here(here.machine)
    assert not gone(here)
    # A pid no process has, and this process's pid with another start: both ended.
    assert gone(Holder(machine=here.machine, pid=child.pid, started=1, who="x"))
    assert gone(Holder(machine=here.machine, pid=os.getpid(), started=here.started + 1, who="x"))
    # Elsewhere: not for this machine to say.
    assert not gone(Holder(machine="elsewhere", pid=child.pid, started=1, who="x"))
    assert process_started(os.getpid()) == here.started


def test_the_record_is_written_whole_and_read_back(tmp_path: Path) -> None:
    directory = str(tmp_path / "run-lock")
    verdict = change(directory, lambda current: take(current, ALICE, NOW, 60, gone=never_gone))
    assert oct(os.stat(directory).st_mode & 0o777) == "0o700"
    record = json.loads((tmp_path / "run-lock" / HOLDER_FILE).read_text())
    assert record["who"] == ALICE.who and record["expires"] == NOW + 60

    def read_back(current: Holder | None) -> Verdict:
        assert current == verdict.holder
        return release(current, ALICE.id)

    assert change(directory, read_back).write
    assert not (tmp_path / "run-lock" / HOLDER_FILE).exists()


def test_a_link_in_the_lock_directory_is_never_followed(tmp_path: Path) -> None:
    # On an autoscaling head the directory is the provisioner's user's, and root writes in it.
    target = tmp_path / "secret"
    target.write_text("kept")
    target.chmod(0o600)
    directory = tmp_path / "run-lock"
    directory.mkdir(mode=0o700)
    (directory / HOLDER_FILE).symlink_to(target)
    with pytest.raises(RunLockError, match="cannot be read"):
        change(str(directory), lambda current: take(current, ALICE, NOW, 60, gone=never_gone))
    assert target.read_text() == "kept" and oct(target.stat().st_mode & 0o777) == "0o600"


def test_check_mode_creates_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "run-lock"
    verdict = change(
        str(directory), lambda current: take(current, ALICE, NOW, 60, gone=never_gone), dry_run=True
    )
    assert verdict.write and not directory.exists()
    # Nor does a release where there is no lock: a torn-down head keeps no directory.
    assert not change(str(directory), lambda current: release(current, ALICE.id)).write
    assert not directory.exists()


def test_a_record_that_is_not_one_is_reported_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / HOLDER_FILE).write_text("{")
    with pytest.raises(RunLockError, match="not a run lock record"):
        change(str(tmp_path), lambda current: take(current, ALICE, NOW, 60, gone=never_gone))
    assert (tmp_path / HOLDER_FILE).read_text() == "{"


def test_the_provisioner_holds_the_lock_from_its_first_run_to_its_last(tmp_path: Path) -> None:
    lock = ProvisionerRunLock(playbook_timeout_s=600, directory=str(tmp_path))
    record = tmp_path / HOLDER_FILE
    first = lock.acquire()
    second = lock.acquire()
    assert first == second == this_process("x").id
    assert "rayfleet-provisioner" in json.loads(record.read_text())["who"]
    lock.release()
    assert record.exists()
    lock.release()
    assert not record.exists()


def test_the_provisioner_starts_no_run_while_an_operator_holds_the_lock(tmp_path: Path) -> None:
    change(str(tmp_path), lambda current: take(current, BOB, 4e9 - 7200, 7200, gone=never_gone))
    lock = ProvisionerRunLock(playbook_timeout_s=600, directory=str(tmp_path))
    with pytest.raises(RunLockHeldError, match="bob@desk"):
        lock.acquire()
    # Nothing of the provisioner's was counted: the operator's lock stays as it was.
    assert json.loads((tmp_path / HOLDER_FILE).read_text())["who"] == BOB.who


def test_a_run_locks_the_clusters_of_its_hosts_and_all_for_a_shared_host() -> None:
    plan = Plan(
        clusters={"a": cluster("head-a"), "b": cluster("head-b")},
        nodes={
            "head-a": node("head-a", "a", "head", "head", "10.0.0.1"),
            "cpu-a": node("cpu-a", "a", "worker", "cpu", "10.0.0.2"),
            "head-b": node("head-b", "b", "head", "head", "10.0.1.1"),
            "gpu-b/1": node("gpu-b", "b", "worker", "gpu", "10.0.1.2", slot=1),
        },
    )
    assert plan.run_lock_heads(["cpu-a"]) == ["head-a"]
    assert plan.run_lock_heads(["gpu-b", "head-b"]) == ["head-b"]
    # A Redis or monitoring host may serve any cluster.
    assert plan.run_lock_heads(["cpu-a", "redis-1"]) == ["head-a", "head-b"]
    assert plan.run_lock_heads([]) == []


def test_the_module_refuses_while_another_holds_and_takes_once_that_holder_is_gone(
    tmp_path: Path,
) -> None:
    change(str(tmp_path), lambda current: take(current, BOB, time.time(), 7200, gone=never_gone))

    def run_lock(**args: object) -> dict[str, Any]:
        return run_module("run_lock", path=str(tmp_path), **args)[0]

    alice = {key: getattr(ALICE, key) for key in ("machine", "pid", "started", "who")}
    refused = run_lock(holder=alice)
    assert refused["failed"] and "bob@desk" in str(refused["msg"])
    taken = run_lock(holder=alice, gone=[BOB.id])
    assert not taken.get("failed") and taken["changed"]
    assert taken["holder"]["id"] == ALICE.id
    released = run_lock(holder=alice, state="released")
    assert released["changed"] and not (tmp_path / HOLDER_FILE).exists()


def test_a_run_started_from_another_runs_outcome_is_never_refused_and_the_last_lets_go(
    tmp_path: Path,
) -> None:
    lock = ProvisionerRunLock(playbook_timeout_s=600, directory=str(tmp_path))
    settings = SimpleNamespace(
        inventory=tmp_path / "inventory.yml",
        members_file=tmp_path / "members.yml",
        ansible_config=tmp_path / "ansible.cfg",
        playbook_timeout_s=600,
    )
    launcher = PlaybookLauncher(cast(ProviderSettings, settings), lock)
    record = tmp_path / HOLDER_FILE
    seen: list[tuple[str, str | None, bool]] = []
    done = threading.Event()

    def leave_after_join(host: str, error: str | None) -> None:
        seen.append((host, error, record.exists()))
        launcher.start("leave.yml", host, left)

    def left(host: str, error: str | None) -> None:
        seen.append((host, error, record.exists()))
        done.set()

    with mock.patch("rayfleet.autoscaler.launcher.run_playbook") as run_playbook:
        run_playbook.return_value = SimpleNamespace(ok=True, changed=0)
        with launcher.holding():
            launcher.start("join.yml", "small-1", leave_after_join)
        assert done.wait(10)
    # The join's thread lets go once its outcome returned, the leave's once its own did.
    for thread in threading.enumerate():
        if thread.name.startswith("rayfleet-"):
            thread.join(10)
    assert seen == [("small-1", None, True), ("small-1", None, True)]
    assert [
        call.kwargs["extravars"]["rayfleet_run_lock_under"] for call in run_playbook.call_args_list
    ] == [this_process("x").id] * 2
    assert not record.exists()


def test_no_run_starts_while_an_operator_holds_the_lock(tmp_path: Path) -> None:
    change(str(tmp_path), lambda current: take(current, BOB, time.time(), 7200, gone=never_gone))
    lock = ProvisionerRunLock(playbook_timeout_s=600, directory=str(tmp_path))
    launcher = PlaybookLauncher(cast(ProviderSettings, SimpleNamespace()), lock)
    with pytest.raises(RunLockHeldError, match="bob@desk"):
        launcher.start("join.yml", "small-1", lambda host, error: None)
    assert launcher._threads == {}
