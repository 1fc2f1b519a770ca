"""A GPU host's checks and its split into Ray nodes, from facts read off a simulated NVML."""

from __future__ import annotations

from typing import Any

import fake_nvml
import pytest
from fake_nvml import GIB, FakeGpu, FakeMig, FakeNvml, eight_h100s, gpu_uuid

from ansible_collections.rayfleet.cluster.plugins.filter.gpu import FilterModule
from ansible_collections.rayfleet.cluster.plugins.module_utils.gpu_nodes import (
    gpu_problems,
    split_gpus,
)
from ansible_collections.rayfleet.cluster.plugins.modules.gpu_facts import gpu_facts

GPU_GROUP = {"ray_gpu": True, "ray_gpu_min_driver_version": "525.60.13"}


def facts_of(nvml: FakeNvml) -> dict[str, Any]:
    """The rayfleet_gpus fact the module would set on such a host."""
    facts, _ = gpu_facts(nvml, required=False)
    return facts


def problems(nvml: FakeNvml, **settings: Any) -> list[tuple[str, str]]:
    found = gpu_problems("gpu-1", {**GPU_GROUP, **settings}, facts_of(nvml))
    assert all(problem.host == "gpu-1" and problem.fix for problem in found)
    return [(problem.variable, problem.message) for problem in found]


def test_a_sound_gpu_host_passes() -> None:
    assert problems(eight_h100s()) == []
    assert problems(eight_h100s(), ray_gpu_nodes=4, ray_num_gpus=2) == []


def test_a_gpu_host_without_a_driver_is_refused_with_the_reason() -> None:
    [(variable, message)] = problems(eight_h100s(init_error=fake_nvml.NVML_ERROR_DRIVER_NOT_LOADED))
    assert variable == "ray_gpu"
    assert "no usable GPU" in message and "not loaded" in message


def test_an_old_driver_is_refused() -> None:
    [(variable, message)] = problems(eight_h100s(driver="470.256.02"))
    assert variable == "ray_gpu_min_driver_version"
    assert "470.256.02, older than 525.60.13" in message


def test_more_gpus_asked_than_a_node_has_is_refused() -> None:
    [(variable, message)] = problems(eight_h100s(), ray_gpu_nodes=2, ray_num_gpus=8)
    assert variable == "ray_num_gpus"
    assert "each node of this host has 4 GPU(s)" in message


def test_a_split_that_does_not_divide_the_gpus_is_refused() -> None:
    [(variable, message)] = problems(eight_h100s(), ray_gpu_nodes=3)
    assert variable == "ray_gpu_nodes"
    assert "8 usable GPU(s) do not split evenly into 3 nodes" in message
    [(variable, message)] = problems(eight_h100s(), ray_gpu_nodes=16)
    assert "8 usable GPU(s) do not split evenly into 16 nodes" in message


def test_a_host_whose_gpus_all_fell_off_the_bus_is_refused() -> None:
    nvml = FakeNvml(gpus=[FakeGpu(gpu_uuid(0), lost=True)])
    [(variable, message)] = problems(nvml)
    assert variable == "ray_gpu"
    assert "GPU 0 fell off the bus" in message


def test_a_lost_gpu_is_left_out_of_the_split() -> None:
    nvml = eight_h100s()
    nvml.gpus[7].lost = True
    assert problems(nvml, ray_gpu_nodes=2) == [
        ("ray_gpu_nodes", "the host's 7 usable GPU(s) do not split evenly into 2 nodes")
    ]
    nvml.gpus[6].lost = True
    assert problems(nvml, ray_gpu_nodes=2) == []
    assert split_gpus(facts_of(nvml), {**GPU_GROUP, "ray_gpu_nodes": 2}) == [
        [gpu_uuid(index) for index in range(3)],
        [gpu_uuid(index) for index in range(3, 6)],
    ]


