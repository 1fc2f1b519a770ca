# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""The groups rayfleet's plays run on, computed by validation from the cluster plan.

validate.yml puts each host in its groups (``group_by``); every later play names one of
them as its hosts, so no play has to end hosts it should not touch one by one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ansible_collections.rayfleet.cluster.plugins.module_utils.names import (
    POOL_GROUP,
    POOL_MEMBERS_GROUP,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.plan import Plan

# Heads and workers in their cluster now: ray.yml.
RAY_NODES = "rayfleet_ray_nodes"
# Pool hosts out of the cluster, which may be off: pool.yml readies them, the autoscaler
# (or join.yml) brings them in.
SPARE_HOSTS = "rayfleet_spare_hosts"
# Every host rayfleet manages but spare pool hosts: firewall.yml (pool.yml fences those).
FENCED_HOSTS = "rayfleet_fenced_hosts"
# Hosts of the monitored clusters that run node_exporter now: monitoring.yml.
EXPORTER_HOSTS = "rayfleet_exporter_hosts"
# Hosts that run Prometheus and Grafana for some cluster: monitoring.yml.
MONITORING_SERVERS = "rayfleet_monitoring_servers"


def play_groups(
    plan: Plan,
    monitoring: Mapping[str, Any],
    managed: Iterable[str],
) -> dict[str, list[str]]:
    """Each play group and its hosts, sorted.

    ``monitoring`` is the monitoring layout (``rayfleet_monitoring``), ``managed`` every
    host rayfleet manages. A spare host runs only spare nodes (pool hosts are whole hosts).
    """
    spare = {node.host for node in plan.nodes.values() if node.spare}
    return {
        RAY_NODES: sorted(set(plan.hosts()) - spare),
        SPARE_HOSTS: sorted(spare),
        FENCED_HOSTS: sorted(set(managed) - spare),
        EXPORTER_HOSTS: sorted(set(monitoring["exporters"]) - spare),
        MONITORING_SERVERS: sorted(monitoring["servers"]),
    }


def pool_member(host: str, groups: Mapping[str, Sequence[str]], *, joining: bool) -> bool:
    """A pool host in the cluster: the members inventory lists it, or this run joins it."""
    return joining or host in groups.get(POOL_MEMBERS_GROUP, ())


def spare_pool_host(host: str, groups: Mapping[str, Sequence[str]], joining: bool = False) -> bool:
    """A pool host out of the cluster, which may be off: only a join reaches it.

    The validate play reads no facts of it (the test plugin of this name), and the plan
    marks its node ``spare``, which puts the host in no play group but pool.yml's.
    """
    return host in groups.get(POOL_GROUP, ()) and not pool_member(host, groups, joining=joining)
