# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""What a node's systemd unit runs: `ray start`'s arguments and its environment.

Pure functions of the plan and the host's ray_* settings, so pytest imports them directly;
the ray role reads them through the filters ray_start_args and ray_unit_environment
(plugins/filter/ray_unit.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.rayfleet.cluster.plugins.module_utils.node_slots import (
    NODE_PORTS,
    SLOT_LABEL,
    WORKER_PORTS,
    node_count,
    slot_name,
    slot_settings,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.plan import HEAD, ClusterPlan, Plan
from ansible_collections.rayfleet.cluster.plugins.module_utils.systemd_units import UNIT_DIR

# Ray's object store lives in /dev/shm: it may take at most this share of it, leaving room
# for what else a host keeps there.
SHM_SHARE = 0.95
# A split host's nodes share its memory: each offers this share of what its object store
# leaves of its part as heap memory (Ray's own default leaves a like margin).
HEAP_SHARE = 0.7
# Every node's label of its cluster, which the Grafana dashboards and alerts group by.
CLUSTER_LABEL = "rayfleet.io/cluster"
OPTIONAL_RESOURCES = (
    ("--num-cpus", "ray_num_cpus"),
    ("--num-gpus", "ray_num_gpus"),
    ("--memory", "ray_memory"),
)


def object_store_bytes(settings: Mapping[str, Any], memtotal_mb: int, shm_bytes: int) -> int:
    """ray_object_store_memory, else its fraction of the host's memory, within /dev/shm.

    ``shm_bytes`` 0: /dev/shm's size is unknown, and only the memory bounds the store.
    """
    configured = int(settings["ray_object_store_memory"])
    if configured > 0:
        return configured
    sizes = [int(memtotal_mb * 1024 * 1024 * float(settings["ray_object_store_memory_fraction"]))]
    if shm_bytes > 0:
        sizes.append(int(shm_bytes * SHM_SHARE))
    return min(sizes)


def start_args(
    plan: Plan,
    node_name: str,
    settings: Mapping[str, Any],
    *,
    memtotal_mb: int,
    shm_bytes: int,
    vcpus: int,
    labels_file: str,
    autoscaling_config: str,
) -> list[str]:
    """`ray start`'s arguments for the node, but --block and Redis's credentials.

    The head's start the GCS, dashboard and client server (and the autoscaler, given its
    config file); a worker's join the head's GCS. ``memtotal_mb`` and ``shm_bytes``, the
    host's memory and /dev/shm's size (0: unknown), size the object store; ``vcpus``, the
    host's logical CPUs, which the nodes of a split host share; ``labels_file``: the node's
    labels as YAML.
    """
    node = plan.nodes[node_name]
    cluster = plan.clusters[node.cluster]
    # A node of a split host listens on its own block of ports.
    own = slot_settings(settings, node.slot)
    if node.type == HEAD:
        args = [
            "--head",
            f"--port={settings['ray_gcs_port']}",
            "--include-dashboard=true",
            f"--dashboard-host={settings['ray_dashboard_host']}",
            f"--dashboard-port={settings['ray_dashboard_port']}",
            f"--ray-client-server-port={settings['ray_client_server_port']}",
        ]
        if cluster.autoscaling:
            args.append(f"--autoscaling-config={autoscaling_config}")
    else:
        args = [f"--address={cluster.gcs_address}"]
    shares = _shares(settings, int(memtotal_mb), int(shm_bytes), int(vcpus))
    args += [
        f"--node-ip-address={settings['ray_node_ip']}",
        *(f"--{name[4:].replace('_', '-')}={own[name]}" for name in (*NODE_PORTS, *WORKER_PORTS)),
        f"--object-store-memory={shares['object_store']}",
        f"--object-spilling-directory={settings['ray_spill_dir']}",
        f"--temp-dir={own['ray_temp_dir']}",
        f"--labels-file={labels_file}",
        "--resources=" + json.dumps(dict(settings["ray_resources"]), separators=(",", ":")),
    ]
    # Unset: Ray counts the host's own (on a split host, its share).
    for flag, variable in OPTIONAL_RESOURCES:
        value = settings[variable] if settings[variable] is not None else shares.get(variable)
        if value is not None:
            args.append(f"{flag}={value}")
    if settings["ray_disable_usage_stats"]:
        args.append("--disable-usage-stats")
    return args + [str(arg) for arg in settings["ray_start_extra_args"]]


def _shares(
    settings: Mapping[str, Any], memtotal_mb: int, shm_bytes: int, vcpus: int
) -> dict[str, int]:
    """Each node's share of the host: its object store and, on a split host, CPUs and memory.

    An explicit ray_object_store_memory is per node; a sized one is split with the host.
    """
    count = node_count(settings)
    store = object_store_bytes(settings, memtotal_mb, shm_bytes)
    if int(settings["ray_object_store_memory"]) <= 0:
        store //= count
    if count == 1:
        return {"object_store": store}
    heap = memtotal_mb * 1024 * 1024 // count - store
    return {
        "object_store": store,
        "ray_num_cpus": max(vcpus // count, 1),
        "ray_memory": max(int(heap * HEAP_SHARE), 0),
    }


def node_labels(plan: Plan, node_name: str, settings: Mapping[str, Any]) -> dict[str, str]:
    """The node's Ray labels: the user's, its cluster's and, on a split host, its slot."""
    node = plan.nodes[node_name]
    labels = {**settings["ray_labels"], CLUSTER_LABEL: node.cluster}
    if node_count(settings) > 1:
        labels[SLOT_LABEL] = str(node.slot)
    return labels


def host_units(plan: Plan, host: str, service_name: str, config_dir: str) -> list[dict[str, Any]]:
    """The host's Ray nodes as systemd units: slot 0 ``service_name``, slot k ``-k`` after it.

    Each with its node's name and slot and the files only it reads: its unit, environment
    and labels (the token, TLS and secrets files are the host's).
    """
    return [_unit(host, node.slot, service_name, config_dir) for node in plan.nodes_on(host)]


def retired_units(
    plan: Plan, host: str, service_name: str, config_dir: str, unit_files: Sequence[str]
) -> list[dict[str, Any]]:
    """The units among ``unit_files`` (names in UNIT_DIR) of slots the host lost.

    A GPU host split into fewer nodes than before still has the units of the others.
    """
    kept = {node.slot for node in plan.nodes_on(host)}
    pattern = re.compile(re.escape(service_name) + r"-([1-9][0-9]*)\.service")
    slots = {
        int(match.group(1)) for match in map(pattern.fullmatch, unit_files) if match is not None
    }
    return [_unit(host, slot, service_name, config_dir) for slot in sorted(slots - kept)]


def _unit(host: str, slot: int, service_name: str, config_dir: str) -> dict[str, Any]:
    suffix = f"-{slot}" if slot else ""
    service = service_name + suffix
    return {
        "node": slot_name(host, slot),
        "slot": slot,
        "service": service,
        "unit_path": f"{UNIT_DIR}/{service}.service",
        "environment_file": f"{config_dir}/ray{suffix}.env",
        "labels_file": f"{config_dir}/labels{suffix}.yaml",
    }


def unit_environment(
    plan: Plan,
    node_name: str,
    settings: Mapping[str, Any],
    *,
    node_id: str,
    client: Mapping[str, str],
    monitoring: Mapping[str, Any],
    redis_ca_file: str,
    gpu_devices: Sequence[Sequence[str]] = (),
) -> dict[str, str]:
    """The environment of the node's unit; the user's ray_environment has the last word.

    ``gpu_devices``: by slot, the UUIDs of the GPUs (or MIG devices) each node of the host
    runs on; this node's, which Ray then counts and hands out to tasks by UUID.

    ``client``: what every Ray process and CLI of the cluster needs (auth, TLS);
    ``node_id``: the id the autoscaler knows the node by; ``monitoring``: the cluster's
    Prometheus and Grafana URLs (empty when it is not monitored); ``redis_ca_file``: where
    a head that reaches Redis over TLS has its CA.
    """
    node = plan.nodes[node_name]
    cluster = plan.clusters[node.cluster]
    head = node.type == HEAD
    environment = {"RAY_NODE_TYPE_NAME": node.group, **client}
    if node.slot < len(gpu_devices):
        environment["CUDA_VISIBLE_DEVICES"] = ",".join(gpu_devices[node.slot])
    if cluster.autoscaling:
        environment["RAY_CLOUD_INSTANCE_ID"] = node_id
        if head:
            environment["AUTOSCALER_UPDATE_INTERVAL_S"] = str(
                settings["ray_autoscaler_update_interval_s"]
            )
            environment["RAY_enable_autoscaler_v2"] = "1" if settings["ray_autoscaler_v2"] else "0"
    if head and monitoring:
        # The head's dashboard embeds Grafana's panels and asks Prometheus for its charts.
        environment |= {
            "RAY_PROMETHEUS_HOST": monitoring["prometheus_url"],
            "RAY_PROMETHEUS_NAME": "Prometheus",
            "RAY_GRAFANA_HOST": monitoring["grafana_url"],
            "RAY_GRAFANA_IFRAME_HOST": settings["ray_grafana_iframe_url"]
            or monitoring["grafana_url"],
            "RAY_GRAFANA_CLUSTER_FILTER": node.cluster,
        }
    if cluster.gcs_storage != "none":
        environment["RAY_gcs_rpc_server_reconnect_timeout_s"] = str(
            settings["ray_gcs_reconnect_timeout_s"]
        )
    # SIGTERM drains a worker first (no new work, running tasks may finish); a head stops at
    # once, as draining it would only delay its restart.
    environment["RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S"] = (
        "0" if head else str(settings["ray_drain_timeout_s"])
    )
    if head:
        environment |= _storage_environment(cluster, settings, redis_ca_file)
        environment["RAY_DASHBOARD_STARTUP_TIMEOUT_S"] = str(settings["ray_start_timeout"])
    return environment | {
        str(name): str(value) for name, value in settings["ray_environment"].items()
    }


def _storage_environment(
    cluster: ClusterPlan, settings: Mapping[str, Any], redis_ca_file: str
) -> dict[str, str]:
    """Where the head's GCS keeps the cluster's state."""
    if cluster.gcs_storage == "redis":
        # rediss:// turns TLS on in Ray's GCS, which checks Redis's certificate against the CA.
        scheme = "rediss://" if cluster.redis_tls else ""
        return {
            "RAY_REDIS_ADDRESS": scheme + cluster.redis_address,
            "RAY_external_storage_namespace": cluster.namespace,
            **({"RAY_REDIS_CA_CERT": redis_ca_file} if cluster.redis_tls else {}),
        }
    if cluster.gcs_storage == "rocksdb":
        return {
            "RAY_gcs_storage": "rocksdb",
            "RAY_gcs_storage_path": str(settings["ray_gcs_rocksdb_path"]),
        }
    return {}
