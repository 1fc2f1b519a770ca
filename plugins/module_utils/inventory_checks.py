# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Pure checks of a rayfleet inventory: no Ansible imports, so pytest imports it directly.

The validate_inventory action plugin gathers each host's ``ray_*`` variables and
facts into HostInput records; ``check_inventory`` returns every problem, each
naming the host, the variable and the fix; ``plan.build_plan`` then makes the cluster
plan of an inventory that passed.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.rayfleet.cluster.plugins.module_utils.gcs_storage import (
    namespace_problem,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.gpu import version_tuple
from ansible_collections.rayfleet.cluster.plugins.module_utils.names import (
    HEAD_GROUP,
    POOL_GROUP,
    REDIS_GROUP,
    WORKERS_GROUP,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.node_slots import (
    NODE_PORTS,
    host_ports,
    node_count,
)

VAR_PREFIX = "ray_"
EXACT_VERSION = re.compile(r"^\d+\.\d+\.\d+((a|b|rc)\d+)?(\.post\d+)?$")
RESERVED_LABEL_PREFIX = "ray.io/"
# Ray refuses these in --resources: they have flags of their own.
RESERVED_RESOURCES = {
    "CPU": "ray_num_cpus",
    "GPU": "ray_num_gpus",
    "memory": "ray_memory",
    "object_store_memory": "ray_object_store_memory",
}

HEAD_PORTS = ("ray_gcs_port", "ray_dashboard_port", "ray_client_server_port")
UNSPECIFIED_ADDRESSES = {"0.0.0.0", "::", ""}
# Settings that are secrets: never in the layout, which Ansible prints at -v and the head's
# provisioner inventory holds.
SECRET_VARS = frozenset({"ray_auth_token"})
# The least value each numeric setting takes: less, and Ray (resource quantities, its
# autoscaling schema), systemd or the unit's own timers refuse it or misbehave. Ports, the
# object store and the worker count's upper bound have rules of their own; unset (None)
# leaves the choice to Ray. test_inventory_checks.py holds every number the role takes here.
LEAST_VALUES: dict[str, float] = {
    "ray_num_cpus": 0,
    "ray_num_gpus": 0,
    "ray_memory": 0,
    "ray_min_workers": 0,
    "ray_max_workers": 0,
    "ray_tls_cert_days": 1,
    "ray_tls_renew_days": 0,
    "ray_health_max_dashboard_latency_ms": 1,
    "ray_health_max_event_loop_lag_ms": 1,
    "ray_autoscaler_idle_timeout_minutes": 0,
    "ray_autoscaler_upscaling_speed": 0,
    "ray_autoscaler_update_interval_s": 1,
    "ray_autoscaler_quarantine_s": 0,
    "ray_autoscaler_quarantine_max_s": 0,
    "ray_autoscaler_playbook_timeout_s": 1,
    "ray_gcs_reconnect_timeout_s": 1,
    "ray_limit_nofile": 1,
    "ray_restart_sec": 0,
    "ray_stop_timeout_sec": 1,
    "ray_drain_timeout_s": 0,
    "ray_start_timeout": 1,
}
# What a worker's stop needs after its drain: Ray stops its processes, each with a grace period.
SHUTDOWN_AFTER_DRAIN_S = 20
# Ray's floor for an object store it is given a size for (ray_constants).
OBJECT_STORE_MINIMUM_BYTES = 75 * 1024 * 1024
# Ray's ceiling for a resource quantity (ray_constants.MAX_RESOURCE_QUANTITY).
MAX_RESOURCE_QUANTITY = 100e12
# Ray's label syntax (ray/_private/label_utils.py, Kubernetes' own): a name or value of
# alphanumerics with -, _ and . between, at most 63 characters; a key may have a prefix of
# such names joined by dots, at most 253 characters, before a slash.
LABEL_NAME = re.compile(r"[a-zA-Z0-9]([a-zA-Z0-9_.-]{0,61}[a-zA-Z0-9])?")
LABEL_PREFIX = re.compile(rf"({LABEL_NAME.pattern})?(\.({LABEL_NAME.pattern})?)*")


@dataclass(frozen=True)
class HostInput:
    """What the inventory and the facts say about one host."""

    name: str
    is_head: bool
    in_workers: bool
    worker_groups: tuple[str, ...]
    user_vars: Mapping[str, Any]
    address: str
    memtotal_mb: int | None = None
    # Every address on the host's interfaces, from its facts; empty when they were not gathered.
    host_addresses: tuple[str, ...] = ()
    # The size of /dev/shm, where Ray's object store lives (facts' mounts); None when unknown.
    shm_bytes: int | None = None
    # In the ray_pool group, and whether through a node type (a child group of ray_pool).
    in_pool: bool = False
    pool_group: bool = False
    # A pool host that is in the cluster: listed in ray_pool_members, or joining in this run.
    member: bool = False


@dataclass(frozen=True)
class RedisHost:
    """A host of the redis group, the address Ray reaches its Redis at, and its TLS.

    ``ca_file`` is the controller's copy of the certificate of the CA that signed the
    Redis's own (``redis_tls``); heads install it to check the server they dial.
    """

    name: str
    address: str
    tls: bool = False
    ca_file: str = ""


@dataclass(frozen=True)
class Problem:
    host: str
    variable: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.host}: {self.variable}: {self.message}. Fix: {self.fix}."


@dataclass
class ClusterHosts:
    """The hosts of one cluster: its heads (one, once checked) and workers."""

    heads: list[HostInput] = field(default_factory=list)
    workers: list[HostInput] = field(default_factory=list)


def effective_vars(host: HostInput, defaults: Mapping[str, Any]) -> dict[str, Any]:
    return {**defaults, **host.user_vars}


def unknown_variables(host: HostInput, known: set[str]) -> tuple[list[Problem], list[str]]:
    """Typos of known variables are problems; other unknown ray_ names are warnings."""
    problems: list[Problem] = []
    warnings: list[str] = []
    for name in sorted(host.user_vars):
        if not name.startswith(VAR_PREFIX) or name in known:
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.8)
        if close:
            problems.append(
                Problem(
                    host.name,
                    name,
                    "is not a rayfleet variable",
                    f"did you mean {close[0]}? Rename it",
                )
            )
        else:
            warnings.append(f"{host.name}: {name} is not a rayfleet variable; it is ignored")
    return problems, warnings


