"""Converged hosts: what a run compares to leave a host out, and when it may."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ansible_collections.rayfleet.cluster.plugins.action.converged_inputs import (
    ActionModule,
    credential_paths,
    extra_var_files,
    file_signatures,
    inputs_facts,
    inventory_paths,
    plain_value,
    source_address,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.converged import (
    MAX_AGE_S,
    converged_hosts,
    data_dirs,
    full_run_reason,
    home_ssh_dirs,
    reads_gpus,
    state_digest,
    tree_entries,
    verdict,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.systemd_units import enabled_units
from ansible_collections.rayfleet.cluster.plugins.modules.converged import (
    read_records,
    write_records,
)


def tree(root: Path) -> Path:
    (root / "etc" / "ray").mkdir(parents=True)
    (root / "etc" / "ray" / "labels.yaml").write_text("zone: a\n")
    (root / "etc" / "ray" / "ray.env").write_text("RAY_X=1\n")
    (root / "etc" / "current").symlink_to("ray")
    return root / "etc"


def digest_of(root: Path, services: dict[str, str] | None = None, ruleset: str = "") -> str:
    return state_digest([str(root)], services or {"ray.service": "active"}, ruleset)


def test_an_unchanged_host_digests_the_same(tmp_path: Path) -> None:
    root = tree(tmp_path)
    assert digest_of(root) == digest_of(root)


@pytest.mark.parametrize(
    "change",
    [
        lambda root: (root / "ray" / "labels.yaml").write_text("zone: a\n"),  # same bytes again
        lambda root: (root / "ray" / "labels.yaml").chmod(0o644),
        lambda root: (root / "ray" / "new.env").write_text(""),
        lambda root: (root / "ray" / "ray.env").unlink(),
        lambda root: ((root / "current").unlink(), (root / "current").symlink_to("other")),
        lambda root: (root / "ray").chmod(0o700),
    ],
    ids=["rewritten", "chmod", "added", "removed", "relinked", "directory-mode"],
)
def test_any_write_or_change_of_owner_mode_or_link_changes_the_digest(
    tmp_path: Path, change: Any
) -> None:
    root = tree(tmp_path)
    before = digest_of(root)
    change(root)
    assert digest_of(root) != before


def test_a_stopped_service_another_ruleset_or_shm_size_changes_the_digest(tmp_path: Path) -> None:
    root = tree(tmp_path)
    assert digest_of(root, {"ray.service": "inactive"}) != digest_of(root)
    assert digest_of(root, ruleset="table inet rayfleet {}") != digest_of(root)
    services = {"ray.service": "active"}
    assert state_digest([str(root)], services, "", 1 << 30) != state_digest(
        [str(root)], services, "", 2 << 30
    )


def test_the_runs_own_lock_and_record_are_left_out(tmp_path: Path) -> None:
    root = tree(tmp_path)
    before = digest_of(root)
    excluded = [str(root / "lock"), str(root / "converged.json")]
    entries = list(tree_entries([str(root)], excluded))
    (root / "lock").mkdir()
    (root / "lock" / "holder.json").write_text("{}")
    (root / "converged.json").write_text("{}")
    assert list(tree_entries([str(root)], excluded)) == entries
    assert digest_of(root) != before  # not excluded from another walk, they count


def test_a_tree_deeper_than_pythons_recursion_limit_is_walked(tmp_path: Path) -> None:
    # Any user can nest directories this deep in their ~/.ssh.
    depth = sys.getrecursionlimit() + 50
    chain = [tmp_path / "ssh"]
    chain[0].mkdir()
    for _ in range(depth):
        chain.append(chain[-1] / "a")
        chain[-1].mkdir()
    try:
        assert len(list(tree_entries([str(chain[0])]))) == depth + 1
    finally:
        # Deepest first: shutil.rmtree (pytest's clean-up) recurses too.
        for directory in reversed(chain):
            directory.rmdir()


def test_a_directory_that_cannot_be_listed_is_no_proof_of_an_unchanged_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tree(tmp_path)

    def refused(path: str) -> Any:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(os, "scandir", refused)
    with pytest.raises(PermissionError):
        digest_of(root)


def test_every_users_ssh_authorizations_count_wherever_their_home_is(tmp_path: Path) -> None:
    pool_user = tmp_path / "srv" / "deploy"
    (pool_user / ".ssh").mkdir(parents=True)
    no_ssh = tmp_path / "home" / "alice"
    no_ssh.mkdir(parents=True)
    homes = [str(pool_user), str(no_ssh), "", str(pool_user)]
    assert home_ssh_dirs(homes) == [str(pool_user / ".ssh")]


def test_a_missing_root_is_a_state_of_its_own(tmp_path: Path) -> None:
    assert digest_of(tmp_path / "absent") != digest_of(tree(tmp_path))


def test_a_data_directory_counts_by_its_owner_and_mode_not_by_what_ray_writes_in_it(
    tmp_path: Path,
) -> None:
    spill = tmp_path / "spill"
    spill.mkdir(mode=0o750)

    def digest_with_spill() -> str:
        return state_digest([], {"ray.service": "active"}, "", 1 << 30, [str(spill)])

    before = digest_with_spill()
    (spill / "object-1").write_bytes(b"spilled")
    assert digest_with_spill() == before
    spill.chmod(0o777)
    assert digest_with_spill() != before
    spill.chmod(0o750)
    assert digest_with_spill() == before
    (spill / "object-1").unlink()
    spill.rmdir()
    assert digest_with_spill() != before


def test_the_data_directories_are_the_hosts_ray_home_temp_spill_and_gcs() -> None:
    settings = {
        "ray_home": "/srv/ray",
        "ray_temp_dir": "/srv/ray/tmp",
        "ray_spill_dir": "/scratch/spill",
        "ray_gcs_rocksdb_path": "/srv/ray/gcs",
        "ray_install_dir": "/opt/ray",
    }
    assert data_dirs(settings) == ["/scratch/spill", "/srv/ray", "/srv/ray/gcs", "/srv/ray/tmp"]
    assert data_dirs({**settings, "ray_spill_dir": ""}) == [
        "/srv/ray",
        "/srv/ray/gcs",
        "/srv/ray/tmp",
    ]


def test_enabled_services_are_those_linked_in_a_targets_wants() -> None:
    links = [
        "/etc/systemd/system/multi-user.target.wants/ray.service",
        "/etc/systemd/system/multi-user.target.wants/ray.service",
        "/etc/systemd/system/timers.target.wants/apt-daily.timer",
        "/etc/systemd/system/ray.service",
    ]
    assert enabled_units(links) == ["ray.service"]


def test_the_verdict_names_why_a_host_takes_the_full_run() -> None:
    now = 1_000_000.0
    record = {"inputs": "i", "state": "s", "recorded_at": now - 60}
    assert verdict(None, "i", "s", now) == "no record of a full run of this playbook"
    assert verdict(record, "other", "s", now) == "the run's inputs changed since the last full run"
    assert verdict(record, "i", "other", now) == "the host changed since the last full run"
    assert verdict(record, "i", "s", now) == ""
    # Before the host's state is read (it is not, where the rest already differs).
    assert verdict(record, "other", None, now) == "the run's inputs changed since the last full run"
    assert verdict(record, "i", None, now) == ""


def test_a_record_older_than_a_day_or_from_the_future_is_stale() -> None:
    # A full run renews what is due by the date (certificates): at least once a day.
    now = 1_000_000.0
    for recorded_at in (now - MAX_AGE_S - 1, now + 60, None):
        record = {"inputs": "i", "state": "s", "recorded_at": recorded_at}
        assert verdict(record, "i", "s", now) == "the last full run is more than a day old"


PLAN_NODES = {
    "head": {"host": "head", "cluster": "c", "address": "10.0.0.10", "slot": 0},
    "w1": {"host": "w1", "cluster": "c", "address": "10.0.0.11", "slot": 0},
    "w1/1": {"host": "w1", "cluster": "c", "address": "10.0.0.11", "slot": 1},
    "gpu": {"host": "gpu", "cluster": "c", "address": "10.0.0.12", "slot": 0},
    "pool": {"host": "pool", "cluster": "c", "address": "10.0.0.21", "slot": 0, "spare": True},
}
CLUSTERS = {"c": {"head": "head"}}
ALIVE = ["10.0.0.10/0", "10.0.0.11/0", "10.0.0.11/1", "10.0.0.12/0"]


def checks(alive: list[str] | None = ALIVE, **converged: bool) -> dict[str, dict[str, Any]]:
    hosts = {"head": True, "w1": True, "gpu": True, "pool": True, "redis": True}
    results: dict[str, dict[str, Any]] = {
        host: {"converged": converged.get(host, default)} for host, default in hosts.items()
    }
    results["head"]["alive_nodes"] = alive
    return results


def test_converged_hosts_with_every_node_alive_are_left_out_but_gpu_hosts() -> None:
    # The GPU host: NVML is read on every run. A spare pool host and Redis run no node.
    left_out = converged_hosts(checks(), PLAN_NODES, CLUSTERS, nvml_hosts=["gpu"])
    assert left_out == ["head", "pool", "redis", "w1"]


def test_the_workers_of_a_gpu_head_take_the_run_with_it() -> None:
    # The head reads its GPUs and may restart: its workers wait for it in their own run.
    assert converged_hosts(checks(), PLAN_NODES, CLUSTERS, nvml_hosts=["head"]) == ["pool", "redis"]


def test_a_monitoring_server_takes_the_run_with_the_head_whose_dashboards_it_reads() -> None:
    servers = {"c": "redis"}
    assert "redis" in converged_hosts(checks(), PLAN_NODES, CLUSTERS, (), servers)
    assert converged_hosts(checks(head=False), PLAN_NODES, CLUSTERS, (), servers) == ["pool"]


def test_a_host_asked_for_gpus_outside_a_gpu_group_has_them_read_too() -> None:
    assert reads_gpus({"ray_gpu": False, "ray_num_gpus": 2})
    assert reads_gpus({"ray_gpu": "true", "ray_num_gpus": None})
    assert not reads_gpus({"ray_gpu": False, "ray_num_gpus": 0})


def test_a_host_with_a_node_not_alive_takes_the_run() -> None:
    alive = [node for node in ALIVE if node != "10.0.0.11/1"]
    assert "w1" not in converged_hosts(checks(alive), PLAN_NODES, CLUSTERS)


def test_without_the_heads_list_no_ray_host_is_left_out() -> None:
    assert converged_hosts(checks(None), PLAN_NODES, CLUSTERS) == ["pool", "redis"]


def test_the_workers_of_a_head_that_takes_the_run_take_it_too() -> None:
    # The head may restart: its workers wait for it in their own run.
    assert converged_hosts(checks(head=False), PLAN_NODES, CLUSTERS) == ["pool", "redis"]


def test_a_host_not_converged_by_its_own_check_takes_the_run() -> None:
    assert "w1" not in converged_hosts(checks(w1=False), PLAN_NODES, CLUSTERS)
    # A skipped or unreachable check says nothing: the host takes the run.
    results = checks()
    results["w1"] = {"skipped": True}
    results["redis"] = {"unreachable": True}
    assert converged_hosts(results, PLAN_NODES, CLUSTERS, nvml_hosts=["gpu"]) == ["head", "pool"]


RUN = {"rayfleet_run_playbook": "site.yml", "ansible_run_tags": ["all"], "ansible_skip_tags": []}


@pytest.mark.parametrize(
    ("overrides", "check_mode", "reason"),
    [
        ({}, False, ""),
        (
            {"rayfleet_run_playbook": "teardown.yml"},
            False,
            "teardown.yml changes hosts on every run",
        ),
        ({"rayfleet_run_playbook": "rotate.yml"}, False, "rotate.yml changes hosts on every run"),
        ({"rayfleet_skip_converged": "false"}, False, "rayfleet_skip_converged is false"),
        ({}, True, "a check run records nothing"),
        ({"ansible_run_tags": ["ray"]}, False, "a run limited by tags converges part of a host"),
        ({"ansible_skip_tags": ["ray"]}, False, "a run limited by tags converges part of a host"),
        ({"rayfleet_run_lock_under": "x"}, False, "the provisioner's runs change pool hosts"),
        ({"rayfleet_pool_change": True}, False, "the provisioner's runs change pool hosts"),
    ],
)
def test_only_a_whole_converging_run_from_the_controller_leaves_hosts_out(
    overrides: dict[str, Any], check_mode: bool, reason: str
) -> None:
    assert full_run_reason({**RUN, **overrides}, check_mode) == reason


@pytest.mark.parametrize("cli", [{"step": True}, {"start_at_task": "Install"}])
def test_a_run_that_may_leave_tasks_out_takes_every_host(cli: dict[str, Any]) -> None:
    reason = "a run with --step or --start-at-task may leave tasks out"
    assert full_run_reason(RUN, False, {"step": False, "start_at_task": None, **cli}) == reason
    assert full_run_reason(RUN, False, {"step": False, "start_at_task": None}) == ""


def test_records_are_root_owned_json_written_whole_for_root_alone(tmp_path: Path) -> None:
    path = str(tmp_path / "converged.json")
    assert read_records(path) == {}
    write_records({"site.yml": {"inputs": "i", "state": "s"}}, path)
    assert read_records(path) == {"site.yml": {"inputs": "i", "state": "s"}}
    assert os.stat(path).st_mode & 0o777 == 0o600
    Path(path).write_text("not json")
    assert read_records(path) == {}
    write_records({"site.yml": {}}, path)
    os.chown(path, 1000, 1000)  # another user's file is no record
    assert read_records(path) == {}


def test_the_inputs_cover_the_inventory_its_vars_and_credentials(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts.yml"
    hosts.write_text("all: {}\n")
    (tmp_path / "group_vars").mkdir()
    (tmp_path / ".credentials").mkdir()
    project = tmp_path / "project"
    (project / "host_vars").mkdir(parents=True)
    assert inventory_paths([str(hosts)], [str(project / "site.yml")]) == [
        str(hosts),
        str(tmp_path / "group_vars"),
        str(project / "host_vars"),
    ]
    # Beside an inventory file, or in an inventory directory (-i inventories/mine).
    assert credential_paths([str(hosts)]) == [str(tmp_path / ".credentials")]
    assert credential_paths([str(tmp_path)]) == [str(tmp_path / ".credentials")]
    assert extra_var_files(["a=1", "@vars.yml"]) == ["vars.yml"]


def test_variables_behind_a_link_count_once(tmp_path: Path) -> None:
    shared = tmp_path / "common" / "all"
    shared.mkdir(parents=True)
    (shared / "ray.yml").write_text("ray_num_cpus: 4\n")
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "all").symlink_to(shared)
    (shared / "loop").symlink_to(tmp_path / "group_vars")
    found = [path for path, _size, _mtime in file_signatures([str(tmp_path / "group_vars")])]
    assert found == [str(tmp_path / "group_vars" / "all" / "ray.yml")]


class Vaulted:
    """A vaulted value, as ansible-core 2.19 (text) or 2.17 and 2.18 (bytes) hold it."""

    def __init__(self, ciphertext: str | bytes) -> None:
        self._ciphertext = ciphertext

    def __str__(self) -> str:
        raise AssertionError("decrypted")


@pytest.mark.parametrize(
    "ciphertext", ["$ANSIBLE_VAULT;1.1;AES256\n6162", b"$ANSIBLE_VAULT;1.1;AES256\n6162"]
)
def test_a_vaulted_value_counts_by_its_ciphertext_never_decrypted(ciphertext: str | bytes) -> None:
    assert plain_value(Vaulted(ciphertext)) == "$ANSIBLE_VAULT;1.1;AES256\n6162"
    assert plain_value(7) == "7"


def test_a_controller_address_is_routed_only_for_a_host_given_by_address() -> None:
    assert source_address("127.0.0.1", 22) == "127.0.0.1"
    # A name would cost a DNS lookup; a bad port or label is no address either.
    assert source_address("localhost", 22) == ""
    assert source_address("127.0.0.1", "ssh") == ""
    assert source_address("a" * 300, 22) == ""


def test_inputs_edited_while_the_run_went_on_record_no_host() -> None:
    assert inputs_facts("s", "w", None)["rayfleet_converged_inputs"]
    assert inputs_facts("s", "w", "s") == inputs_facts("s", "w", None)
    assert inputs_facts("s", "w2", "s") != inputs_facts("s", "w", "s")  # the run's own writes
    edited = {"rayfleet_converged_inputs": "", "rayfleet_converged_inputs_stable": ""}
    assert inputs_facts("s2", "w", "s") == edited
    # Inputs the run could not digest (empty) match no record and record none.
    assert inputs_facts("", "", None) == edited


def test_a_changed_file_of_the_inputs_changes_its_signature(tmp_path: Path) -> None:
    secret = tmp_path / ".credentials" / "token"
    secret.parent.mkdir()
    secret.write_text("a")
    before = file_signatures([str(tmp_path)])
    os.utime(secret, ns=(1, 1))
    assert file_signatures([str(tmp_path)]) != before


class Hostvars(dict[str, Any]):
    """Ansible's hostvars, with the inventory they come from."""

    def __init__(self, hosts: dict[str, Any], inventory_vars: dict[str, dict[str, Any]]) -> None:
        super().__init__(hosts)
        self._inventory = SimpleNamespace(
            get_host=lambda name: SimpleNamespace(vars=inventory_vars.get(name, {})),
            groups={"all": SimpleNamespace(vars=inventory_vars.get("@all", {}))},
        )


