# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""What a node's systemd unit runs: `ray start`'s arguments and its environment.

Pure functions of the plan and the host's ray_* settings, so pytest imports them directly;
the ray role reads them through the filters ray_start_args and ray_unit_environment
(plugins/filter/ray_unit.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.rayfleet.cluster.plugins.module_utils.plan import HEAD, ClusterPlan, Plan

# Ray's object store lives in /dev/shm: it may take at most this share of it, leaving room
# for what else a host keeps there.
SHM_SHARE = 0.95
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
    labels_file: str,
    autoscaling_config: str,
) -> list[str]:
    """`ray start`'s arguments for the node, but --block and Redis's credentials.

    The head's start the GCS, dashboard and client server (and the autoscaler, given its
    config file); a worker's join the head's GCS. ``memtotal_mb`` and ``shm_bytes``, the
    host's memory and /dev/shm's size (0: unknown), size the object store; ``labels_file``:
    the node's labels as YAML.
    """
    node = plan.nodes[node_name]
    cluster = plan.clusters[node.cluster]
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
    args += [
        f"--node-ip-address={settings['ray_node_ip']}",
        f"--node-manager-port={settings['ray_node_manager_port']}",
        f"--object-manager-port={settings['ray_object_manager_port']}",
        f"--metrics-export-port={settings['ray_metrics_export_port']}",
        f"--dashboard-agent-listen-port={settings['ray_dashboard_agent_listen_port']}",
        f"--dashboard-agent-grpc-port={settings['ray_dashboard_agent_grpc_port']}",
        f"--runtime-env-agent-port={settings['ray_runtime_env_agent_port']}",
        f"--min-worker-port={settings['ray_min_worker_port']}",
        f"--max-worker-port={settings['ray_max_worker_port']}",
        f"--object-store-memory={object_store_bytes(settings, int(memtotal_mb), int(shm_bytes))}",
        f"--object-spilling-directory={settings['ray_spill_dir']}",
        f"--temp-dir={settings['ray_temp_dir']}",
        f"--labels-file={labels_file}",
        "--resources=" + json.dumps(dict(settings["ray_resources"]), separators=(",", ":")),
    ]
    # Unset: Ray counts the host's own.
    for flag, variable in OPTIONAL_RESOURCES:
        if settings[variable] is not None:
            args.append(f"{flag}={settings[variable]}")
    if settings["ray_disable_usage_stats"]:
        args.append("--disable-usage-stats")
    return args + [str(arg) for arg in settings["ray_start_extra_args"]]


def unit_environment(
    plan: Plan,
    node_name: str,
    settings: Mapping[str, Any],
    *,
    node_id: str,
    client: Mapping[str, str],
    monitoring: Mapping[str, Any],
    redis_ca_file: str,
    gpu_devices: Sequence[str] = (),
) -> dict[str, str]:
    """The environment of the node's unit; the user's ray_environment has the last word.

    ``gpu_devices``: the UUIDs of the GPUs (or MIG devices) the node runs on, which Ray
    then counts and hands out to tasks by UUID.

    ``client``: what every Ray process and CLI of the cluster needs (auth, TLS);
    ``node_id``: the id the autoscaler knows the node by; ``monitoring``: the cluster's
    Prometheus and Grafana URLs (empty when it is not monitored); ``redis_ca_file``: where
    a head that reaches Redis over TLS has its CA.
    """
    node = plan.nodes[node_name]
    cluster = plan.clusters[node.cluster]
    head = node.type == HEAD
    environment = {"RAY_NODE_TYPE_NAME": node.group, **client}
    if gpu_devices:
        environment["CUDA_VISIBLE_DEVICES"] = ",".join(gpu_devices)
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
