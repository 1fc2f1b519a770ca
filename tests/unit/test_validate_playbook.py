"""End to end: playbooks/validate.yml through a real ansible-playbook, on this machine.

Every host of the small inventories below is this machine over the local connection: the
validation play only gathers facts and runs the controller-side validate_inventory action,
so nothing is changed. The fact cache is kept in memory so no file is written under .cache.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

Inventory = dict[str, Any]

REPO_ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = REPO_ROOT / ".venv" / "bin" / "ansible-playbook"
RAY_PIN = yaml.safe_load((REPO_ROOT / "roles/ray/defaults/main.yml").read_text())["ray_version"]
# On the loopback: the test hosts are this machine, and a node address must be one of its own.
HEAD_IP = "127.0.2.10"


def good_inventory() -> Inventory:
    """A head and two workers, one in each worker group `cpu` and `gpu` under ray_workers."""
    return {
        "all": {
            "vars": {
                "ansible_connection": "local",
                "ansible_python_interpreter": sys.executable,
            }
        },
        "ray_head": {"hosts": {"head-1": {"ray_node_ip": HEAD_IP}}},
        "ray_workers": {
            "children": {
                "cpu": {"hosts": {"cpu-1": {}}},
                "gpu": {"hosts": {"gpu-1": {}}},
            }
        },
    }


@dataclass(frozen=True)
class Run:
    returncode: int
    output: str


def run_playbook(
    repo_root: Path, tmp_path: Path, inventory: Inventory | Path, playbook: str | Path, *args: str
) -> Run:
    """ansible-playbook on an inventory given as data, or as a path of the checkout.

    ``playbook``: a name under playbooks/, or a playbook file of the test's own.
    """
    if isinstance(inventory, Path):
        inventory_file = inventory
    else:
        inventory_file = tmp_path / "hosts.yml"
        inventory_file.write_text(yaml.safe_dump(inventory, sort_keys=False))
    env = {name: value for name, value in os.environ.items() if not name.startswith("ANSIBLE_")}
    env.update(
        ANSIBLE_CONFIG=str(repo_root / "ansible.cfg"),
        ANSIBLE_CACHE_PLUGIN="memory",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-local"),
        ANSIBLE_REMOTE_TEMP=str(tmp_path / "ansible-remote"),
    )
    completed = subprocess.run(
        [
            str(ANSIBLE_PLAYBOOK),
            "-i",
            str(inventory_file),
            str(playbook if isinstance(playbook, Path) else f"playbooks/{playbook}"),
            *args,
        ],
        cwd=repo_root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
        check=False,
    )
    return Run(completed.returncode, completed.stdout)


def task_result(output: str, host: str) -> Any:
    """The YAML result that `-v` prints after `ok: [host] =>`."""
    match = re.search(rf"^ok: \[{re.escape(host)}\] => *\n((?:[ \t]+.*\n)+)", output, re.MULTILINE)
    assert match, output
    return yaml.safe_load(textwrap.dedent(match.group(1)))


PLAY_GROUPS_PLAYBOOK = """
- name: Validate
  ansible.builtin.import_playbook: rayfleet.cluster.validate
- name: Show the groups validation put the hosts in
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Show them
      ansible.builtin.debug:
        msg: "{{ groups | dict2items | selectattr('key', 'match', '^rayfleet_') | items2dict }}"
