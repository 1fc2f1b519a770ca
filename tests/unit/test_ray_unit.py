"""What a node's unit runs: `ray start`'s arguments and the environment, head and worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from plans import cluster, node

from ansible_collections.rayfleet.cluster.plugins.filter.ray_unit import FilterModule
from ansible_collections.rayfleet.cluster.plugins.module_utils.plan import Plan
from ansible_collections.rayfleet.cluster.plugins.module_utils.ray_unit import (
    host_units,
    node_labels,
    object_store_bytes,
    retired_units,
    start_args,
    unit_environment,
)

GIB = 1024**3
PLAN = Plan(
    clusters={"lab": cluster("head", gcs_address="10.0.0.10:6379", autoscaling=True)},
    nodes={
        "head": node("head", "lab", "head", "head", "10.0.0.10"),
        "cpu-1": node("cpu-1", "lab", "worker", "cpu", "10.0.0.11"),
    },
)


@pytest.fixture(scope="module")
def settings(repo_root: Path) -> dict[str, Any]:
    """The role's defaults, with the host's address and ports set as validation leaves them."""
    defaults = yaml.safe_load((repo_root / "roles/ray/defaults/main.yml").read_text())
    return {**defaults, "ray_node_ip": "10.0.0.11", "ray_dashboard_host": "10.0.0.10"}


def args_of(name: str, settings: dict[str, Any], memory: tuple[int, int] = (16384, 0)) -> list[str]:
    return start_args(
        PLAN,
        name,
        settings,
        memtotal_mb=memory[0],
        shm_bytes=memory[1],
        vcpus=8,
        labels_file="/etc/ray/labels.yaml",
        autoscaling_config="/etc/rayfleet/autoscaler/autoscaling.yaml",
    )


def test_a_worker_joins_its_heads_gcs(settings: dict[str, Any]) -> None:
    args = args_of("cpu-1", settings)
    assert args[0] == "--address=10.0.0.10:6379"
    assert "--head" not in args
    assert "--node-ip-address=10.0.0.11" in args
    assert "--labels-file=/etc/ray/labels.yaml" in args
    assert "--resources={}" in args


def test_the_head_starts_the_gcs_dashboard_and_autoscaler(settings: dict[str, Any]) -> None:
    args = args_of("head", settings)
    assert args[:6] == [
        "--head",
        f"--port={settings['ray_gcs_port']}",
        "--include-dashboard=true",
        "--dashboard-host=10.0.0.10",
        f"--dashboard-port={settings['ray_dashboard_port']}",
        f"--ray-client-server-port={settings['ray_client_server_port']}",
    ]
    assert "--autoscaling-config=/etc/rayfleet/autoscaler/autoscaling.yaml" in args
    static = Plan(clusters={"lab": cluster("head")}, nodes={"head": PLAN.nodes["head"]})
    assert not any(
        arg.startswith("--autoscaling-config")
        for arg in start_args(
            static,
            "head",
            settings,
            memtotal_mb=1024,
            shm_bytes=0,
            vcpus=2,
            labels_file="l",
            autoscaling_config="a",
        )
    )


def test_resources_counts_and_extra_args(settings: dict[str, Any]) -> None:
    given = {
        **settings,
        "ray_resources": {"small": 1, "a100": 2},
        "ray_num_cpus": 4,
        "ray_num_gpus": 0,
        "ray_memory": None,
        "ray_start_extra_args": ["--system-config={}"],
    }
    args = args_of("cpu-1", given)
    # Compact JSON, one argument: systemd quotes it as a whole.
    assert '--resources={"small":1,"a100":2}' in args
    # 0 GPUs is said (Ray would count the host's), an unset memory is not.
    assert {"--num-cpus=4", "--num-gpus=0"} <= set(args)
    assert not any(arg.startswith("--memory") for arg in args)
    assert args[-1] == "--system-config={}"


@pytest.mark.parametrize(
    ("configured", "memtotal_mb", "shm_bytes", "expected"),
    [
        # Given bytes win, whatever the host.
        (2 * GIB, 1024, 1, 2 * GIB),
        # A fraction (0.3) of 16 GiB of memory, when /dev/shm holds it.
        (0, 16384, 8 * GIB, int(16 * GIB * 0.3)),
        # At most 95% of a small /dev/shm.
        (0, 16384, 1 * GIB, int(GIB * 0.95)),
        # /dev/shm unknown: the memory alone.
        (0, 16384, 0, int(16 * GIB * 0.3)),
    ],
)
def test_object_store_size(
    settings: dict[str, Any], configured: int, memtotal_mb: int, shm_bytes: int, expected: int
) -> None:
    given = {**settings, "ray_object_store_memory": configured}
    assert object_store_bytes(given, memtotal_mb, shm_bytes) == expected
    assert f"--object-store-memory={expected}" in args_of("cpu-1", given, (memtotal_mb, shm_bytes))


def test_the_filter_reads_the_plan_fact(settings: dict[str, Any]) -> None:
    ray_start_args = FilterModule().filters()["ray_start_args"]
    assert ray_start_args(
        PLAN.to_dict(),
        "cpu-1",
        settings,
        memtotal_mb=16384,
        shm_bytes=0,
        vcpus=8,
        labels_file="/etc/ray/labels.yaml",
        autoscaling_config="/a.yaml",
    ) == args_of("cpu-1", settings)


CLIENT = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": "/etc/ray/auth-token"}
MONITORING = {"prometheus_url": "http://10.0.0.10:9090", "grafana_url": "http://10.0.0.10:3000"}


def environment_of(
    plan: Plan, name: str, settings: dict[str, Any], monitoring: dict[str, str] | None = None
) -> dict[str, str]:
    return unit_environment(
        plan,
        name,
        settings,
        node_id=f"{name}-7",
        client=CLIENT,
        monitoring=monitoring or {},
        redis_ca_file="/etc/ray/redis-ca.crt",
    )


def with_cluster(**fields: Any) -> Plan:
    return Plan(
        clusters={"lab": cluster("head", gcs_address="10.0.0.10:6379", **fields)},
        nodes=PLAN.nodes,
    )


def test_a_worker_of_an_autoscaling_cluster_reports_its_node_id(settings: dict[str, Any]) -> None:
    assert environment_of(PLAN, "cpu-1", settings) == {
        "RAY_NODE_TYPE_NAME": "cpu",
        **CLIENT,
        "RAY_CLOUD_INSTANCE_ID": "cpu-1-7",
        "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": str(settings["ray_drain_timeout_s"]),
    }
    # Without autoscaling, no id the autoscaler would look for.
    assert "RAY_CLOUD_INSTANCE_ID" not in environment_of(with_cluster(), "cpu-1", settings)


def test_the_head_runs_the_autoscaler_and_shows_the_clusters_grafana(
    settings: dict[str, Any],
) -> None:
    given = {**settings, "ray_autoscaler_v2": False, "ray_autoscaler_update_interval_s": 5}
    environment = environment_of(PLAN, "head", given, MONITORING)
    assert environment["RAY_NODE_TYPE_NAME"] == "head"
    assert environment["AUTOSCALER_UPDATE_INTERVAL_S"] == "5"
    assert environment["RAY_enable_autoscaler_v2"] == "0"
    assert environment["RAY_PROMETHEUS_HOST"] == "http://10.0.0.10:9090"
    assert environment["RAY_GRAFANA_IFRAME_HOST"] == "http://10.0.0.10:3000"
    assert environment["RAY_GRAFANA_CLUSTER_FILTER"] == "lab"
    assert environment["RAY_DASHBOARD_STARTUP_TIMEOUT_S"] == str(settings["ray_start_timeout"])
    # A stopped head restarts at once; a stopped worker drains first.
    assert environment["RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S"] == "0"
    # A worker's dashboard agent needs none of the head's settings.
    worker = environment_of(PLAN, "cpu-1", given, MONITORING)
    assert not {"RAY_PROMETHEUS_HOST", "AUTOSCALER_UPDATE_INTERVAL_S"} & set(worker)


def test_a_head_reaches_redis_over_tls_with_its_namespace(settings: dict[str, Any]) -> None:
    plan = with_cluster(
        gcs_storage="redis", redis_address="10.0.0.30:6379", redis_tls=True, namespace="lab"
    )
    head = environment_of(plan, "head", settings)
    assert head["RAY_REDIS_ADDRESS"] == "rediss://10.0.0.30:6379"
    assert head["RAY_external_storage_namespace"] == "lab"
    assert head["RAY_REDIS_CA_CERT"] == "/etc/ray/redis-ca.crt"
    # Every node of a cluster with GCS storage waits for a restarted head.
    worker = environment_of(plan, "cpu-1", settings)
    assert "RAY_gcs_rpc_server_reconnect_timeout_s" in worker
    assert "RAY_REDIS_ADDRESS" not in worker
    plain = with_cluster(gcs_storage="redis", redis_address="10.0.0.30:6379", namespace="lab")
    assert environment_of(plain, "head", settings)["RAY_REDIS_ADDRESS"] == "10.0.0.30:6379"
    assert "RAY_REDIS_CA_CERT" not in environment_of(plain, "head", settings)


def test_rocksdb_and_the_users_environment(settings: dict[str, Any]) -> None:
    given = {**settings, "ray_environment": {"RAY_NODE_TYPE_NAME": "mine", "RAY_x": 1}}
    head = environment_of(with_cluster(gcs_storage="rocksdb"), "head", given)
    assert head["RAY_gcs_storage"] == "rocksdb"
    assert head["RAY_gcs_storage_path"] == str(settings["ray_gcs_rocksdb_path"])
    # The user's settings win, as strings.
    assert (head["RAY_NODE_TYPE_NAME"], head["RAY_x"]) == ("mine", "1")
    assert "RAY_gcs_rpc_server_reconnect_timeout_s" not in environment_of(
        with_cluster(), "head", settings
    )


# gpu-1, a host of 4 GPUs split into 2 Ray nodes: slot 0 of its own name, slot 1 "gpu-1/1".
SPLIT = {"ray_gpu": True, "ray_gpu_nodes": 2}
SPLIT_PLAN = Plan(
    clusters=PLAN.clusters,
    nodes={
        **PLAN.nodes,
        "gpu-1": node("gpu-1", "lab", "worker", "gpu", "10.0.0.12", gpu=True),
        "gpu-1/1": node(
            "gpu-1", "lab", "worker", "gpu", "10.0.0.12", gpu=True, slot=1, metrics_port=8190
        ),
    },
)


def split_args(name: str, settings: dict[str, Any]) -> dict[str, str]:
    args = start_args(
        SPLIT_PLAN,
        name,
        {**settings, **SPLIT},
        memtotal_mb=16384,
        shm_bytes=8 * GIB,
        vcpus=8,
        labels_file="l",
        autoscaling_config="a",
    )
    return dict(arg.split("=", 1) for arg in args if "=" in arg)


def test_the_nodes_of_a_split_host_listen_on_their_own_ports(settings: dict[str, Any]) -> None:
    first, second = split_args("gpu-1", settings), split_args("gpu-1/1", settings)
    step = settings["ray_gpu_node_port_step"]
    for flag in (
        "--node-manager-port",
        "--object-manager-port",
        "--metrics-export-port",
        "--dashboard-agent-listen-port",
        "--dashboard-agent-grpc-port",
        "--runtime-env-agent-port",
    ):
        assert int(second[flag]) == int(first[flag]) + step
    low, high = settings["ray_min_worker_port"], settings["ray_max_worker_port"]
    half = (high - low + 1) // 2
    assert (int(first["--min-worker-port"]), int(first["--max-worker-port"])) == (
        low,
        low + half - 1,
    )
    assert (int(second["--min-worker-port"]), int(second["--max-worker-port"])) == (
        low + half,
        low + 2 * half - 1,
    )


def test_the_nodes_of_a_split_host_keep_their_sessions_apart(settings: dict[str, Any]) -> None:
    # Ray names a node's sockets by what its session directory holds: two nodes starting at
    # once in one directory can pick the same socket.
    first, second = split_args("gpu-1", settings), split_args("gpu-1/1", settings)
    assert first["--temp-dir"] == settings["ray_temp_dir"]
    assert second["--temp-dir"] == f"{settings['ray_temp_dir']}/slot-1"


def test_the_nodes_of_a_split_host_share_its_cpus_memory_and_object_store(
    settings: dict[str, Any],
) -> None:
    whole = int(16 * GIB * 0.3)
    for name in ("gpu-1", "gpu-1/1"):
        args = split_args(name, settings)
        assert args["--num-cpus"] == "4"
        assert int(args["--object-store-memory"]) == whole // 2
        assert int(args["--memory"]) == int((8 * GIB - whole // 2) * 0.7)
    # What the user sets is per node.
    given = {**settings, "ray_num_cpus": 3, "ray_object_store_memory": GIB, "ray_memory": GIB}
    args = split_args("gpu-1/1", given)
    assert (args["--num-cpus"], args["--object-store-memory"], args["--memory"]) == (
        "3",
        str(GIB),
        str(GIB),
    )


def test_each_node_of_a_split_host_is_pinned_to_its_gpus_and_labelled_with_its_slot(
    settings: dict[str, Any],
) -> None:
    devices = [["GPU-a", "GPU-b"], ["GPU-c", "GPU-d"]]
    for slot, name in enumerate(("gpu-1", "gpu-1/1")):
        environment = unit_environment(
            SPLIT_PLAN,
            name,
            {**settings, **SPLIT},
            node_id=name,
            client={},
            monitoring={},
            redis_ca_file="",
            gpu_devices=devices,
        )
        assert environment["CUDA_VISIBLE_DEVICES"] == ",".join(devices[slot])
        assert node_labels(SPLIT_PLAN, name, {**settings, **SPLIT}) == {
            "rayfleet.io/cluster": "lab",
            "rayfleet.io/slot": str(slot),
        }
    # A host of one node carries no slot label: its labels stay as they were.
    assert node_labels(PLAN, "cpu-1", {**settings, "ray_labels": {"zone": "a"}}) == {
        "zone": "a",
        "rayfleet.io/cluster": "lab",
    }


def test_a_split_host_has_a_unit_per_node_and_retires_the_slots_it_lost() -> None:
    units = host_units(SPLIT_PLAN, "gpu-1", "ray", "/etc/ray")
    assert [(unit["node"], unit["service"], unit["environment_file"]) for unit in units] == [
        ("gpu-1", "ray", "/etc/ray/ray.env"),
        ("gpu-1/1", "ray-1", "/etc/ray/ray-1.env"),
    ]
    found = ["ray-1.service", "ray-2.service", "ray-3.service", "ray-x.service", "ray.service"]
    retired = retired_units(SPLIT_PLAN, "gpu-1", "ray", "/etc/ray", found)
    assert [(unit["service"], unit["labels_file"]) for unit in retired] == [
        ("ray-2", "/etc/ray/labels-2.yaml"),
        ("ray-3", "/etc/ray/labels-3.yaml"),
    ]
    assert [unit["service"] for unit in retired_units(PLAN, "cpu-1", "ray", "/etc/ray", found)] == [
        "ray-1",
        "ray-2",
        "ray-3",
    ]
