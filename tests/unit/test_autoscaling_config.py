"""The autoscaler's files on the head: Ray accepts the config, v1 and v2 alike."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from plans import cluster, lazy, node
from ray.autoscaler._private.util import prepare_config, validate_config
from ray.autoscaler.v2.instance_manager.config import AutoscalingConfig

from ansible_collections.rayfleet.cluster.plugins.filter.autoscaling import (
    FilterModule,
    autoscaler_fence_filter,
    autoscaler_inventory_filter,
    connection_vars,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.autoscaling import (
    autoscaler_inventory,
    autoscaling_config,
    pool_host_vars,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.plan import Plan
from ansible_collections.rayfleet.cluster.plugins.module_utils.provider_section import (
    SECTION,
    ProviderSection,
)
from rayfleet.autoscaler.settings import ProviderSettings

PLAN = Plan(
    clusters={"lab": cluster("head", autoscaling=True), "other": cluster("other-head")},
    nodes={
        "head": node("head", "lab", "head", "head", "10.0.0.10", vars={}),
        "cpu-1": node("cpu-1", "lab", "worker", "cpu", "10.0.0.11"),
        "cpu-2": node("cpu-2", "lab", "worker", "cpu", "10.0.0.12"),
        "gpu-1": node(
            "gpu-1",
            "lab",
            "worker",
            "gpu_pool",
            "10.0.0.21",
            pool=True,
            vars={
                "ray_num_cpus": 8,
                "ray_num_gpus": 1,
                "ray_resources": {"a100": 1},
                "ray_labels": {"example.com/gpu": "a100"},
                "ray_max_workers": 5,
            },
        ),
        "gpu-2": node(
            "gpu-2",
            "lab",
            "worker",
            "gpu_pool",
            "10.0.0.22",
            pool=True,
            vars={"ray_num_cpus": 8, "ray_num_gpus": 1},
        ),
        "other-head": node("other-head", "other", "head", "head", "10.0.9.1"),
    },
)
OPTIONS = {
    "upscaling_speed": "1.0",
    "idle_timeout_minutes": 5,
    "state_dir": "/var/lib/rayfleet/autoscaler",
    "ansible_config": "/etc/rayfleet/autoscaler/ansible.cfg",
    "socket": "/run/rayfleet/provisioner.sock",
    "inventory": "/etc/rayfleet/autoscaler/inventory.yml",
    "quarantine_base_s": 60,
    "quarantine_max_s": 3600,
    "playbook_timeout_s": 1800,
    "dashboard_url": "http://10.0.0.10:8265",
    "start_timeout_s": 120,
}


@pytest.fixture
def config() -> dict[str, Any]:
    return autoscaling_config(PLAN, "lab", OPTIONS)


def test_node_types_come_from_worker_groups(config: dict[str, Any]) -> None:
    types = config["available_node_types"]
    assert types["head"]["max_workers"] == 0
    # Static hosts are pinned: never added, never removed.
    assert (types["cpu"]["min_workers"], types["cpu"]["max_workers"]) == (2, 2)
    # A pool type's bounds stop at its hosts; its resources are what its settings declare.
    assert types["gpu_pool"] == {
        "node_config": {},
        "resources": {"CPU": 8, "GPU": 1, "a100": 1},
        "labels": {"example.com/gpu": "a100"},
        "min_workers": 0,
        "max_workers": 2,
    }
    assert config["max_workers"] == 4
    assert (config["upscaling_speed"], config["idle_timeout_minutes"]) == (1.0, 5.0)


def test_provider_lists_this_clusters_nodes_only(config: dict[str, Any]) -> None:
    settings = ProviderSettings.from_provider_config(config["provider"], "lab")
    assert [(node.name, node.node_type, node.is_head) for node in settings.fixed] == [
        ("head", "head", True),
        ("cpu-1", "cpu", False),
        ("cpu-2", "cpu", False),
    ]
    assert [(host.name, host.ip) for host in settings.pool] == [
        ("gpu-1", "10.0.0.21"),
        ("gpu-2", "10.0.0.22"),
    ]
    assert settings.quarantine.duration(2) == 120
    # A quick join waits for its node on the head's dashboard, as long as a start may take.
    assert (settings.section.dashboard_url, settings.section.start_timeout_s) == (
        "http://10.0.0.10:8265",
        120,
    )


def test_the_provider_section_reads_back_from_yaml_as_written(config: dict[str, Any]) -> None:
    section = config["provider"][SECTION]
    written = yaml.safe_load(yaml.safe_dump(section))
    assert ProviderSection.from_dict(written).to_dict() == section
    # The members' scrape targets and the fence key are left out when unused.
    assert not {"prometheus", "fence"} & set(section)
    with_both = {
        **OPTIONS,
        "prometheus": {"dir": "/var/lib/rayfleet/prometheus", "targets": {"gpu-1": {}}},
        "fence": {"key": "/etc/rayfleet/autoscaler/ssh/fence_ed25519", "hosts": {"head": 22}},
    }
    settings = ProviderSettings.from_provider_config(
        autoscaling_config(PLAN, "lab", with_both)["provider"], "lab"
    )
    assert settings.prometheus_targets == {"gpu-1": {}}
    assert settings.fence is not None and settings.fence.hosts == {"head": 22}


def test_ray_v1_accepts_the_config(config: dict[str, Any]) -> None:
    validate_config(config)


def test_ray_v2_accepts_the_config(config: dict[str, Any]) -> None:
    v2 = AutoscalingConfig(prepare_config(config))
    assert v2.disable_node_updaters()
    assert set(v2.get_node_type_configs()) == {"head", "cpu", "gpu_pool"}
    assert v2.get_node_type_configs()["gpu_pool"].resources["GPU"] == 1


def test_the_heads_inventory_holds_the_head_and_the_pool() -> None:
    inventory = autoscaler_inventory(
        PLAN,
        "lab",
        {"gpu-1": {"ansible_host": "192.0.2.21", "ansible_user": "deploy"}},
        {"ansible_connection": "local"},
        {"ray_wheelhouse_dir": "/var/cache/rayfleet/wheelhouse"},
    )
    groups = inventory["all"]["children"]
    # Every host is marked as the provisioner's: the ray role leaves the keys alone there.
    # The head's address comes from the plan: the provisioner's runs gather no facts there.
    assert groups["ray_head"]["hosts"] == {
        "head": {
            "ansible_connection": "local",
            "_ray_in_provisioner": True,
            "ray_node_ip": "10.0.0.10",
        }
    }
    assert groups["ray_pool"]["children"] == {"gpu_pool": {}}
    gpu_1 = groups["ray_workers"]["children"]["gpu_pool"]["hosts"]["gpu-1"]
    assert gpu_1["ansible_host"] == "192.0.2.21"
    assert gpu_1["ray_num_gpus"] == 1
    assert gpu_1["ray_wheelhouse_dir"] == "/var/cache/rayfleet/wheelhouse"
    assert gpu_1["_ray_in_provisioner"] is True
    # Static workers are not the provider's to run playbooks on.
    assert "cpu" not in groups["ray_workers"]["children"]
    # The quick join reads each pool host's connection back from the same file.
    read_back = pool_host_vars(yaml.safe_load(yaml.safe_dump(inventory)))
    assert set(read_back) == {"gpu-1", "gpu-2"}
    assert read_back["gpu-1"] == gpu_1


def test_the_provisioners_runs_see_whether_a_pool_host_is_fenced() -> None:
    hostvars = {"small-1": {"firewall_enabled": False, "ray_num_cpus": 1, "ansible_port": 2222}}
    assert connection_vars(hostvars, ["small-1"], "root") == {
        "small-1": {"ansible_user": "root", "ansible_port": 2222, "firewall_enabled": False}
    }


FENCE_KEY = "/etc/rayfleet/autoscaler/ssh/fence_ed25519"
# rayfleet's firewall guards every host of the plan but cpu-2.
FIREWALL = {name: {"enabled": name != "cpu-2"} for name in PLAN.nodes}
SSH_PORTS = {name: {"ansible_port": 2222} if name == "gpu-1" else {} for name in PLAN.nodes}


def test_the_fence_opens_the_guarded_hosts_of_the_cluster_on_their_ssh_ports() -> None:
    fence = autoscaler_fence_filter(PLAN.to_dict(), "lab", FIREWALL, SSH_PORTS, key=FENCE_KEY)
    assert fence == {
        "key": FENCE_KEY,
        "hosts": {"head": 22, "cpu-1": 22, "gpu-1": 2222, "gpu-2": 22},
    }


def test_no_fence_without_a_pool_or_without_a_guarded_host() -> None:
    assert autoscaler_fence_filter(PLAN.to_dict(), "other", FIREWALL, SSH_PORTS, FENCE_KEY) == {}
    unguarded = {name: {"enabled": False} for name in PLAN.nodes}
    assert autoscaler_fence_filter(PLAN.to_dict(), "lab", unguarded, SSH_PORTS, FENCE_KEY) == {}


def test_the_filters_read_the_plan_the_validate_step_sets() -> None:
    facts = PLAN.to_dict()
    autoscaling_config_filter = FilterModule().filters()["autoscaling_config"]
    assert autoscaling_config_filter(facts, "lab", OPTIONS) == autoscaling_config(
        PLAN, "lab", OPTIONS
    )
    overrides = {"user": "root", "head": {}, "pool": {}}
    inventory = autoscaler_inventory_filter(facts, "lab", {"gpu-1": {}, "gpu-2": {}}, overrides)
    assert sorted(inventory["all"]["children"]["ray_workers"]["children"]["gpu_pool"]["hosts"]) == [
        "gpu-1",
        "gpu-2",
    ]


def test_the_filter_takes_ansibles_lazy_containers() -> None:
    options = lazy(
        {
            **OPTIONS,
            "prometheus": {
                "dir": "/var/lib/rayfleet/prometheus",
                "targets": {"gpu-1": {"ray": {}}},
            },
            "fence": {"key": "/etc/rayfleet/autoscaler/ssh/fence_ed25519", "hosts": {"head": 22}},
        }
    )
    section = autoscaling_config(PLAN, "lab", options)["provider"][SECTION]
    assert type(section["prometheus"]["targets"]["gpu-1"]) is dict
    assert section["fence"]["hosts"] == {"head": 22}