def check_inventory(
    hosts: list[HostInput],
    defaults: Mapping[str, Any],
    redis_hosts: Sequence[RedisHost] = (),
) -> tuple[list[Problem], list[str]]:
    """Every problem of the inventory, and warnings that do not stop the run."""
    problems: list[Problem] = []
    warnings: list[str] = []
    known = set(defaults)
    for host in hosts:
        typos, unknown = unknown_variables(host, known)
        problems += typos
        warnings += unknown
        settings = effective_vars(host, defaults)
        problems += _check_membership(host)
        problems += _check_address(host)
        problems += _check_version(host, settings, defaults)
        split = _check_split(host, settings)
        problems += split
        # A split that is not sound has no port blocks to check: one node's ports are.
        problems += _check_ports(host, {**settings, "ray_gpu_nodes": 1} if split else settings)
        problems += _check_memory(host, settings)
        problems += _check_resources_and_labels(host, settings)
        problems += _check_group_bounds(host, settings)
        problems += _check_least_values(host, settings)
        problems += _check_pairs(host, settings)
        problems += _check_gpu_settings(host, settings)
    clusters = clusters_of(hosts, defaults)
    for name, cluster in sorted(clusters.items()):
        problems += _check_cluster(name, cluster, defaults)
        warnings += _auth_warnings(name, cluster, defaults)
    problems += _check_gcs_storage(clusters, defaults, redis_hosts)
    for cluster in clusters.values():
        problems += _check_pool(cluster, defaults)
    return problems, warnings