"""


def test_validation_puts_each_host_in_the_groups_of_its_plays(
    repo_root: Path, tmp_path: Path
) -> None:
    inventory = good_inventory()
    inventory["ray_head"]["hosts"]["head-1"].update(ray_autoscaling=True, ray_monitoring=True)
    inventory["ray_workers"]["children"]["small"] = {
        "hosts": {"spare-1": {"ray_node_ip": "192.0.2.21"}, "member-1": {}},
        "vars": {"ray_num_cpus": 1},
    }
    inventory["ray_pool"] = {"children": {"small": {}}}
    inventory["ray_pool_members"] = {"hosts": {"member-1": {}}}
    inventory["redis"] = {"hosts": {"redis-1": {}}}
    playbook = tmp_path / "groups.yml"
    playbook.write_text(PLAY_GROUPS_PLAYBOOK)
    run = run_playbook(repo_root, tmp_path, inventory, playbook, "-v")
    assert run.returncode == 0, run.output
    # Validation changes nothing, so a second deploy can report changed=0.
    assert set(re.findall(r"changed=(\d+)", run.output)) == {"0"}, run.output
    workers = ["cpu-1", "gpu-1", "head-1", "member-1"]
    groups = task_result(run.output, "localhost")["msg"]
    assert {name: sorted(hosts) for name, hosts in groups.items()} == {
        # Spare-1 is the autoscaler's until it joins: only pool.yml touches it.
        "rayfleet_ray_nodes": workers,
        "rayfleet_spare_hosts": ["spare-1"],
        "rayfleet_fenced_hosts": [*workers, "redis-1"],
        "rayfleet_exporter_hosts": [*workers, "redis-1"],
        "rayfleet_monitoring_servers": ["head-1"],
        # Every host validation saw: later imports of validate.yml in the run skip them.
        "rayfleet_validated": [*workers, "redis-1", "spare-1"],
    }


@pytest.mark.parametrize("playbook", ["ray.yml", "site.yml"])
def test_a_playbook_run_on_its_own_or_by_tags_reaches_its_hosts(
    repo_root: Path, tmp_path: Path, playbook: str
) -> None:
    # A tag no task has: only what is tagged always runs, validation and the roles' argument
    # checks; the ray role's shows which hosts its play reached.
    run = run_playbook(
        repo_root, tmp_path, good_inventory(), playbook, "--check", "--tags", "rayfleet_no_task"
    )
    assert run.returncode == 0, run.output
    ray_play = run.output.split("PLAY [Install and run Ray on the heads and the worker groups]")
    assert len(ray_play) == 2, run.output
    checked = re.search(
        r"TASK \[rayfleet.cluster.ray : Validating arguments.*?\n\n", ray_play[1], re.DOTALL
    )
    assert checked, run.output
    assert sorted(re.findall(r"ok: \[([^\]]+)\]", checked.group(0))) == ["cpu-1", "gpu-1", "head-1"]


def test_the_provisioners_runs_leave_listener_ports_to_the_controllers(
    repo_root: Path, tmp_path: Path
) -> None:
    # The head's provisioner has the Ray settings only: a node_exporter_port the controller
    # moved off ray_metrics_export_port looks, there, like the default on top of it.
    inventory = good_inventory()
    BAD_CASES["node_exporter on the dashboard's port"].change(inventory)
    inventory["ray_head"]["hosts"]["head-1"]["_ray_in_provisioner"] = True
    run = run_playbook(repo_root, tmp_path, inventory, "validate.yml")
    assert run.returncode == 0, run.output


def test_ansible_playbook_is_in_the_venv() -> None:
    assert ANSIBLE_PLAYBOOK.is_file(), f"no {ANSIBLE_PLAYBOOK}: run `make venv`"


def test_good_inventory_passes_and_sets_the_layout(repo_root: Path, tmp_path: Path) -> None:
    run = run_playbook(repo_root, tmp_path, good_inventory(), "validate.yml", "-v")
    assert run.returncode == 0, run.output
    assert "Fix:" not in run.output
    nodes = task_result(run.output, "head-1")["ansible_facts"]["rayfleet_nodes"]
    assert {name: (node["type"], node["group"]) for name, node in nodes.items()} == {
        "head-1": ("head", "head"),
        "cpu-1": ("worker", "cpu"),
        "gpu-1": ("worker", "gpu"),
    }
    # Workers serve on this machine's default address (their facts); the head sets its own.
    assert nodes["head-1"]["address"] == HEAD_IP
    assert nodes["cpu-1"]["address"] == nodes["gpu-1"]["address"] != HEAD_IP
    for node in nodes.values():
        assert (node["cluster"], node["head"]) == ("rayfleet", "head-1")
        assert node["gcs_address"] == f"{HEAD_IP}:6379"
        assert node["dashboard_address"] == f"{HEAD_IP}:8265"
        assert (node["auth_mode"], node["metrics_port"], node["agent_port"]) == (
            "token",
            8090,
            52365,
        )


def test_the_head_monitors_its_cluster(repo_root: Path, tmp_path: Path) -> None:
    inventory = good_inventory()
    inventory["ray_workers"]["children"]["gpu"]["hosts"]["gpu-1"]["node_exporter_port"] = 9200
    run = run_playbook(repo_root, tmp_path, inventory, "validate.yml", "-v")
    assert run.returncode == 0, run.output
    monitoring = task_result(run.output, "head-1")["ansible_facts"]["rayfleet_monitoring"]
    assert list(monitoring["servers"]) == ["head-1"]
    assert monitoring["clusters"]["rayfleet"]["prometheus_url"] == f"http://{HEAD_IP}:9090"
    assert monitoring["clusters"]["rayfleet"]["grafana_url"] == f"http://{HEAD_IP}:3000"
    targets = monitoring["servers"]["head-1"]["targets"]
    ray = {group["labels"]["host"]: group for group in targets["ray"]}
    node = {group["labels"]["host"]: group for group in targets["node"]}
    assert sorted(ray) == sorted(node) == ["cpu-1", "gpu-1", "head-1"]
    assert ray["head-1"]["targets"] == [f"{HEAD_IP}:8090"]
    assert ray["gpu-1"]["labels"] == {
        "host": "gpu-1",
        "ray_io_cluster": "rayfleet",
        "ray_node_type": "gpu",
    }
    # The variable a host sets is where Prometheus looks for its exporter.
    assert node["gpu-1"]["targets"][0].endswith(":9200")
    assert node["head-1"]["targets"] == [f"{HEAD_IP}:9100"]


def test_heads_of_a_tls_redis_get_its_ca_from_the_redis_hosts_default_dir(
    repo_root: Path, tmp_path: Path
) -> None:
    inventory = good_inventory()
    inventory["ray_head"]["hosts"]["head-1"]["ray_gcs_storage"] = "redis"
    inventory["redis"] = {"hosts": {"redis-1": {"redis_tls": True}}}
    run = run_playbook(repo_root, tmp_path, inventory, "validate.yml", "-v")
    assert run.returncode == 0, run.output
    head = task_result(run.output, "head-1")["ansible_facts"]["rayfleet_nodes"]["head-1"]
    assert head["redis_tls"] is True
    # redis_tls_dir's default, under the inventory's directory as the redis role sees it.
    assert head["redis_ca_file"] == f"{tmp_path}/.credentials/tls-redis/ca.crt"


def test_a_second_monitoring_host_is_refused(repo_root: Path, tmp_path: Path) -> None:
    inventory = good_inventory()
    inventory["monitoring"] = {"hosts": {"mon-1": {}, "mon-2": {}}}
    run = run_playbook(repo_root, tmp_path, inventory, "validate.yml")
    assert run.returncode != 0
    assert "mon-2: monitoring: the monitoring group has 2 hosts (mon-1, mon-2)" in run.output
    assert "Fix: keep one host in the monitoring group" in run.output


def test_unknown_variable_only_warns(repo_root: Path, tmp_path: Path) -> None:
    inventory = good_inventory()
    inventory["ray_workers"]["children"]["gpu"]["hosts"]["gpu-1"]["ray_flux_capacitor"] = 88
    run = run_playbook(repo_root, tmp_path, inventory, "validate.yml")
    assert run.returncode == 0, run.output
    assert re.search(r"WARNING.*gpu-1: ray_flux_capacitor is not a rayfleet variable", run.output)


def _set(path: str, value: Any) -> Callable[[Inventory], None]:
    """A change of the good inventory: set the value at a dotted path (created as needed)."""

    def change(inventory: Inventory) -> None:
        *parents, last = path.split(".")
        node = inventory
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value

    return change


def _all(*changes: Callable[[Inventory], None]) -> Callable[[Inventory], None]:
    def change(inventory: Inventory) -> None:
        for one in changes:
            one(inventory)

    return change


CPU_1 = "ray_workers.children.cpu.hosts.cpu-1"
GPU_1 = "ray_workers.children.gpu.hosts.gpu-1"
HEAD_1 = "ray_head.hosts.head-1"


@dataclass(frozen=True)
class BadCase:
    change: Callable[[Inventory], None]
    host: str
    # A regular expression: the Problem's variable.
    variable: str
    also: tuple[str, ...] = ()
    args: tuple[str, ...] = ()


BAD_CASES = {
    "two heads": BadCase(
        _set("ray_head.hosts.head-2", {}), "head-2", "ray_cluster_name", ("two heads", "head-1")
    ),
    "host in two worker groups": BadCase(
        _set("ray_workers.children.gpu.hosts.cpu-1", {}), "cpu-1", "groups", ("cpu, gpu",)
    ),
    "worker directly in ray_workers": BadCase(
        _set("ray_workers.hosts.lone-1", {}), "lone-1", "groups", ("no worker group",)
    ),
    "min above max in a group": BadCase(
        _set("ray_workers.children.cpu.vars", {"ray_min_workers": 3, "ray_max_workers": 1}),
        "cpu-1",
        "ray_min_workers",
        ("ray_max_workers 1",),
    ),
    "two equal ports": BadCase(
        _set(f"{HEAD_1}.ray_gcs_port", 8265),
        "head-1",
        "(ray_gcs_port|ray_dashboard_port)",
        ("ray_gcs_port", "8265"),
    ),
    "node_exporter on the dashboard's port": BadCase(
        _set(f"{HEAD_1}.node_exporter_port", 8265),
        "head-1",
        "node_exporter_port",
        ("port 8265 is also ray_dashboard_port",),
    ),
    "ray_tls_renew_days as long as the certificates": BadCase(
        _set("all.vars.ray_tls_renew_days", 825), "head-1", "ray_tls_renew_days"
    ),
    "negative CPUs": BadCase(_set(f"{CPU_1}.ray_num_cpus", -2), "cpu-1", "ray_num_cpus"),
    "version not exact": BadCase(
        _set("all.vars.ray_version", "2.60"), "head-1", "ray_version", ("'2.60'",)
    ),
    "versions differ in a cluster": BadCase(
        _set(f"{CPU_1}.ray_version", "2.59.0"), "cpu-1", "ray_version", (RAY_PIN,)
    ),
    "object store above memory": BadCase(
        _set(f"{CPU_1}.ray_object_store_memory", 10**15), "cpu-1", "ray_object_store_memory"
    ),
    "typo of a variable": BadCase(
        _set(f"{GPU_1}.ray_num_cpu", 2), "gpu-1", "ray_num_cpu", ("did you mean ray_num_cpus",)
    ),
    "wrong type": BadCase(_set(f"{GPU_1}.ray_num_cpus", "lots"), "gpu-1", "ray_num_cpus"),
    "redis storage without a redis": BadCase(
        _set(f"{HEAD_1}.ray_gcs_storage", "redis"),
        "head-1",
        "ray_gcs_storage",
        ("redis group has no host",),
    ),
    "two clusters, one namespace, one redis": BadCase(
        _all(
            _set("all.vars.ray_gcs_storage", "redis"),
            _set("redis.hosts.redis-1", {}),
            _set(
                "ray_head.hosts.head-2",
                {"ray_cluster_name": "other", "ray_gcs_storage_namespace": "rayfleet"},
            ),
        ),
        "head-2",
        "ray_gcs_storage_namespace",
        ("cluster 'rayfleet'",),
    ),
    "redis port not a port": BadCase(
        _all(_set(f"{HEAD_1}.ray_gcs_storage", "redis"), _set("redis.hosts.redis-1.redis_port", 0)),
        "redis-1",
        "redis_port",
    ),
    "node address the host does not have": BadCase(
        _set(f"{CPU_1}.ray_node_ip", "198.51.100.7"),
        "cpu-1",
        "ray_node_ip",
        ("198.51.100.7 is not an address of this host",),
    ),
    "problem outside --limit": BadCase(
        _set(f"{HEAD_1}.ray_gcs_port", 70000),
        "head-1",
        "ray_gcs_port",
        ("70000",),
        args=("--limit", "cpu-1"),
    ),
}


@pytest.mark.parametrize("case", BAD_CASES.values(), ids=BAD_CASES.keys())
def test_bad_inventory_fails_naming_host_variable_and_fix(
    repo_root: Path, tmp_path: Path, case: BadCase
) -> None:
    inventory = good_inventory()
    case.change(inventory)
    run = run_playbook(repo_root, tmp_path, inventory, "validate.yml", *case.args)
    assert run.returncode != 0, run.output
    # One line per problem: "host: variable: message. Fix: what to do."
    line = re.compile(rf"^\s*{re.escape(case.host)}: {case.variable}: .*\. Fix: .+$", re.MULTILINE)
    assert line.search(run.output), run.output
    for text in case.also:
        assert text in run.output
    assert "nothing was changed" in run.output


def test_every_problem_of_the_inventory_comes_in_one_run(repo_root: Path, tmp_path: Path) -> None:
    inventory = good_inventory()
    _all(
        _set(f"{CPU_1}.ray_num_cpus", -2),
        _set(f"{GPU_1}.ray_num_cpus", "lots"),
        _set(f"{HEAD_1}.firewall_admin_networks", ["10.0.0.0/33"]),
        _set(f"{HEAD_1}.ray_tls_renew_days", 825),
    )(inventory)
    run = run_playbook(repo_root, tmp_path, inventory, "validate.yml")
    assert run.returncode != 0, run.output
    assert "The inventory has 4 problem(s)" in run.output, run.output
    for host, variable in [
        ("cpu-1", "ray_num_cpus"),
        ("gpu-1", "ray_num_cpus"),
        ("head-1", "firewall_admin_networks"),
        ("head-1", "ray_tls_renew_days"),
    ]:
        assert re.search(rf"^\s*{host}: {variable}: .*Fix: ", run.output, re.MULTILINE), variable


def test_site_stops_before_the_ray_role(repo_root: Path, tmp_path: Path) -> None:
    inventory = good_inventory()
    BAD_CASES["two equal ports"].change(inventory)
    # --check as a safety net: should validation ever let this inventory through, the ray
    # role would otherwise install and start Ray on this machine.
    run = run_playbook(repo_root, tmp_path, inventory, "site.yml", "--check")
    assert run.returncode != 0, run.output
    assert "PLAY [Validate the inventory]" in run.output
    assert "Fix:" in run.output
    assert "rayfleet.cluster.ray :" not in run.output
    assert "PLAY [Install and run Ray" not in run.output


def test_unreachable_external_redis_stops_the_run(repo_root: Path, tmp_path: Path) -> None:
    inventory = good_inventory()
    # Port 1 on this machine: nothing listens there.
    _set(HEAD_1, {"ray_gcs_storage": "redis", "ray_redis_address": "127.0.0.1:1"})(inventory)
    run = run_playbook(repo_root, tmp_path, inventory, "site.yml", "--check")
    assert run.returncode != 0, run.output
    assert "head-1: ray_redis_address: cannot reach Redis at 127.0.0.1:1" in run.output
    assert "PLAY [Run Redis" not in run.output
    assert "PLAY [Install and run Ray" not in run.output


def test_a_run_that_leaves_the_head_alone_does_not_ask_for_its_redis(
    repo_root: Path, tmp_path: Path
) -> None:
    inventory = good_inventory()
    _set(HEAD_1, {"ray_gcs_storage": "redis", "ray_redis_address": "127.0.0.1:1"})(inventory)
    # A run of the workers (a join is one): their head, and its Redis, stay as they are.
    run = run_playbook(repo_root, tmp_path, inventory, "validate.yml", "--limit", "ray_workers")
    assert run.returncode == 0, run.output
    assert "cannot reach Redis" not in run.output


def test_the_sample_inventory_passes_validation_as_it_ships(
    repo_root: Path, tmp_path: Path
) -> None:
    # Its hosts are documentation addresses: this machine stands in for each of them.
    run = run_playbook(
        repo_root,
        tmp_path,
        repo_root / "inventories" / "sample",
        "validate.yml",
        "-v",
        "--extra-vars",
        f"ansible_connection=local ansible_python_interpreter={sys.executable}",
    )
    assert run.returncode == 0, run.output
    assert "Fix:" not in run.output
    # Ansible's own word that the sample has no monitoring group is no finding of rayfleet's.
    warnings = [line for line in run.output.splitlines() if "[WARNING]" in line]
    assert [line for line in warnings if "Could not match supplied host pattern" not in line] == []
    nodes = task_result(run.output, "ray-head-01")["ansible_facts"]["rayfleet_nodes"]
    assert nodes["ray-head-01"]["type"] == "head"
    assert nodes["ray-head-01"]["gcs_storage"] == "redis"


def pool_inventory() -> Inventory:
    """good_inventory's head autoscaling from a pool of one host, pool-1."""
    inventory = good_inventory()
    inventory["ray_head"]["hosts"]["head-1"]["ray_autoscaling"] = True
    inventory["ray_workers"]["children"]["pool_small"] = {"hosts": {"pool-1": {"ray_num_cpus": 1}}}
    inventory["ray_pool"] = {"children": {"pool_small": {}}}
    return inventory


@pytest.mark.parametrize(
    ("playbook", "consequence"),
    [("join.yml", "join the whole pool"), ("leave.yml", "empty the whole pool")],
)
def test_join_and_leave_refuse_to_run_without_a_limit(
    repo_root: Path, tmp_path: Path, playbook: str, consequence: str
) -> None:
    # In check mode, so that a refusal that did not happen would change nothing here.
    run = run_playbook(repo_root, tmp_path, pool_inventory(), playbook, "--check")
    assert run.returncode != 0, run.output
    assert f"without it, it would {consequence}" in run.output
    assert "Fix: add --limit HOST[,HOST...]" in run.output
    assert "rayfleet.cluster.ray :" not in run.output
