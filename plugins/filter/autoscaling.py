# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Filters that render the autoscaler's files on the head from the cluster plan."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ansible_collections.rayfleet.cluster.plugins.module_utils.autoscaling import (
    CONNECTION_VARS,
    autoscaler_inventory,
    autoscaling_config,
    cluster_nodes,
    fence_key,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.plain_data import plain
from ansible_collections.rayfleet.cluster.plugins.module_utils.plan import Plan, reading_the_plan

DOCUMENTATION = r"""
name: autoscaling_config
short_description: Ray's autoscaling config for a cluster of the rayfleet plan
description:
  - Node types from the worker groups (pool types with their resources and bounds, static
    groups pinned to their hosts) and rayfleet's node provider with its settings.
  - The companion filter C(autoscaler_inventory) gives the provisioner's inventory (the head and
    the pool hosts, with their connection settings), and C(autoscaler_fence) the provider's
    C(fence) setting, from the plan, the cluster, C(rayfleet_firewall), C(hostvars) and the
    keyword C(key) (the fence key's path on the head) - empty when the cluster has no pool or
    rayfleet's firewall guards none of its hosts.
options:
  _input:
    description: The C(rayfleet_plan) fact.
    type: dict
    required: true
  cluster:
    description: The cluster's name.
    type: str
    required: true
  options:
    description: The head's autoscaler settings.
    type: dict
    required: true
"""


def connection_vars(
    hostvars: Mapping[str, Any], hosts: list[str], default_user: str
) -> dict[str, dict[str, Any]]:
    """Each host's connection settings that also hold when the head connects to it.

    The user is always set: on the head, SSH would otherwise log in as ray.
    """
    return {
        host: {
            "ansible_user": default_user,
            **{name: hostvars[host][name] for name in CONNECTION_VARS if name in hostvars[host]},
        }
        for host in hosts
    }


def autoscaler_inventory_filter(
    plan_facts: Mapping[str, Any],
    cluster: str,
    hostvars: Mapping[str, Any],
    overrides: Mapping[str, Any],
) -> dict[str, Any]:
    """``overrides``: ``head`` and ``pool`` variables, and the ``user`` SSH defaults to."""
    plan = Plan.from_dict(plan_facts)
    pool = [name for name, node in plan.nodes.items() if node.cluster == cluster and node.pool]
    connections = connection_vars(hostvars, pool, overrides["user"])
    return autoscaler_inventory(plan, cluster, connections, overrides["head"], overrides["pool"])


def autoscaler_fence_filter(
    plan_facts: Mapping[str, Any],
    cluster: str,
    firewall: Mapping[str, Mapping[str, Any]],
    hostvars: Mapping[str, Any],
    key: str,
) -> dict[str, Any]:
    """The provider section's C(fence): the fence key and the hosts it opens, else empty."""
    plan = Plan.from_dict(plan_facts)
    hosts = {node.host for node in cluster_nodes(plan, cluster).values()}
    ports = {host: int(hostvars[host].get("ansible_port", 22)) for host in hosts}
    fence = fence_key(plan, cluster, firewall, ports, key)
    return plain(fence) if fence else {}


class FilterModule:
    def filters(self) -> dict[str, Callable[..., dict[str, Any]]]:
        return {
            "autoscaling_config": reading_the_plan(autoscaling_config),
            "autoscaler_inventory": autoscaler_inventory_filter,
            "autoscaler_fence": autoscaler_fence_filter,
        }
