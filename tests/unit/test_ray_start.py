"""What a node's unit passes to `ray start`: head and worker, sizes, optional flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from plans import cluster, node

from ansible_collections.rayfleet.cluster.plugins.filter.ray_start import ray_start_args
from ansible_collections.rayfleet.cluster.plugins.module_utils.plan import Plan
from ansible_collections.rayfleet.cluster.plugins.module_utils.ray_start import (
    object_store_bytes,
    start_args,
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
        memory=memory,
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
            static, "head", settings, memory=(1024, 0), labels_file="l", autoscaling_config="a"
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
    assert ray_start_args(
        PLAN.to_dict(),
        "cpu-1",
        settings,
        memtotal_mb=16384,
        shm_bytes=0,
        labels_file="/etc/ray/labels.yaml",
        autoscaling_config="/a.yaml",
    ) == args_of("cpu-1", settings)