def clusters_of(hosts: list[HostInput], defaults: Mapping[str, Any]) -> dict[str, ClusterHosts]:
    clusters: dict[str, ClusterHosts] = {}
    for host in hosts:
        cluster = clusters.setdefault(
            str(effective_vars(host, defaults)["ray_cluster_name"]), ClusterHosts()
        )
        if host.is_head:
            cluster.heads.append(host)
        elif host.in_workers:
            cluster.workers.append(host)
    return clusters


def _check_address(host: HostInput) -> list[Problem]:
    """Ray advertises the address and the firewall lets it in: it must be an IP address."""
    try:
        ipaddress.ip_address(host.address)
    except ValueError:
        return [
            Problem(
                host.name,
                "ray_node_ip",
                f"{host.address!r} is not an IP address (the host has no default IPv4 address "
                "in its facts, and its ansible_host is a name)",
                "set ray_node_ip to the host's address on the cluster network",
            )
        ]
    return [
        Problem(
            host.name,
            variable,
            f"{address} is not an address of this host (it has {', '.join(host.host_addresses)}): "
            "Ray's servers and the dashboard would fail to bind it",
            f"set {variable} to one of the host's own addresses on the cluster network",
        )
        for variable, address in _bound_addresses(host)
        if host.host_addresses and not _same_address_in(address, host.host_addresses)
    ]


def _bound_addresses(host: HostInput) -> list[tuple[str, str]]:
    """The addresses the node binds that the user chose: its own, and the head's dashboard's."""
    chosen = [("ray_node_ip", host.address)] if "ray_node_ip" in host.user_vars else []
    dashboard = str(host.user_vars.get("ray_dashboard_host", ""))
    if host.is_head and dashboard and dashboard not in UNSPECIFIED_ADDRESSES:
        chosen.append(("ray_dashboard_host", dashboard))
    return chosen


def _same_address_in(address: str, addresses: tuple[str, ...]) -> bool:
    """Whether an address is the host's, however either is written (IPv6 forms); a name or a
    loopback address passes (the facts list neither)."""
    wanted = _parsed(address)
    if wanted is None or wanted.is_loopback:
        return True
    return any(_parsed(other) == wanted for other in addresses)


