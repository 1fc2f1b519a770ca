# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Who monitors which cluster, and what each Prometheus scrapes: pure functions of plain data.

The validate_inventory action plugin feeds them the cluster plan and each host's
exporter ports; the result is the ``rayfleet_monitoring`` fact the node_exporter, prometheus,
grafana and ray roles read, and the scrape targets the autoscaler writes for its members.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ansible_collections.rayfleet.cluster.plugins.module_utils.gcs_storage import join_address
from ansible_collections.rayfleet.cluster.plugins.module_utils.names import (
    CLUSTER_LABEL,
    MEMBER_TARGETS_DIR,
    MONITORING_GROUP,
    NODE_JOB,
    RAY_JOB,
    REDIS_JOB,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.plan import HEAD, NodePlan, Plan


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


def monitoring_host_of(cluster: str, plan: Plan, monitoring_group: Sequence[str]) -> str:
    """The monitoring group's host, else the host of the cluster's own head."""
    if monitoring_group:
        return monitoring_group[0]
    return plan.nodes[plan.clusters[cluster].head].host


def monitored_clusters(plan: Plan) -> list[str]:
    return sorted(name for name, cluster in plan.clusters.items() if cluster.monitoring)


def monitoring_problems(
    plan: Plan, monitoring_group: Sequence[str]
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
    for cluster in monitored_clusters(plan):
        head = plan.nodes[plan.clusters[cluster].head].host
        server = monitoring_host_of(cluster, plan, monitoring_group)
        if plan.clusters[cluster].autoscaling and server != head:
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


def _ray_group(node: NodePlan) -> dict[str, Any]:
    return {
        "targets": [join_address(node.address, node.metrics_port)],
        "labels": {
            "host": node.host,
            CLUSTER_LABEL: node.cluster,
            "ray_node_type": node.group,
        },
    }


def _node_group(host: Exporter, labels: Mapping[str, str]) -> dict[str, Any]:
    return {
        "targets": [join_address(host.address, host.port)],
        "labels": {"host": host.name, **labels},
    }


def monitoring_layout(
    plan: Plan,
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
    for cluster in monitored_clusters(plan):
        by_server.setdefault(monitoring_host_of(cluster, plan, monitoring_group), []).append(
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
    ordered = [plan.nodes[name] for name in sorted(plan.nodes)]
    for server_name, clusters in sorted(by_server.items()):
        server = servers[server_name]
        nodes = [node for node in ordered if node.cluster in clusters and not node.pool]
        # node_exporter runs once per host, whatever the host's number of Ray nodes.
        node_hosts = {node.host: node.cluster for node in nodes}
        node_groups = [
            _node_group(exporters[name], {CLUSTER_LABEL: cluster})
            for name, cluster in node_hosts.items()
        ]
        others = sorted(
            ({redis.name for redis in redis_exporters} | {server_name}) - set(node_hosts)
        )
        node_groups += [_node_group(exporters[name], {}) for name in others]
        # Ray's own discovery file also lists the head's autoscaler and dashboard
        # processes; only a Prometheus on the head can read it.
        heads = [
            node
            for node in plan.nodes_on(server_name)
            if node.type == HEAD and node.cluster in clusters
        ]
        result["servers"][server_name] = {
            "address": server.address,
            "clusters": clusters,
            "targets": {
                RAY_JOB: [_ray_group(node) for node in nodes],
                NODE_JOB: node_groups,
                REDIS_JOB: redis_groups,
            },
            "ray_components": [
                {
                    "cluster": head.cluster,
                    "address": head.address,
                    "metrics_port": head.metrics_port,
                    "discovery_file": plan.clusters[head.cluster].temp_dir
                    + "/prom_metrics_service_discovery.json",
                }
                for head in heads
            ],
        }
        for name in [*node_hosts, *others]:
            result["exporters"][name] = {"address": exporters[name].address}
        for cluster in clusters:
            result["clusters"][cluster] = {
                "server": server_name,
                "head": plan.clusters[cluster].head,
                "prometheus_url": f"http://{join_address(server.address, server.prometheus_port)}",
                "grafana_url": f"http://{join_address(server.address, server.grafana_port)}",
            }
    for node in ordered:
        if node.pool and node.cluster in result["clusters"]:
            result["exporters"][node.host] = {"address": exporters[node.host].address}
            result["pool"].setdefault(node.cluster, {})[node.host] = {
                RAY_JOB: _ray_group(node),
                NODE_JOB: _node_group(exporters[node.host], {CLUSTER_LABEL: node.cluster}),
            }
    return result