def inputs_of(task_vars: dict[str, Any]) -> tuple[str, str]:
    action = object.__new__(ActionModule)  # inputs() reads only the task's variables
    return action.inputs(task_vars)


def run_vars(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "hosts.yml").write_text("all: {}\n")
    facts: dict[str, Any] = {
        "default_ipv4": {"address": "10.0.0.10"},
        "uptime_seconds": 5,
        "env": {"SSH_CONNECTION": "10.0.0.1 50000 10.0.0.10 22"},
    }
    return {
        "inventory_hostname": "head",
        "ansible_version": {"full": "2.19.0"},
        "ansible_inventory_sources": [str(tmp_path / "hosts.yml")],
        "groups": {"all": ["head", "pool-1"], "ray_pool": ["pool-1"], "ray_head": ["head"]},
        "hostvars": Hostvars(
            {
                "head": {"ansible_host": "10.0.0.10", "ansible_facts": facts},
                "pool-1": {"ansible_host": "10.0.0.21"},
            },
            {"head": {"ray_num_cpus": 4}, "@all": {"ray_version": "2.60.0"}},
        ),
        "rayfleet_plan": {"clusters": {}},
    }


def test_the_inputs_are_the_same_when_the_check_and_the_record_read_the_same_run(
    tmp_path: Path,
) -> None:
    at_check = run_vars(tmp_path)
    at_record = run_vars(tmp_path)
    # What the run does meanwhile: groups of its own, a spare pool host's facts (pool.yml),
    # facts no role reads, another SSH connection from the same controller.
    at_record["groups"]["rayfleet_converged"] = ["head"]
    at_record["hostvars"]["pool-1"]["ansible_facts"] = {"default_ipv4": {"address": "x"}}
    head_facts = at_record["hostvars"]["head"]["ansible_facts"]
    head_facts["uptime_seconds"] = 99
    head_facts["env"] = {"SSH_CONNECTION": "10.0.0.1 50001 10.0.0.10 22"}
    assert inputs_of(at_check) == inputs_of(at_record)


