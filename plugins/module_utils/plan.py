# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""The cluster plan: what is deployed where, typed and versioned.

The validate step builds it once from the inventory and the facts (``build_plan``), and
sets it as the fact ``rayfleet_plan`` (``Plan.to_dict``). Everything that reads it in
Python (the monitoring, firewall, proxy and autoscaler planners, the filters) reads it
back through ``Plan.from_dict``, which refuses a plan of another version. Roles read
``rayfleet_nodes``, each node's record merged with its cluster's (``Plan.node_view``).

Hosts and Ray nodes are apart: a node names the host it runs on. A host carries one node,
of the host's name, but a GPU host split into ``ray_gpu_nodes`` (module_utils/node_slots.py),
whose node in slot k is named ``<host>/<k>``.

No Ansible imports, so pytest imports it directly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any, TypeVar

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.rayfleet.cluster.plugins.module_utils.gcs_storage import (
    join_address,
    redis_user,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.inventory_checks import (
    SECRET_VARS,
    UNSPECIFIED_ADDRESSES,
    HostInput,
    RedisHost,
    clusters_of,
    effective_vars,
    namespace_of,
    redis_address_of,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.names import (
    JOIN_COMMAND,
    NODE_TOKEN_FILE,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.node_slots import (
    node_count,
    slot_name,
    slot_settings,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.plain_data import plain

# Raised with any change of the records' fields: a plan is read by the code that wrote it,
# and a fact cache or an older bundle on a head must not pass for this one.
PLAN_VERSION = 4
T = TypeVar("T")
HEAD = "head"
WORKER = "worker"


@dataclass(frozen=True)
class ClusterPlan:
    """One Ray cluster: its head, where its GCS keeps state, and the settings every node shares."""

    head: str
    gcs_address: str
    dashboard_address: str
    # "none" (the GCS's memory, lost with the head), "redis" or "rocksdb".
    gcs_storage: str
    namespace: str
    autoscaling: bool
    auth_mode: str
    tls: bool
    monitoring: bool
    temp_dir: str
    # The user Ray runs as on the head (its ray_user): who owns its session, so what reads
    # the session from the controller's side reads it as this user, never as root.
    head_user: str
    redis_address: str = ""
    # The address of a Redis outside the inventory (ray_redis_address), else empty.
    external_redis: str = ""
    redis_tls: bool = False
    redis_ca_file: str = ""
    redis_user: str = ""


@dataclass(frozen=True)
class NodePlan:
    """One Ray node: the host it runs on, its cluster and type, and its own listeners."""

    host: str
    cluster: str
    # "head" or "worker".
    type: str
    # "head", or the worker group (a child group of ray_workers).
    group: str
    address: str
    metrics_port: int
    agent_port: int
    # Ray's venv on the host (ray_install_dir/ray_version): its Python runs rayfleet's
    # modules and tools there (nvidia-ml-py, redis).
    venv: str = ""
    # A host of a GPU group (ray_gpu): rayfleet reads, checks and watches its GPUs, or
    # their MIG devices (ray_gpu_mig).
    gpu: bool = False
    gpu_mig: bool = False
    # The node's place on its host: 0, or 1... on a host split into several nodes.
    slot: int = 0
    # A pool host (a node type the autoscaler adds and removes), and one out of the cluster now.
    pool: bool = False
    spare: bool = False
    # The settings the head hands its autoscaler's inventory (autoscaling heads, pool
    # hosts), without secrets; None for the others.
    vars: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Plan:
    clusters: Mapping[str, ClusterPlan] = field(default_factory=dict)
    nodes: Mapping[str, NodePlan] = field(default_factory=dict)
    version: int = PLAN_VERSION

    def hosts(self) -> dict[str, list[str]]:
        """Each host that runs Ray, with the names of its nodes."""
        return {host: list(names) for host, names in self._by_host.items()}

    def nodes_on(self, host: str) -> list[NodePlan]:
        """The nodes a host runs, in name order."""
        return [self.nodes[name] for name in self._by_host.get(host, ())]

    def run_lock_heads(self, hosts: Sequence[str]) -> list[str]:
        """The heads whose run lock a run on ``hosts`` takes (module_utils/run_lock.py).

        Those of the clusters the hosts run nodes of; every cluster's where the run also
        changes a host they may share (Redis, monitoring).
        """
        clusters = {node.cluster for host in hosts for node in self.nodes_on(host)}
        if any(host not in self._by_host for host in hosts):
            clusters = set(self.clusters)
        return sorted({self.nodes[self.clusters[name].head].host for name in clusters})

    @cached_property
    def _by_host(self) -> dict[str, tuple[str, ...]]:
        hosts: dict[str, list[str]] = {}
        for name in sorted(self.nodes):
            hosts.setdefault(self.nodes[name].host, []).append(name)
        return {host: tuple(names) for host, names in hosts.items()}

    def node_view(self) -> dict[str, dict[str, Any]]:
        """Each node's record with its cluster's: what the roles read as ``rayfleet_nodes``.

        With where the node keeps its cluster's token, whether the cluster has one or not
        (a node without it must not have the file), and where a pool host keeps the command
        of its quick joins.
        """
        view = {}
        for name, node in self.nodes.items():
            record = {
                **plain(self.clusters[node.cluster]),
                **plain(node),
                "auth_token_file": NODE_TOKEN_FILE,
                "join_command": JOIN_COMMAND,
            }
            if node.vars is None:
                del record["vars"]
            view[name] = record
        return view

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "clusters": {name: plain(cluster) for name, cluster in self.clusters.items()},
            "nodes": {name: plain(node) for name, node in self.nodes.items()},
            "hosts": self.hosts(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        """The plan a validate step set, of this code's version only."""
        version = data.get("version")
        problem = ValueError(
            f"the cluster plan is of version {version!r}, this rayfleet reads version "
            f"{PLAN_VERSION}: run the validate play of the same rayfleet"
        )
        if version != PLAN_VERSION:
            raise problem
        try:
            return cls(
                clusters={name: ClusterPlan(**c) for name, c in data["clusters"].items()},
                nodes={name: NodePlan(**node) for name, node in data["nodes"].items()},
            )
        except (KeyError, TypeError) as error:
            raise problem from error


def reading_the_plan(function: Callable[..., T]) -> Callable[..., T]:
    """A function of the plan as a filter of the rayfleet_plan fact, which comes as data."""

    def plan_filter(plan: Mapping[str, Any], *args: Any, **kwargs: Any) -> T:
        return function(Plan.from_dict(plan), *args, **kwargs)

    return plan_filter


def schema() -> dict[str, dict[str, str]]:
    """Every record's fields and their types, as the validate module's RETURN documents them."""
    return {
        record.__name__: {item.name: str(item.type) for item in fields(record)}
        for record in (ClusterPlan, NodePlan)
    }


def build_plan(
    hosts: list[HostInput],
    defaults: Mapping[str, Any],
    redis_hosts: Sequence[RedisHost] = (),
) -> Plan:
    """The plan of an inventory that ``check_inventory`` accepted.

    Pool hosts are marked, and those not in the cluster now are ``spare``: plays leave
    them alone. Pool hosts and autoscaling heads carry their ``ray_*`` settings, which the
    head passes on to the autoscaler's own inventory.
    """
    clusters: dict[str, ClusterPlan] = {}
    nodes: dict[str, NodePlan] = {}
    for name, cluster in clusters_of(hosts, defaults).items():
        head = cluster.heads[0]
        clusters[name] = _cluster_plan(head, effective_vars(head, defaults), redis_hosts)
        for host in (head, *cluster.workers):
            settings = effective_vars(host, defaults)
            carries_vars = host.pool_group or (host.is_head and clusters[name].autoscaling)
            for slot in range(node_count(settings)):
                ports = slot_settings(settings, slot)
                nodes[slot_name(host.name, slot)] = NodePlan(
                    host=host.name,
                    cluster=name,
                    type=HEAD if host.is_head else WORKER,
                    group=HEAD if host.is_head else host.worker_groups[0],
                    address=host.address,
                    metrics_port=ports["ray_metrics_export_port"],
                    agent_port=ports["ray_dashboard_agent_listen_port"],
                    venv=f"{settings['ray_install_dir']}/{settings['ray_version']}",
                    gpu=boolean(settings["ray_gpu"]),
                    gpu_mig=boolean(settings["ray_gpu"]) and boolean(settings["ray_gpu_mig"]),
                    slot=slot,
                    pool=host.pool_group,
                    spare=host.pool_group and not host.member,
                    vars=_public(host.user_vars) if carries_vars else None,
                )
    return Plan(clusters=clusters, nodes=nodes)


def _cluster_plan(
    head: HostInput, settings: Mapping[str, Any], redis_hosts: Sequence[RedisHost]
) -> ClusterPlan:
    storage = str(settings["ray_gcs_storage"])
    dashboard_host = str(head.user_vars.get("ray_dashboard_host", head.address))
    if dashboard_host in UNSPECIFIED_ADDRESSES:
        dashboard_host = "127.0.0.1"
    return ClusterPlan(
        head=head.name,
        gcs_address=join_address(head.address, settings["ray_gcs_port"]),
        dashboard_address=join_address(dashboard_host, settings["ray_dashboard_port"]),
        gcs_storage=storage,
        namespace=namespace_of(head, settings),
        autoscaling=bool(settings["ray_autoscaling"]),
        auth_mode=str(settings["ray_auth_mode"]),
        tls=bool(settings["ray_tls"]),
        monitoring=bool(settings["ray_monitoring"]),
        temp_dir=str(settings["ray_temp_dir"]),
        head_user=str(settings["ray_user"]),
        **(_redis_connection(head, settings, redis_hosts) if storage == "redis" else {}),
    )


def _redis_connection(
    head: HostInput, settings: Mapping[str, Any], redis_hosts: Sequence[RedisHost]
) -> dict[str, Any]:
    """How a head that keeps its state in Redis reaches it: address, user and TLS.

    A Redis of the inventory is reached as the cluster's own user (the redis role declares
    it), over TLS when that Redis serves TLS; one outside the inventory (ray_redis_address)
    as its default user (the validate play checks the head reaches it).
    """
    address = redis_address_of(settings, redis_hosts)
    if settings["ray_redis_address"]:
        return {"redis_address": address, "external_redis": address}
    own = redis_hosts[0]
    return {
        "redis_address": address,
        "redis_user": redis_user(namespace_of(head, settings)),
        "redis_tls": own.tls,
        "redis_ca_file": own.ca_file if own.tls else "",
    }


def _public(user_vars: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in user_vars.items() if name not in SECRET_VARS}
