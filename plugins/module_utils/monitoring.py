# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Who monitors which cluster, and what each Prometheus scrapes: pure functions of plain data.

The validate_inventory action plugin feeds them the validated cluster layout and each host's
exporter ports; the result is the ``rayfleet_monitoring`` fact the node_exporter, prometheus,
grafana and ray roles read, and the scrape targets the autoscaler writes for its members.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ansible_collections.rayfleet.cluster.plugins.module_utils.gcs_storage import join_address

MONITORING_GROUP = "monitoring"
# Scrape jobs; rules and dashboards select on them.
RAY_JOB = "ray"
NODE_JOB = "node"
REDIS_JOB = "redis"
# The label Ray's own Grafana dashboards filter clusters by.
CLUSTER_LABEL = "ray_io_cluster"
# On an autoscaling head: the autoscaler (ray role) writes its members' targets here, and the
# head's Prometheus (prometheus role) reads them.
MEMBER_TARGETS_DIR = "/var/lib/rayfleet/prometheus"


@dataclass(frozen=True)
class Exporter:
    """An exporter Prometheus scrapes (node_exporter, Redis's): its host, where it listens."""

    name: str
    address: str
    port: int


@dataclass(frozen=True)
class MonitoringServer:
    """A host that may run Prometheus and Grafana, and their ports."""

    name: str
    address: str
    prometheus_port: int
    grafana_port: int


def monitoring_host_of(
    cluster: str, layout: Mapping[str, Mapping[str, Any]], monitoring_group: Sequence[str]
) -> str:
    """The monitoring group's host, else the cluster's own head."""
    if monitoring_group:
        return monitoring_group[0]
    return str(next(node["head"] for node in layout.values() if node["cluster"] == cluster))


def monitored_clusters(layout: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return sorted({node["cluster"] for node in layout.values() if node["monitoring"]})


def monitoring_problems(
    layout: Mapping[str, Mapping[str, Any]], monitoring_group: Sequence[str]
) -> list[tuple[str, str, str, str]]:
    """(host, variable, message, fix) of a monitoring setup rayfleet cannot run."""
    problems: list[tuple[str, str, str, str]] = []
    if len(monitoring_group) > 1:
        problems.append(
            (
                monitoring_group[1],
                MONITORING_GROUP,
                f"the {MONITORING_GROUP} group has {len(monitoring_group)} hosts "
                f"({', '.join(monitoring_group)}); one Prometheus serves every cluster",
                f"keep one host in the {MONITORING_GROUP} group",
            )
        )
    for cluster in monitored_clusters(layout):
        head = next(
            name
            for name, node in layout.items()
            if node["cluster"] == cluster and node["type"] == "head"
        )
        server = monitoring_host_of(cluster, layout, monitoring_group)
        if layout[head]["autoscaling"] and server != head:
            problems.append(
                (
                    head,
                    "ray_autoscaling",
                    f"cluster {cluster!r} autoscales, and Prometheus on {server} cannot read the "
                    "members the autoscaler writes on this head",
                    f"remove {server} from the {MONITORING_GROUP} group (Prometheus then runs on "
                    "the head), or set ray_monitoring: false on this head",
                )
            )
    return problems


def _ray_group(name: str, node: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "targets": [join_address(node["address"], node["metrics_port"])],
        "labels": {
            "host": name,
            CLUSTER_LABEL: node["cluster"],
            "ray_node_type": node["group"],
        },
    }


def _node_group(host: Exporter, labels: Mapping[str, str]) -> dict[str, Any]:
    return {
        "targets": [join_address(host.address, host.port)],
        "labels": {"host": host.name, **labels},
    }


def monitoring_layout(
    layout: Mapping[str, Mapping[str, Any]],
    exporters: Mapping[str, Exporter],
    redis_exporters: Sequence[Exporter],
    servers: Mapping[str, MonitoringServer],
    monitoring_group: Sequence[str],
) -> dict[str, Any]:
    """The ``rayfleet_monitoring`` fact.

    ``servers``: every host that can be a monitoring host, by name; ``exporters``: every host
    of the inventory that may run node_exporter. Spare pool hosts are scraped only once
    they are members: the autoscaler writes their targets (``pool``, by cluster and host) into
    ``member_targets_dir``.
    """
    by_server: dict[str, list[str]] = {}
    for cluster in monitored_clusters(layout):
        by_server.setdefault(monitoring_host_of(cluster, layout, monitoring_group), []).append(
            cluster
        )
    result: dict[str, Any] = {
        "servers": {},
        "exporters": {},
        "clusters": {},
        "pool": {},
        "member_targets_dir": MEMBER_TARGETS_DIR,
    }
    redis_groups = [
        {"targets": [join_address(redis.address, redis.port)], "labels": {"host": redis.name}}
        for redis in redis_exporters
    ]
    for server_name, clusters in sorted(by_server.items()):
        server = servers[server_name]
        nodes = {
            name: node
            for name, node in sorted(layout.items())
            if node["cluster"] in clusters and not node["pool"]
        }
        node_groups = [
            _node_group(exporters[name], {CLUSTER_LABEL: node["cluster"]})
            for name, node in nodes.items()
        ]
        others = sorted(
            ({redis.name for redis in redis_exporters} | {server_name}) - set(nodes),
        )
        node_groups += [_node_group(exporters[name], {}) for name in others]
        heads = {node["head"] for node in nodes.values()}
        result["servers"][server_name] = {
            "address": server.address,
            "clusters": clusters,
            "targets": {
                RAY_JOB: [_ray_group(name, node) for name, node in nodes.items()],
                NODE_JOB: node_groups,
                REDIS_JOB: redis_groups,
            },
            # Ray's own discovery file also lists the head's autoscaler and dashboard
            # processes; only a Prometheus on the head can read it.
            "ray_components": [
                {
                    "cluster": layout[server_name]["cluster"],
                    "address": layout[server_name]["address"],
                    "metrics_port": layout[server_name]["metrics_port"],
                    "discovery_file": layout[server_name]["temp_dir"]
                    + "/prom_metrics_service_discovery.json",
                }
            ]
            if server_name in heads
            else [],
        }
        for name in [*nodes, *others]:
            result["exporters"][name] = {"address": exporters[name].address}
        for cluster in clusters:
            result["clusters"][cluster] = {
                "server": server_name,
                "head": next(node["head"] for node in nodes.values() if node["cluster"] == cluster),
                "prometheus_url": f"http://{join_address(server.address, server.prometheus_port)}",
                "grafana_url": f"http://{join_address(server.address, server.grafana_port)}",
            }
    for name, node in sorted(layout.items()):
        if node["pool"] and node["cluster"] in result["clusters"]:
            result["exporters"][name] = {"address": exporters[name].address}
            result["pool"].setdefault(node["cluster"], {})[name] = {
                RAY_JOB: _ray_group(name, node),
                NODE_JOB: _node_group(exporters[name], {CLUSTER_LABEL: node["cluster"]}),
            }
    return result
