# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""The autoscaler's files on the head, computed from the cluster plan.

Pure functions of the plan and role settings, so pytest imports them directly: Ray's
autoscaling config, and the inventory the node provider's playbook runs use on the head.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible_collections.rayfleet.cluster.plugins.module_utils.names import (
    HEAD_GROUP,
    POOL_GROUP,
    PROVISIONER_VAR,
    REDIS_GROUP,
    WORKERS_GROUP,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.plan import (
    HEAD,
    WORKER,
    NodePlan,
    Plan,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.provider_section import (
    SECTION,
    FenceKey,
    MemberTargets,
    ProviderNode,
    ProviderSection,
)

# Ray's node type of the head: its group in the plan.
HEAD_NODE_TYPE = HEAD
PROVIDER_MODULE = "rayfleet.autoscaler.provider.AnsibleNodeProvider"
# A pool host's settings that hold on the head too: its connection (not key files), and
# whether rayfleet's firewall guards it, which a join checks.
CONNECTION_VARS = (
    "ansible_host",
    "ansible_port",
    "ansible_user",
    "ansible_become",
    "ansible_become_method",
    "ansible_become_user",
    "ansible_python_interpreter",
    "firewall_enabled",
)
# Fields Ray's config schema requires of a provider that installs nothing itself.
LEGACY_FIELDS: dict[str, Any] = {
    "auth": {},
    "file_mounts": {},
    "cluster_synced_files": [],
    "file_mounts_sync_continuously": False,
    "initialization_commands": [],
    "setup_commands": [],
    "head_setup_commands": [],
    "worker_setup_commands": [],
    "head_start_ray_commands": [],
    "worker_start_ray_commands": [],
}


def cluster_nodes(plan: Plan, cluster: str) -> dict[str, NodePlan]:
    """The nodes of one cluster, in name order."""
    return {
        name: plan.nodes[name] for name in sorted(plan.nodes) if plan.nodes[name].cluster == cluster
    }


def fence_key(
    plan: Plan,
    cluster: str,
    firewall: Mapping[str, Mapping[str, Any]],
    ssh_ports: Mapping[str, int],
    key: str,
) -> FenceKey | None:
    """The hosts of a cluster whose firewall the provisioner opens to the pool hosts it joins
    (those rayfleet's firewall guards), each with its SSH port; none without a pool."""
    nodes = cluster_nodes(plan, cluster).values()
    if not any(node.pool for node in nodes):
        return None
    guarded = sorted({node.host for node in nodes if firewall.get(node.host, {}).get("enabled")})
    if not guarded:
        return None
    return FenceKey(key=key, hosts={host: int(ssh_ports.get(host, 22)) for host in guarded})


def node_type_resources(settings: Mapping[str, Any]) -> dict[str, int]:
    """What a node of a pool type offers, from its ray_* settings (Ray wants integers)."""
    resources = {"CPU": int(settings["ray_num_cpus"])}
    if settings.get("ray_num_gpus") is not None:
        resources["GPU"] = int(settings["ray_num_gpus"])
    if settings.get("ray_memory") is not None:
        resources["memory"] = int(settings["ray_memory"])
    for name, amount in (settings.get("ray_resources") or {}).items():
        resources[str(name)] = int(amount)
    return resources


def available_node_types(nodes: Mapping[str, NodePlan]) -> dict[str, Any]:
    """The head type, each static worker group pinned to its hosts, each pool type's bounds."""
    groups: dict[str, list[str]] = {}
    for name, node in nodes.items():
        if node.type == WORKER:
            groups.setdefault(node.group, []).append(name)
    types: dict[str, Any] = {
        HEAD_NODE_TYPE: {"node_config": {}, "resources": {}, "min_workers": 0, "max_workers": 0}
    }
    for group, hosts in sorted(groups.items()):
        first = nodes[hosts[0]]
        if not first.pool:
            # Static hosts are always in; the autoscaler neither adds nor removes any.
            types[group] = {
                "node_config": {},
                "resources": {},
                "min_workers": len(hosts),
                "max_workers": len(hosts),
            }
            continue
        settings = first.vars or {}
        maximum = settings.get("ray_max_workers")
        maximum = len(hosts) if maximum is None else min(int(maximum), len(hosts))
        node_type: dict[str, Any] = {
            "node_config": {},
            "resources": node_type_resources(settings),
            "min_workers": min(int(settings.get("ray_min_workers", 0)), maximum),
            "max_workers": maximum,
        }
        labels = settings.get("ray_labels") or {}
        if labels:
            node_type["labels"] = {str(key): str(value) for key, value in labels.items()}
        types[group] = node_type
    return types


def autoscaling_config(plan: Plan, cluster: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Ray's autoscaling config for ``cluster``; ``options`` are the head's autoscaler settings."""
    nodes = cluster_nodes(plan, cluster)
    types = available_node_types(nodes)
    head = plan.clusters[cluster].head
    workers = [(name, node) for name, node in nodes.items() if node.type == WORKER]
    return {
        "cluster_name": cluster,
        "max_workers": sum(spec["max_workers"] for spec in types.values()),
        "upscaling_speed": float(options["upscaling_speed"]),
        "idle_timeout_minutes": float(options["idle_timeout_minutes"]),
        "head_node_type": HEAD_NODE_TYPE,
        "available_node_types": types,
        "provider": {
            "type": "external",
            "module": PROVIDER_MODULE,
            # rayfleet's playbooks start Ray; like KubeRay, Ray's own SSH updater stays off.
            "disable_node_updaters": True,
            "disable_launch_config_check": True,
            # create_node only records the launch and starts a thread: it returns at once.
            "foreground_node_launch": True,
            "worker_liveness_check": False,
            SECTION: ProviderSection(
                state_dir=str(options["state_dir"]),
                ansible_config=str(options["ansible_config"]),
                socket=str(options["socket"]),
                inventory=str(options["inventory"]),
                head=ProviderNode(head, HEAD_NODE_TYPE, nodes[head].address),
                static=tuple(
                    ProviderNode(name, node.group, node.address)
                    for name, node in workers
                    if not node.pool
                ),
                pool=tuple(
                    ProviderNode(name, node.group, node.address)
                    for name, node in workers
                    if node.pool
                ),
                dashboard_url=str(options["dashboard_url"]),
                start_timeout_s=int(options["start_timeout_s"]),
                quarantine_base_s=float(options["quarantine_base_s"]),
                quarantine_max_s=float(options["quarantine_max_s"]),
                playbook_timeout_s=int(options["playbook_timeout_s"]),
                prometheus=MemberTargets(**options["prometheus"])
                if options.get("prometheus")
                else None,
                fence=FenceKey(**options["fence"]) if options.get("fence") else None,
            ).to_dict(),
        },
        **LEGACY_FIELDS,
    }


def autoscaler_inventory(
    plan: Plan,
    cluster: str,
    connections: Mapping[str, Mapping[str, Any]],
    head_vars: Mapping[str, Any],
    pool_vars: Mapping[str, Any],
) -> dict[str, Any]:
    """The inventory of the provider's runs on the head: the head itself and the pool.

    ``connections`` holds each pool host's CONNECTION_VARS; ``head_vars`` and ``pool_vars``
    are added to the head's and every pool host's own ray_* settings, and every host is
    marked as the provisioner's (PROVISIONER_VAR).
    """
    nodes = cluster_nodes(plan, cluster)
    head = plan.clusters[cluster].head
    # The head's address as the controller's run placed it: the provisioner's runs gather
    # no facts of the head (playbooks/validate.yml) to find it again.
    head_host_vars = {
        **(nodes[head].vars or {}),
        "ray_node_ip": nodes[head].address,
        **head_vars,
        PROVISIONER_VAR: True,
    }
    node_types: dict[str, dict[str, Any]] = {}
    for name, node in nodes.items():
        if node.type == WORKER and node.pool:
            host_vars = {
                **{
                    key: value
                    for key, value in connections.get(name, {}).items()
                    if value is not None
                },
                **(node.vars or {}),
                **pool_vars,
                PROVISIONER_VAR: True,
            }
            node_types.setdefault(node.group, {"hosts": {}})["hosts"][name] = host_vars
    return {
        "all": {
            "children": {
                HEAD_GROUP: {"hosts": {head: head_host_vars}},
                WORKERS_GROUP: {"children": node_types},
                POOL_GROUP: {"children": {group: {} for group in node_types}},
                # validate.yml's plays name it; the head's Redis is in ray_redis_address.
                REDIS_GROUP: {"hosts": {}},
            }
        }
    }


def pool_host_vars(inventory: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each pool host's variables, read back from an inventory autoscaler_inventory made."""
    node_types = inventory["all"]["children"][WORKERS_GROUP].get("children") or {}
    return {
        str(name): dict(host_vars or {})
        for group in node_types.values()
        for name, host_vars in ((group or {}).get("hosts") or {}).items()
    }
