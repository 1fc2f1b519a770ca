"""Who the firewall lets reach which listener, from the cluster plan and monitoring layout."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from plans import cluster, node

from ansible_collections.rayfleet.cluster.plugins.module_utils.firewall import (
    admin_network_problems,
    by_family,
    firewall_plan,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.inventory_checks import RedisHost
from ansible_collections.rayfleet.cluster.plugins.module_utils.monitoring import (
    Exporter,
    MonitoringServer,
    monitoring_layout,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.plan import Plan
from ansible_collections.rayfleet.cluster.plugins.module_utils.proxy import proxy_plan

# Cluster a keeps its state in redis-1; its pool host is spare. Cluster b is on its own.
PLAN = Plan(
    clusters={
        "a": cluster("head", dashboard_address="10.0.0.10:8265", redis_address="10.0.0.20:6379"),
        "b": cluster("b-head", dashboard_address="10.0.1.10:8265", monitoring=False),
    },
    nodes={
        "head": node("head", "a", "head", "head", "10.0.0.10"),
        "cpu-1": node("cpu-1", "a", "worker", "cpu", "10.0.0.11"),
        "pool-1": node("pool-1", "a", "worker", "cpu", "10.0.0.21", pool=True, spare=True),
        "b-head": node("b-head", "b", "head", "head", "10.0.1.10"),
    },
)
ADDRESSES = {
    **{name: spec.address for name, spec in PLAN.nodes.items()},
    "redis-1": "10.0.0.20",
    "mon-1": "10.0.0.30",
}
REDIS = [RedisHost("redis-1", "10.0.0.20:6379")]
PORTS = {
    name: {
        "client": 10001,
        "node_exporter": 9100,
        "redis_exporter": 9121,
        "prometheus": 9090,
        "grafana": 3000,
    }
    for name in ADDRESSES
}


def plan(monitoring_group: list[str]) -> dict[str, dict[str, Any]]:
    monitoring = monitoring_layout(
        PLAN,
        {name: Exporter(name, address, 9100) for name, address in ADDRESSES.items()},
        [Exporter("redis-1", "10.0.0.20", 9121)],
        {
            name: MonitoringServer(name, ADDRESSES[name], 9090, 3000)
            for name in ("head", "b-head", "mon-1")
        },
        monitoring_group,
    )
    return firewall_plan(PLAN, monitoring, REDIS, PORTS)


def openings(entry: dict[str, Any]) -> dict[str, tuple[list[int], bool, list[str]]]:
    """Comment to (ports, whether the admin networks reach them, addresses that do)."""
    return {
        opening["comment"]: (opening["ports"], opening["admin"], opening["ip"] + opening["ip6"])
        for opening in entry["openings"]
    }


def test_members_of_a_cluster_reach_each_other_and_no_other_cluster() -> None:
    result = plan([])
    for name in ("head", "cpu-1", "pool-1"):
        assert result[name]["members"] == {"ip": ["10.0.0.10", "10.0.0.11"], "ip6": []}
        # The pool hosts come in only as they join: these are the addresses that may.
        assert result[name]["pool"] == ["10.0.0.21"]
        # pool-1 is spare: no host starts with it let in.
        assert result[name]["joined"] == []
    assert result["b-head"]["members"] == {"ip": ["10.0.1.10"], "ip6": []}
    assert result["b-head"]["pool"] == []
    # Hosts outside every Ray cluster have no members and no pool.
    assert result["redis-1"]["members"] == {"ip": [], "ip6": []}
    assert result["redis-1"]["pool"] == []


def test_a_host_without_a_list_starts_with_the_pool_hosts_the_inventory_has_in() -> None:
    joined = replace(
        PLAN, nodes={**PLAN.nodes, "pool-1": replace(PLAN.nodes["pool-1"], spare=False)}
    )
    monitoring: dict[str, Any] = {"servers": {}, "exporters": {}, "clusters": {}, "pool": {}}
    result = firewall_plan(joined, monitoring, REDIS, PORTS)
    assert result["cpu-1"]["joined"] == ["10.0.0.21"]
    assert result["b-head"]["joined"] == []


def test_with_the_head_monitoring_its_cluster() -> None:
    result = plan([])
    assert openings(result["head"]) == {
        "Ray dashboard and client server": ([8265, 10001], True, []),
        "Ray metrics": ([8090], False, ["10.0.0.10"]),
        "node_exporter": ([9100], False, ["10.0.0.10"]),
        # The head's own dashboard asks them too (from its own address, so members; stated).
        "Prometheus and Grafana": ([3000, 9090], True, ["10.0.0.10"]),
    }
    assert openings(result["cpu-1"]) == {
        "Ray metrics": ([8090], False, ["10.0.0.10"]),
        "node_exporter": ([9100], False, ["10.0.0.10"]),
    }
    assert openings(result["redis-1"]) == {
        "node_exporter": ([9100], False, ["10.0.0.10"]),
        # Only the head that keeps its state there: not cluster b's.
        "Redis": ([6379], False, ["10.0.0.10"]),
        "Redis exporter": ([9121], False, ["10.0.0.10"]),
    }
    # Cluster b is not monitored: its head opens only the dashboard and client server.
    assert openings(result["b-head"]) == {
        "Ray dashboard and client server": ([8265, 10001], True, []),
    }


def test_a_monitoring_host_is_the_one_that_reaches_the_exporters() -> None:
    result = plan(["mon-1"])
    assert openings(result["cpu-1"]) == {
        "Ray metrics": ([8090], False, ["10.0.0.30"]),
        "node_exporter": ([9100], False, ["10.0.0.30"]),
    }
    assert openings(result["mon-1"]) == {
        "node_exporter": ([9100], False, ["10.0.0.30"]),
        "Prometheus and Grafana": ([3000, 9090], True, ["10.0.0.10"]),
    }
    assert "Prometheus and Grafana" not in openings(result["head"])


def test_without_monitoring_no_exporter_port_opens() -> None:
    monitoring: dict[str, Any] = {"servers": {}, "exporters": {}, "clusters": {}, "pool": {}}
    result = firewall_plan(PLAN, monitoring, REDIS, PORTS)
    assert openings(result["redis-1"]) == {"Redis": ([6379], False, ["10.0.0.10"])}
    assert openings(result["cpu-1"]) == {}


def test_every_managed_host_gets_a_firewall_even_with_nothing_to_open() -> None:
    monitoring: dict[str, Any] = {"servers": {}, "exporters": {}, "clusters": {}, "pool": {}}
    result = firewall_plan(PLAN, monitoring, REDIS, PORTS, ["mon-1"])
    assert result["mon-1"] == {
        "members": {"ip": [], "ip6": []},
        "pool": [],
        "joined": [],
        "openings": [],
        "fence_command": "/usr/local/sbin/rayfleet-fence",
    }


def test_addresses_are_sorted_by_family() -> None:
    assert by_family(["2001:db8::/64", "10.0.0.1", "192.0.2.0/24", "10.0.0.1"]) == {
        "ip": ["10.0.0.1", "192.0.2.0/24"],
        "ip6": ["2001:db8::/64"],
    }


@pytest.mark.parametrize(
    ("networks", "message"),
    [
        ("10.0.0.0/8", "'10.0.0.0/8' is not a list"),
        (["10.0.0.0/8", "office"], "'office' is not an address or network"),
    ],
)
def test_admin_networks_must_be_addresses(networks: Any, message: str) -> None:
    [problem] = admin_network_problems("head", networks)
    assert (problem.host, problem.variable, problem.message) == (
        "head",
        "firewall_admin_networks",
        message,
    )
    assert admin_network_problems("head", ["10.0.0.0/8", "2001:db8::1"]) == []


def test_with_the_proxy_the_admin_networks_reach_its_https_ports_instead() -> None:
    monitoring = monitoring_layout(
        PLAN,
        {name: Exporter(name, address, 9100) for name, address in ADDRESSES.items()},
        [],
        {"head": MonitoringServer("head", "10.0.0.10", 9090, 3000)},
        [],
    )
    ports = {
        name: {**spec, "proxy_dashboard": 8443, "proxy_prometheus": 9443}
        for name, spec in PORTS.items()
    }
    proxy = proxy_plan(PLAN, monitoring, ports, ["head", "cpu-1"])
    # cpu-1 runs neither a dashboard nor Prometheus: it has nothing to serve.
    assert proxy == {
        "head": {
            "address": "10.0.0.10",
            "dashboard": "10.0.0.10:8265",
            "prometheus": "10.0.0.10:9090",
            "dashboard_port": 8443,
            "prometheus_port": 9443,
        }
    }
    result = firewall_plan(PLAN, monitoring, REDIS, ports, proxy=proxy)
    assert openings(result["head"]) == {
        "Ray dashboard and client server": ([8443, 10001], True, []),
        "Ray metrics": ([8090], False, ["10.0.0.10"]),
        "node_exporter": ([9100], False, ["10.0.0.10"]),
        # The head's own dashboard still queries Prometheus itself.
        "Prometheus and Grafana": ([3000, 9090], False, ["10.0.0.10"]),
        "Prometheus (TLS proxy) and Grafana": ([3000, 9443], True, []),
    }
