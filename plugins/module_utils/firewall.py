# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Who may reach which of rayfleet's listeners: the firewall plan, a pure function of plain data.

The validate_inventory action plugin feeds it the cluster plan, the monitoring layout, the
Redis hosts and every listener's port; the firewall role renders each host's part into one
nftables table of rayfleet's own. Ray 2.60 binds its GCS, raylet, object manager, workers
and agents to every interface (only the dashboard and the client server take an address),
so the firewall, not the bind address, is what keeps them to the cluster.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ansible_collections.rayfleet.cluster.plugins.module_utils.gcs_storage import split_address
from ansible_collections.rayfleet.cluster.plugins.module_utils.inventory_checks import (
    Problem,
    RedisHost,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.plan import HEAD, Plan

# Stands for the admin networks in an opening's sources: the firewall_admin_networks of the
# host, else the controller that runs the play.
ADMIN = "@admin"

# Installed by the firewall role on every host: it loads the table and keeps the sets of the
# pool hosts that joined (roles/firewall/files/rayfleet_fence.py); the ray role authorizes
# the provisioner's fence key for this command alone.
FENCE_COMMAND = "/usr/local/sbin/rayfleet-fence"


def _opening(comment: str, ports: Iterable[int], sources: Iterable[str]) -> dict[str, Any]:
    """TCP ``ports`` open to ``sources``: ADMIN, and addresses by family (``ip``, ``ip6``)."""
    unique = set(sources)
    return {
        "comment": comment,
        "ports": sorted(set(ports)),
        "admin": ADMIN in unique,
        **by_family(unique - {ADMIN}),
    }


def firewall_plan(
    cluster_plan: Plan,
    monitoring: Mapping[str, Any],
    redis_hosts: Sequence[RedisHost],
    ports: Mapping[str, Mapping[str, int]],
    hosts: Iterable[str] = (),
    *,
    proxy: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Each host's firewall: its cluster's ``members``, its ``pool`` and the ``openings``.

    Members of a Ray cluster reach each other on every port: Ray's workers and agents listen
    on ports that change. ``members`` are the head and the static workers; the pool hosts
    that are members now are added and removed as they join and leave (rayfleet-fence,
    which lets in only the addresses in ``pool``, the cluster's pool hosts; ``joined``, those
    the inventory says are members, start the list of a host that has none). Anyone else
    reaches only what an opening names: the head's dashboard and client server from the
    admin networks, exporters and Ray's metrics from the monitoring hosts, Prometheus and
    Grafana from the admin networks and the heads they serve, Redis from the heads that
    keep their state there. ``ports``: by host, ``client``, ``node_exporter``,
    ``redis_exporter``, ``prometheus`` and ``grafana`` as far as it runs them. ``hosts``:
    every host rayfleet manages, which all get an entry (some with nothing to open).
    ``proxy``: the TLS proxy's plan (module_utils/proxy.py); where it serves the dashboard
    or Prometheus, the admin networks reach its HTTPS port instead of the plain one.
    """
    plan: dict[str, dict[str, Any]] = {}
    proxied = proxy or {}

    def host(name: str) -> dict[str, Any]:
        return plan.setdefault(
            name,
            {
                "members": by_family([]),
                "pool": [],
                "joined": [],
                "openings": [],
                "fence_command": FENCE_COMMAND,
            },
        )

    servers: Mapping[str, Mapping[str, Any]] = monitoring["servers"]
    server_addresses = [server["address"] for server in servers.values()]
    nodes = cluster_plan.nodes
    for node in (nodes[name] for name in sorted(nodes)):
        entry = host(node.host)
        peers = [other for other in nodes.values() if other.cluster == node.cluster]
        entry["members"] = by_family(other.address for other in peers if not other.pool)
        entry["pool"] = sorted({other.address for other in peers if other.pool})
        # The members inventory's view, for a host that has no list of its own yet (a new
        # host, or one upgraded from a release that let the whole pool in).
        entry["joined"] = sorted(
            {other.address for other in peers if other.pool and not other.spare}
        )
        if node.type == HEAD:
            dashboard_port = split_address(cluster_plan.clusters[node.cluster].dashboard_address)[1]
            if proxied.get(node.host, {}).get("dashboard"):
                dashboard_port = proxied[node.host]["dashboard_port"]
            entry["openings"].append(
                _opening(
                    "Ray dashboard and client server",
                    [dashboard_port, ports[node.host]["client"]],
                    [ADMIN],
                )
            )
        cluster = monitoring["clusters"].get(node.cluster)
        if cluster is not None:
            server_address = servers[cluster["server"]]["address"]
            entry["openings"].append(_opening("Ray metrics", [node.metrics_port], [server_address]))
    for name in sorted(monitoring["exporters"]):
        host(name)["openings"].append(
            _opening("node_exporter", [ports[name]["node_exporter"]], server_addresses)
        )
    for name in sorted(servers):
        heads = [
            nodes[cluster["head"]].address
            for cluster in monitoring["clusters"].values()
            if cluster["server"] == name
        ]
        both = [ports[name]["prometheus"], ports[name]["grafana"]]
        if proxied.get(name, {}).get("prometheus"):
            # The heads' dashboards query Prometheus itself; people go through the proxy.
            host(name)["openings"] += [
                _opening("Prometheus and Grafana", both, heads),
                _opening(
                    "Prometheus (TLS proxy) and Grafana",
                    [proxied[name]["prometheus_port"], ports[name]["grafana"]],
                    [ADMIN],
                ),
            ]
        else:
            host(name)["openings"].append(_opening("Prometheus and Grafana", both, [ADMIN, *heads]))
    for redis in redis_hosts:
        clients = [
            nodes[cluster.head].address
            for cluster in cluster_plan.clusters.values()
            if cluster.redis_address == redis.address
        ]
        entry = host(redis.name)
        entry["openings"].append(_opening("Redis", [split_address(redis.address)[1]], clients))
        if server_addresses:
            entry["openings"].append(
                _opening("Redis exporter", [ports[redis.name]["redis_exporter"]], server_addresses)
            )
    for name in hosts:
        host(name)
    for entry in plan.values():
        entry["openings"] = [
            opening
            for opening in entry["openings"]
            if opening["admin"] or opening["ip"] or opening["ip6"]
        ]
    return plan


def admin_network_problems(host: str, networks: Any) -> list[Problem]:
    """firewall_admin_networks must be addresses or networks nftables takes."""
    if not isinstance(networks, list):
        return [
            Problem(
                host,
                "firewall_admin_networks",
                f"{networks!r} is not a list",
                "list addresses or networks, as in [192.0.2.0/24, 198.51.100.7]",
            )
        ]
    problems: list[Problem] = []
    for network in networks:
        try:
            ipaddress.ip_network(str(network), strict=False)
        except ValueError:
            problems.append(
                Problem(
                    host,
                    "firewall_admin_networks",
                    f"{network!r} is not an address or network",
                    "write an address (198.51.100.7) or a network (192.0.2.0/24)",
                )
            )
    return problems


def by_family(sources: Iterable[str]) -> dict[str, list[str]]:
    """Addresses and networks by the family nftables matches them with: ``ip``, ``ip6``."""
    families: dict[str, list[str]] = {"ip": [], "ip6": []}
    for source in sorted(set(sources)):
        version = ipaddress.ip_network(source, strict=False).version
        families["ip" if version == 4 else "ip6"].append(source)
    return families
