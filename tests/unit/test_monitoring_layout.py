"""Who monitors which cluster, what each Prometheus scrapes, what the autoscaler writes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from plans import cluster, node

from ansible_collections.rayfleet.cluster.plugins.module_utils.monitoring import (
    Exporter,
    MonitoringServer,
    monitoring_layout,
    monitoring_problems,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.plan import Plan

PLAN = Plan(
    clusters={"a": cluster("head", autoscaling=True), "b": cluster("b-head", monitoring=False)},
    nodes={
        "head": node("head", "a", "head", "head", "10.0.0.10"),
        "cpu-1": node("cpu-1", "a", "worker", "cpu", "10.0.0.11"),
        "pool-1": node("pool-1", "a", "worker", "small", "10.0.0.21", pool=True, spare=True),
        "b-head": node("b-head", "b", "head", "head", "10.0.1.10"),
    },
)
# Both clusters monitored, neither autoscaling: a monitoring host may serve them.
STATIC = replace(
    PLAN,
    clusters={
        "a": replace(PLAN.clusters["a"], autoscaling=False),
        "b": replace(PLAN.clusters["b"], monitoring=True),
    },
)
ADDRESSES = {
    "head": "10.0.0.10",
    "cpu-1": "10.0.0.11",
    "pool-1": "10.0.0.21",
    "b-head": "10.0.1.10",
    "redis-1": "10.0.0.20",
    "mon-1": "10.0.0.30",
}
EXPORTERS = {name: Exporter(name, address, 9100) for name, address in ADDRESSES.items()}
SERVERS = {
    name: MonitoringServer(name, ADDRESSES[name], 9090, 3000)
    for name in ("head", "b-head", "mon-1")
}
REDIS = [Exporter("redis-1", "10.0.0.20", 9121)]


def hosts(groups: list[dict[str, Any]]) -> list[str]:
    return [group["labels"]["host"] for group in groups]


def test_without_a_monitoring_group_the_head_monitors_its_cluster() -> None:
    result = monitoring_layout(PLAN, EXPORTERS, REDIS, SERVERS, [])
    # Cluster b turned monitoring off: nothing of it is scraped or installed.
    assert list(result["servers"]) == ["head"]
    assert result["clusters"] == {
        "a": {
            "server": "head",
            "head": "head",
            "prometheus_url": "http://10.0.0.10:9090",
            "grafana_url": "http://10.0.0.10:3000",
        }
    }
    targets = result["servers"]["head"]["targets"]
    # Spare pool hosts are the autoscaler's to announce; the head, workers and Redis are fixed.
    assert hosts(targets["ray"]) == ["cpu-1", "head"]
    assert hosts(targets["node"]) == ["cpu-1", "head", "redis-1"]
    assert targets["redis"] == [{"targets": ["10.0.0.20:9121"], "labels": {"host": "redis-1"}}]
    assert targets["ray"][0]["labels"] == {
        "host": "cpu-1",
        "ray_io_cluster": "a",
        "ray_node_type": "cpu",
    }
    assert result["servers"]["head"]["ray_components"] == [
        {
            "cluster": "a",
            "address": "10.0.0.10",
            "metrics_port": 8090,
            "discovery_file": "/var/lib/ray/tmp/prom_metrics_service_discovery.json",
        }
    ]
    # Where the autoscaler writes them, and the head's Prometheus reads them.
    assert result["member_targets_dir"] == "/var/lib/rayfleet/prometheus"
    assert sorted(result["exporters"]) == ["cpu-1", "head", "pool-1", "redis-1"]
    assert result["pool"] == {
        "a": {
            "pool-1": {
                "ray": {
                    "targets": ["10.0.0.21:8090"],
                    "labels": {"host": "pool-1", "ray_io_cluster": "a", "ray_node_type": "small"},
                },
                "node": {
                    "targets": ["10.0.0.21:9100"],
                    "labels": {"host": "pool-1", "ray_io_cluster": "a"},
                },
            }
        }
    }


def test_a_monitoring_host_monitors_every_cluster_and_itself() -> None:
    result = monitoring_layout(STATIC, EXPORTERS, REDIS, SERVERS, ["mon-1"])
    assert list(result["servers"]) == ["mon-1"]
    server = result["servers"]["mon-1"]
    assert server["clusters"] == ["a", "b"]
    assert hosts(server["targets"]["node"]) == ["b-head", "cpu-1", "head", "mon-1", "redis-1"]
    # Ray's own discovery file is on the heads: out of a monitoring host's reach.
    assert server["ray_components"] == []
    assert result["clusters"]["b"]["prometheus_url"] == "http://10.0.0.30:9090"


def test_an_autoscaling_cluster_must_be_monitored_from_its_head() -> None:
    assert monitoring_problems(PLAN, []) == []
    [problem] = monitoring_problems(PLAN, ["mon-1"])
    host, variable, message, fix = problem
    assert (host, variable) == ("head", "ray_autoscaling")
    assert "cannot read the members the autoscaler writes" in message
    assert "ray_monitoring: false" in fix


def test_one_monitoring_host_at_most() -> None:
    [problem] = monitoring_problems(STATIC, ["m1", "m2"])
    assert problem[:2] == ("m2", "monitoring")


def test_a_host_of_two_ray_nodes_is_one_node_exporter_and_two_ray_targets() -> None:
    second = replace(PLAN.nodes["cpu-1"], metrics_port=8091)
    plan = replace(PLAN, nodes={**PLAN.nodes, "cpu-1-b": second})
    targets = monitoring_layout(plan, EXPORTERS, REDIS, SERVERS, [])["servers"]["head"]["targets"]
    assert [group["targets"] for group in targets["ray"]] == [
        ["10.0.0.11:8090"],
        ["10.0.0.11:8091"],
        ["10.0.0.10:8090"],
    ]
    assert hosts(targets["node"]) == ["cpu-1", "head", "redis-1"]