def test_credentials_the_run_writes_in_an_inventory_directory_leave_the_stable_part(
    tmp_path: Path,
) -> None:
    at_check = run_vars(tmp_path)
    at_check["ansible_inventory_sources"] = [str(tmp_path)]
    stable, written = inputs_of(at_check)
    (tmp_path / ".credentials").mkdir()
    (tmp_path / ".credentials" / "ray-auth-token-prod").write_text("generated")
    stable_after, written_after = inputs_of(at_check)
    assert stable_after == stable
    assert written_after != written


@pytest.mark.parametrize(
    "change",
    [
        lambda run: run["hostvars"]["head"]["ansible_facts"].update(
            default_ipv4={"address": "10.0.0.99"}
        ),
        lambda run: run["hostvars"]["head"]["ansible_facts"].update(
            env={"SSH_CONNECTION": "10.0.0.2 50000 10.0.0.10 22"}
        ),
        lambda run: run["hostvars"]["pool-1"].update(ansible_host="10.0.0.22"),
        lambda run: run["groups"].update(ray_pool_members=["pool-1"]),
        lambda run: run.update(rayfleet_plan={"clusters": {"c": {}}}),
        lambda run: run["hostvars"]._inventory.get_host("head").vars.update(ray_num_cpus=8),
        lambda run: run["hostvars"]._inventory.groups["all"].vars.update(ray_version="2.61.0"),
    ],
    ids=["address", "controller", "host-variable", "members", "plan", "inventory", "group"],
)
def test_a_changed_input_changes_the_digest(tmp_path: Path, change: Any) -> None:
    before = inputs_of(run_vars(tmp_path))
    changed = run_vars(tmp_path)
    change(changed)
    assert inputs_of(changed) != before


def test_an_edited_inventory_file_changes_the_digest(tmp_path: Path) -> None:
    before = inputs_of(run_vars(tmp_path))
    os.utime(tmp_path / "hosts.yml", ns=(1, 1))
    assert inputs_of(run_vars(tmp_path)) != before