def _parsed(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None


def _check_membership(host: HostInput) -> list[Problem]:
    if host.is_head and host.in_workers:
        return [
            Problem(
                host.name,
                "groups",
                f"is in both {HEAD_GROUP} and {WORKERS_GROUP}",
                "keep it in one of them",
            )
        ]
    if host.is_head or not host.in_workers:
        return []
    if not host.worker_groups:
        return [
            Problem(
                host.name,
                "groups",
                f"is in {WORKERS_GROUP} but in no worker group, so its group has no name",
                f"put it in a named child group of {WORKERS_GROUP}, such as {WORKERS_GROUP}_cpu",
            )
        ]
    if len(host.worker_groups) > 1:
        return [
            Problem(
                host.name,
                "groups",
                f"is in two worker groups: {', '.join(sorted(host.worker_groups))}",
                "keep it in exactly one child group of ray_workers",
            )
        ]
    return []


def _check_version(
    host: HostInput, settings: Mapping[str, Any], defaults: Mapping[str, Any]
) -> list[Problem]:
    version = str(settings["ray_version"])
    if EXACT_VERSION.match(version):
        return []
    return [
        Problem(
            host.name,
            "ray_version",
            f"{version!r} is not an exact release",
            f'pin one release, such as rayfleet\'s own: ray_version: "{defaults["ray_version"]}"',
        )
    ]


def _ports_in_use(host: HostInput) -> list[str]:
    return list(NODE_PORTS) + (list(HEAD_PORTS) if host.is_head else [])


def _check_ports(host: HostInput, settings: Mapping[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    names = _ports_in_use(host)
    low, high = settings["ray_min_worker_port"], settings["ray_max_worker_port"]
    for name in [*names, "ray_min_worker_port", "ray_max_worker_port"]:
        port = settings[name]
        if not isinstance(port, int) or not 1 <= port <= 65535:
            problems.append(
                Problem(
                    host.name, name, f"{port!r} is not a port", "set it to a number from 1 to 65535"
                )
            )
    if problems:
        return problems
    seen: dict[int, str] = {}
    for name, port in host_ports(settings, tuple(names)).items():
        if port > 65535:
            problems.append(
                Problem(
                    host.name,
                    name,
                    f"{port} is not a port",
                    "lower ray_gpu_node_port_step or the port, so that every node's fits",
                )
            )
        elif port in seen:
            problems.append(
                Problem(
                    host.name,
                    name,
                    f"port {port} is also {seen[port]}",
                    "give every Ray port its own number",
                )
            )
        seen.setdefault(port, name)
        if low <= port <= high:
            problems.append(_in_worker_ports(host.name, name, port, (low, high)))
    if low > high:
        problems.append(
            Problem(
                host.name,
                "ray_min_worker_port",
                f"{low} is above ray_max_worker_port {high}",
                "make ray_min_worker_port <= ray_max_worker_port",
            )
        )
    return problems + _check_dashboard_bind(host, settings)


def _check_split(host: HostInput, settings: Mapping[str, Any]) -> list[Problem]:
    """ray_gpu_nodes: how many Ray nodes a GPU worker host runs, each on its share of GPUs."""
    count, step = settings["ray_gpu_nodes"], settings["ray_gpu_node_port_step"]
    problems = [
        Problem(host.name, name, f"{value!r} is not a whole number from 1", fix)
        for name, value, fix in (
            ("ray_gpu_nodes", count, "set how many Ray nodes share the host's GPUs, such as 2"),
            ("ray_gpu_node_port_step", step, "set it to a number such as 100"),
        )
        if isinstance(value, bool) or not isinstance(value, int) or value < 1
    ]
    # Like ray_gpu_mig, it means nothing to a host that is no GPU host (a group_vars/all or
    # --extra-vars setting reaches those too).
    if problems or count == 1 or not boolean(settings["ray_gpu"]):
        return problems
    workers = settings["ray_max_worker_port"] - settings["ray_min_worker_port"] + 1
    refusals = (
        (
            host.is_head,
            "ray_gpu_nodes",
            f"splits the head into {count} nodes; a cluster has one head node",
            "split GPU worker hosts only, and remove ray_gpu_nodes from the head",
        ),
        (
            host.in_pool,
            "ray_gpu_nodes",
            f"splits a pool host into {count} nodes, but the autoscaler counts one Ray node per "
            "pool host (by its address)",
            "remove ray_gpu_nodes from the pool's node type, or make the host a static worker",
        ),
        (
            workers < count,
            "ray_gpu_nodes",
            f"{count} nodes cannot share the {workers} worker port(s) "
            "ray_min_worker_port..ray_max_worker_port",
            "widen the worker port range",
        ),
    )
    return [
        Problem(host.name, name, message, fix) for wrong, name, message, fix in refusals if wrong
    ]


def _in_worker_ports(host: str, variable: str, port: int, worker_ports: tuple[int, int]) -> Problem:
    """A listener on one of the ports Ray hands its workers."""
    low, high = worker_ports
    return Problem(
        host,
        variable,
        f"port {port} lies in Ray's worker port range {low}-{high}",
        "move it out of ray_min_worker_port..ray_max_worker_port",
    )


def _check_dashboard_bind(host: HostInput, settings: Mapping[str, Any]) -> list[Problem]:
    """The dashboard runs jobs: every interface only when the user says so in its setting."""
    bind = str(host.user_vars.get("ray_dashboard_host", host.address))
    if not host.is_head or bind not in UNSPECIFIED_ADDRESSES - {""}:
        return []
    if settings["ray_dashboard_all_interfaces"]:
        return []
    return [
        Problem(
            host.name,
            "ray_dashboard_host",
            f"{bind} opens the dashboard, which runs jobs, on every interface of the head",
            "leave it unset (the cluster address), or set ray_dashboard_all_interfaces: true "
            "to mean it",
        )
    ]


def _check_memory(host: HostInput, settings: Mapping[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    fraction = settings["ray_object_store_memory_fraction"]
    if not 0 < fraction < 1:
        problems.append(
            Problem(
                host.name,
                "ray_object_store_memory_fraction",
                f"{fraction} is not between 0 and 1",
                "use a share such as 0.3",
            )
        )
    store = settings["ray_object_store_memory"]
    if store != 0 and store < OBJECT_STORE_MINIMUM_BYTES:
        problems.append(
            Problem(
                host.name,
                "ray_object_store_memory",
                f"{store} bytes is below Ray's least object store ({OBJECT_STORE_MINIMUM_BYTES})",
                "give it 75 MiB or more, or set 0 to size it from the host's memory",
            )
        )
    if host.memtotal_mb is not None and store * _nodes(settings) > host.memtotal_mb * 1024 * 1024:
        problems.append(
            Problem(
                host.name,
                "ray_object_store_memory",
                f"{store} bytes{_per_node(settings)} is more than the host's memory "
                f"({host.memtotal_mb} MiB)",
                "lower it, or set 0 to size it from the host's memory",
            )
        )
    elif host.shm_bytes is not None and store * _nodes(settings) > host.shm_bytes:
        problems.append(
            Problem(
                host.name,
                "ray_object_store_memory",
                f"{store} bytes{_per_node(settings)} does not fit the host's /dev/shm "
                f"({host.shm_bytes} bytes), where Ray keeps its object store",
                "lower it, set 0 to size it from /dev/shm, or make /dev/shm larger",
            )
        )
    return problems


def _nodes(settings: Mapping[str, Any]) -> int:
    """The host's node count, or 1 where ray_gpu_nodes is not sound (_check_split says so)."""
    try:
        return max(node_count(settings), 1)
    except (TypeError, ValueError):
        return 1


def _per_node(settings: Mapping[str, Any]) -> str:
    count = _nodes(settings)
    return f" for each of its {count} nodes" if count > 1 else ""


def _check_resources_and_labels(host: HostInput, settings: Mapping[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    for resource, var in sorted(RESERVED_RESOURCES.items()):
        if resource in settings["ray_resources"]:
            problems.append(
                Problem(
                    host.name,
                    "ray_resources",
                    f"{resource} is a built-in resource",
                    f"set {var} instead",
                )
            )
    for resource, quantity in sorted(settings["ray_resources"].items()):
        if not _whole_quantity(quantity):
            problems.append(
                Problem(
                    host.name,
                    "ray_resources",
                    f"{resource}: {quantity!r} is not a whole number from 0 to "
                    f"{MAX_RESOURCE_QUANTITY:.0e}",
                    "give each resource a whole, non-negative quantity",
                )
            )
    for key, value in sorted(settings["ray_labels"].items()):
        syntax = _label_syntax_problem(str(key), value)
        if syntax:
            problems.append(
                Problem(
                    host.name,
                    "ray_labels",
                    syntax,
                    "write keys as [prefix/]name and values as names: letters, digits, "
                    "-, _ and . between, 63 characters at most",
                )
            )
        elif str(key).startswith(RESERVED_LABEL_PREFIX):
            problems.append(
                Problem(
                    host.name,
                    "ray_labels",
                    f"label {key} uses Ray's reserved prefix {RESERVED_LABEL_PREFIX}",
                    "use a prefix of your own, such as example.com/",
                )
            )
    return problems


def _check_least_values(host: HostInput, settings: Mapping[str, Any]) -> list[Problem]:
    return [
        Problem(host.name, name, f"{value} is below {least}", f"use {least} or more")
        for name, least in LEAST_VALUES.items()
        if (value := settings[name]) is not None and value < least
    ]


def _at_least_least(settings: Mapping[str, Any], *names: str) -> bool:
    """Each setting is set and passes its own rule: only then is a pair of them weighed."""
    return all(
        settings[name] is not None and settings[name] >= LEAST_VALUES[name] for name in names
    )


def _check_pairs(host: HostInput, settings: Mapping[str, Any]) -> list[Problem]:
    """Settings that only work in step with another."""
    problems: list[Problem] = []
    renew, days = settings["ray_tls_renew_days"], settings["ray_tls_cert_days"]
    if _at_least_least(settings, "ray_tls_renew_days", "ray_tls_cert_days") and renew >= days:
        problems.append(
            Problem(
                host.name,
                "ray_tls_renew_days",
                f"{renew} is not below ray_tls_cert_days {days}: every run would renew every "
                "certificate, and restart every node",
                "make ray_tls_renew_days smaller than ray_tls_cert_days",
            )
        )
    first, most = (
        settings["ray_autoscaler_quarantine_s"],
        settings["ray_autoscaler_quarantine_max_s"],
    )
    if (
        _at_least_least(settings, "ray_autoscaler_quarantine_s", "ray_autoscaler_quarantine_max_s")
        and most < first
    ):
        problems.append(
            Problem(
                host.name,
                "ray_autoscaler_quarantine_max_s",
                f"{most} is below ray_autoscaler_quarantine_s {first}, the first quarantine",
                "make it at least ray_autoscaler_quarantine_s",
            )
        )
    drain, stop = settings["ray_drain_timeout_s"], settings["ray_stop_timeout_sec"]
    if (
        not host.is_head
        and _at_least_least(settings, "ray_drain_timeout_s", "ray_stop_timeout_sec")
        and drain > 0
        and stop < drain + SHUTDOWN_AFTER_DRAIN_S
    ):
        problems.append(
            Problem(
                host.name,
                "ray_stop_timeout_sec",
                f"{stop} s leaves a worker no time to stop after draining for up to "
                f"ray_drain_timeout_s {drain} s: systemd would kill it mid-drain",
                f"make it at least ray_drain_timeout_s + {SHUTDOWN_AFTER_DRAIN_S}, or set "
                "ray_drain_timeout_s: 0 to stop without draining",
            )
        )
    return problems


def _check_gpu_settings(host: HostInput, settings: Mapping[str, Any]) -> list[Problem]:
    """What the GPU checks compare the host's driver with must be a driver version."""
    minimum = str(settings["ray_gpu_min_driver_version"] or "")
    try:
        if minimum:
            version_tuple(minimum)
    except ValueError:
        return [
            Problem(
                host.name,
                "ray_gpu_min_driver_version",
                f"{minimum!r} is not an NVIDIA driver version",
                'write one as nvidia-smi shows it, such as "535.104.05", or "" for no minimum',
            )
        ]
    return []


def _whole_quantity(quantity: Any) -> bool:
    if isinstance(quantity, bool) or not isinstance(quantity, (int, float)):
        return False
    return float(quantity).is_integer() and 0 <= quantity <= MAX_RESOURCE_QUANTITY


def _label_syntax_problem(key: str, value: Any) -> str:
    """What Ray would refuse in a label, or ''."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and (len(prefix) > 253 or not LABEL_PREFIX.fullmatch(prefix)):
        return f"label {key}: the prefix {prefix!r} is not dot-joined DNS labels"
    if len(name) > 63 or not LABEL_NAME.fullmatch(name):
        return f"label {key}: the name {name!r} is not a label name"
    text = str(value)
    if not isinstance(value, str) or (text and (len(text) > 63 or not LABEL_NAME.fullmatch(text))):
        return f"label {key}: the value {value!r} is not a label value"
    return ""


def _check_group_bounds(host: HostInput, settings: Mapping[str, Any]) -> list[Problem]:
    low, high = settings["ray_min_workers"], settings["ray_max_workers"]
    if _at_least_least(settings, "ray_min_workers", "ray_max_workers") and low > high:
        group = ", ".join(host.worker_groups) or "its group"
        return [
            Problem(
                host.name,
                "ray_min_workers",
                f"{low} is above ray_max_workers {high} in worker group {group}",
                "make ray_min_workers <= ray_max_workers",
            )
        ]
    return []


def _check_cluster(name: str, cluster: ClusterHosts, defaults: Mapping[str, Any]) -> list[Problem]:
    members = cluster.heads + cluster.workers
    if not cluster.heads:
        return [
            Problem(
                cluster.workers[0].name,
                "ray_cluster_name",
                f"cluster {name!r} has no head",
                f"add one host of cluster {name!r} to the {HEAD_GROUP} group",
            )
        ]
    problems: list[Problem] = []
    # Ray labels each node with it (rayfleet.io/cluster); it also names the cluster's files.
    if len(name) > 63 or not LABEL_NAME.fullmatch(name):
        problems.append(
            Problem(
                cluster.heads[0].name,
                "ray_cluster_name",
                f"{name!r} is not a label value Ray takes",
                "use letters, digits, and -, _ or . between them, 63 characters at most",
            )
        )
    if len(cluster.heads) > 1:
        heads = ", ".join(sorted(host.name for host in cluster.heads))
        problems += [
            Problem(
                host.name,
                "ray_cluster_name",
                f"cluster {name!r} has two heads ({heads})",
                "keep one head per cluster, or give the other a ray_cluster_name of its own",
            )
            for host in cluster.heads[1:]
        ]
    head_version = effective_vars(cluster.heads[0], defaults)["ray_version"]
    for host in members:
        version = effective_vars(host, defaults)["ray_version"]
        if version != head_version:
            problems.append(
                Problem(
                    host.name,
                    "ray_version",
                    f"{version} differs from the head's {head_version}",
                    "run one Ray release on every node of a cluster",
                )
            )
    return problems


def _auth_warnings(name: str, cluster: ClusterHosts, defaults: Mapping[str, Any]) -> list[str]:
    """A cluster without token authentication runs anyone's code; say so on every run."""
    if (
        not cluster.heads
        or effective_vars(cluster.heads[0], defaults)["ray_auth_mode"] != "disabled"
    ):
        return []
    return [
        f"{cluster.heads[0].name}: ray_auth_mode: disabled: anyone who reaches cluster {name!r}'s "
        "ports can submit jobs and run any command as ray on every node (CVE-2023-48022). "
        "Fix: remove ray_auth_mode (the default is token), or keep it only where a network "
        "you trust fences the cluster"
    ]


def _check_pool(cluster: ClusterHosts, defaults: Mapping[str, Any]) -> list[Problem]:
    problems: list[Problem] = [
        Problem(
            host.name,
            "groups",
            f"the head is in {POOL_GROUP}",
            f"take it out of {POOL_GROUP}: only workers come from the pool",
        )
        for host in cluster.heads
        if host.in_pool
    ]
    head = cluster.heads[0] if cluster.heads else None
    autoscaling = head is not None and bool(effective_vars(head, defaults)["ray_autoscaling"])
    for host in cluster.workers:
        if host.in_pool and not host.pool_group:
            group = host.worker_groups[0] if host.worker_groups else "its worker group"
            problems.append(
                Problem(
                    host.name,
                    "groups",
                    f"is in {POOL_GROUP} itself, not through a node type",
                    f"list its worker group {group} under {POOL_GROUP}'s children instead",
                )
            )
        if not host.pool_group:
            continue
        if head is not None and not autoscaling:
            problems.append(
                Problem(
                    host.name,
                    "ray_autoscaling",
                    f"is a spare host of the pool, but head {head.name} does not "
                    "autoscale, so it would never join",
                    f"set ray_autoscaling: true for {head.name}, or take "
                    f"{host.worker_groups[0]} out of {POOL_GROUP}",
                )
            )
        settings = effective_vars(host, defaults)
        if boolean(settings["ray_gpu"]) and settings["ray_num_gpus"] is None:
            problems.append(
                Problem(
                    host.name,
                    "ray_num_gpus",
                    "is unset on a GPU host of the pool, so the autoscaler would never add one "
                    "for work that asks for GPUs: it plans a node type's capacity before any of "
                    "its hosts is up",
                    f"set ray_num_gpus for {host.worker_groups[0]} to the GPUs each host has",
                )
            )
        if settings["ray_num_cpus"] is None:
            problems.append(
                Problem(
                    host.name,
                    "ray_num_cpus",
                    "is unset, but the autoscaler plans a pool node type's capacity before "
                    "any of its hosts is up",
                    f"set ray_num_cpus (and ray_num_gpus, if any) for {host.worker_groups[0]}",
                )
            )
    return problems


def namespace_of(head: HostInput, settings: Mapping[str, Any]) -> str:
    """The cluster's storage namespace; its default is the cluster name."""
    return str(head.user_vars.get("ray_gcs_storage_namespace", settings["ray_cluster_name"]))


def redis_address_of(settings: Mapping[str, Any], redis_hosts: Sequence[RedisHost]) -> str:
    """The Redis a head uses: its own ray_redis_address, else the redis group's first host."""
    return str(settings["ray_redis_address"]) or (redis_hosts[0].address if redis_hosts else "")


def _check_gcs_storage(
    clusters: Mapping[str, ClusterHosts],
    defaults: Mapping[str, Any],
    redis_hosts: Sequence[RedisHost],
) -> list[Problem]:
    problems: list[Problem] = []
    owners: dict[tuple[str, str], str] = {}
    stored = [
        (name, cluster.heads[0], effective_vars(cluster.heads[0], defaults))
        for name, cluster in clusters.items()
        if cluster.heads
    ]
    # A cluster whose namespace is its own name owns it; another that sets the
    # same namespace explicitly is the one to rename.
    stored.sort(key=lambda entry: (namespace_of(entry[1], entry[2]) != entry[0], entry[0]))
    for name, head, settings in stored:
        storage = settings["ray_gcs_storage"]
        if storage == "none":
            continue
        namespace = namespace_of(head, settings)
        problem = namespace_problem(namespace)
        if problem:
            problems.append(Problem(head.name, "ray_gcs_storage_namespace", problem, "rename it"))
        if storage != "redis":
            continue
        address = redis_address_of(settings, redis_hosts)
        if not address:
            problems.append(
                Problem(
                    head.name,
                    "ray_gcs_storage",
                    f"cluster {name!r} stores its GCS in Redis, but the {REDIS_GROUP} group has "
                    "no host and ray_redis_address is empty",
                    f"add a host to the {REDIS_GROUP} group, set ray_redis_address to your Redis, "
                    "or set ray_gcs_storage: none",
                )
            )
            continue
        other = owners.setdefault((address, namespace), name)
        if other != name:
            problems.append(
                Problem(
                    head.name,
                    "ray_gcs_storage_namespace",
                    f"{namespace!r} is also the namespace of cluster {other!r} in the Redis at "
                    f"{address}; the two clusters would overwrite each other's state",
                    "give each cluster that shares a Redis its own ray_gcs_storage_namespace",
                )
            )
    return problems


def listener_problems(
    host: str,
    ray_ports: Mapping[str, int],
    others: Mapping[str, int],
    worker_ports: tuple[int, int] | None,
) -> list[Problem]:
    """rayfleet's other listeners on a host against each other and Ray's: one port each.

    ``ray_ports``: the Ray node's own, by variable (checked among themselves elsewhere);
    ``others``: the ports of the exporters, Redis, Prometheus, Grafana and the proxy that
    run on the host, by variable; ``worker_ports``: the Ray node's worker port range.
    """
    problems: list[Problem] = []
    taken = {port: name for name, port in ray_ports.items()}
    for name, port in sorted(others.items()):
        if port in taken:
            problems.append(
                Problem(
                    host,
                    name,
                    f"port {port} is also {taken[port]} on this host",
                    "give every listener on the host its own port",
                )
            )
        elif worker_ports is not None and worker_ports[0] <= port <= worker_ports[1]:
            problems.append(_in_worker_ports(host, name, port, worker_ports))
        taken.setdefault(port, name)
    return problems