def test_a_non_gpu_host_asked_for_gpus_is_refused() -> None:
    no_gpu = FakeNvml(init_error=fake_nvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    found = gpu_problems("cpu-1", {"ray_num_gpus": 1}, facts_of(no_gpu))
    assert [(problem.variable, problem.host) for problem in found] == [("ray_num_gpus", "cpu-1")]
    assert "no NVIDIA driver" in found[0].message
    assert gpu_problems("cpu-1", {"ray_num_gpus": None}, facts_of(no_gpu)) == []


def test_eight_gpus_split_into_four_nodes_of_two_in_nvml_order() -> None:
    nodes = split_gpus(facts_of(eight_h100s()), {**GPU_GROUP, "ray_gpu_nodes": 4})
    assert nodes == [[gpu_uuid(2 * slot), gpu_uuid(2 * slot + 1)] for slot in range(4)]


def test_without_a_split_the_host_is_one_node_with_every_gpu() -> None:
    assert split_gpus(facts_of(eight_h100s()), GPU_GROUP) == [
        [gpu_uuid(index) for index in range(8)]
    ]


@pytest.fixture
def mig_host() -> FakeNvml:
    """GPU 0 in MIG mode with two 3g.40gb devices; GPU 1 whole."""
    mig = [FakeMig(f"MIG-{slot}", "NVIDIA H100 80GB HBM3 MIG 3g.40gb", 40 * GIB) for slot in (0, 1)]
    return FakeNvml(gpus=[FakeGpu(gpu_uuid(0), mig=[*mig]), FakeGpu(gpu_uuid(1))])


def test_mig_devices_are_the_units_of_a_mig_split(mig_host: FakeNvml) -> None:
    settings = {**GPU_GROUP, "ray_gpu_mig": True, "ray_gpu_nodes": 2}
    assert problems(mig_host, ray_gpu_mig=True, ray_gpu_nodes=2) == []
    assert split_gpus(facts_of(mig_host), settings) == [["MIG-0"], ["MIG-1"]]


def test_a_gpu_in_mig_mode_is_not_used_whole(mig_host: FakeNvml) -> None:
    assert split_gpus(facts_of(mig_host), GPU_GROUP) == [[gpu_uuid(1)]]


def test_mig_asked_on_a_host_without_mig_devices_is_refused() -> None:
    [(variable, message)] = problems(eight_h100s(), ray_gpu_mig=True)
    assert variable == "ray_gpu_mig"
    assert "no usable MIG device(s)" in message


def test_settings_given_as_extra_vars_strings_are_read_as_their_types() -> None:
    assert problems(eight_h100s(), ray_gpu="true", ray_num_gpus="16") == [
        ("ray_num_gpus", "asks for 16 GPU(s) per node; each node of this host has 8 GPU(s)")
    ]
    no_gpu = FakeNvml(init_error=fake_nvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    assert gpu_problems("cpu-1", {"ray_gpu": "false"}, facts_of(no_gpu)) == []


def test_each_gpu_is_owned_by_the_node_it_was_split_to() -> None:
    owners = FilterModule().filters()["gpu_owners"]
    nvml = FakeNvml(gpus=[FakeGpu(gpu_uuid(index)) for index in range(4)])
    nvml.gpus[3].lost = True
    # 3 usable GPUs as 3 nodes; the lost one is no node's.
    assert owners(facts_of(nvml), "gpu-1", mig=False, nodes=3) == {
        gpu_uuid(0): "gpu-1",
        gpu_uuid(1): "gpu-1/1",
        gpu_uuid(2): "gpu-1/2",
        gpu_uuid(3): "",
    }


def test_a_mig_gpu_is_owned_by_every_node_that_has_one_of_its_devices(mig_host: FakeNvml) -> None:
    owners = FilterModule().filters()["gpu_owners"]
    assert owners(facts_of(mig_host), "gpu-1", mig=True, nodes=2) == {
        gpu_uuid(0): "gpu-1,gpu-1/1",
        gpu_uuid(1): "",
    }
    assert owners(facts_of(mig_host), "gpu-1", mig=True, nodes=1) == {
        gpu_uuid(0): "gpu-1",
        gpu_uuid(1): "",
    }
