"""The groups the plays run on, and which pool hosts are spare."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from plans import cluster, node

from ansible_collections.rayfleet.cluster.plugins.module_utils.plan import Plan
from ansible_collections.rayfleet.cluster.plugins.module_utils.play_groups import (
    play_groups,
    spare_pool_host,
)

GROUPS = {
    "ray_pool": ["pool-1", "pool-2"],
    "ray_pool_members": ["pool-2"],
    "ray_head": ["head"],
}
PLAN = Plan(
    clusters={"lab": cluster("head")},
    nodes={
        "head": node("head", "lab", "head", "head", "10.0.0.10"),
        "pool-1": node("pool-1", "lab", "worker", "small", "10.0.0.21", pool=True, spare=True),
        "pool-2": node("pool-2", "lab", "worker", "small", "10.0.0.22", pool=True),
    },
)


def test_a_pool_host_is_spare_until_listed_or_joined() -> None:
    assert spare_pool_host("pool-1", GROUPS)
    assert not spare_pool_host("pool-2", GROUPS)
    # A join (rayfleet_pool_change) reaches the hosts of its run.
    assert not spare_pool_host("pool-1", GROUPS, True)
    # Not a pool host at all.
    assert not spare_pool_host("head", GROUPS)


def test_spare_hosts_are_left_to_pool_yml() -> None:
    monitoring: dict[str, Any] = {
        "exporters": {"head": {}, "pool-1": {}, "redis-1": {}},
        "servers": {"head": {}},
    }
    groups = play_groups(PLAN, monitoring, ["head", "pool-1", "pool-2", "redis-1"])
    assert groups == {
        "rayfleet_ray_nodes": ["head", "pool-2"],
        "rayfleet_spare_hosts": ["pool-1"],
        "rayfleet_fenced_hosts": ["head", "pool-2", "redis-1"],
        "rayfleet_exporter_hosts": ["head", "redis-1"],
        "rayfleet_monitoring_servers": ["head"],
    }
    # A host of two Ray nodes is one host of each group.
    second = replace(PLAN.nodes["head"], type="worker", group="small")
    doubled = replace(PLAN, nodes={**PLAN.nodes, "head-b": second})
    assert play_groups(doubled, monitoring, ["head"])["rayfleet_ray_nodes"] == ["head", "pool-2"]
