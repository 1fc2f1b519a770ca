"""A host's GPUs read through NVML (module_utils/gpu.py), against a simulated NVML."""

from __future__ import annotations

import fake_nvml
import pynvml
import pytest
from fake_nvml import GIB, FakeGpu, FakeMig, FakeNvml, NVMLError, eight_h100s, gpu_uuid
from ray._private.accelerators.nvidia_gpu import NvidiaGPUAcceleratorManager

from ansible_collections.rayfleet.cluster.plugins.module_utils.gpu import (
    NvmlUnavailableError,
    accelerator_type,
    cuda_version,
    read_host_gpus,
    version_tuple,
)
from ansible_collections.rayfleet.cluster.plugins.modules.gpu_facts import gpu_facts


def test_eight_gpus_are_read_in_index_order_with_their_identity() -> None:
    host = read_host_gpus(eight_h100s())
    assert [gpu.index for gpu in host.gpus] == list(range(8))
    assert [gpu.uuid for gpu in host.gpus] == [gpu_uuid(index) for index in range(8)]
    first = host.gpus[0]
    assert first.model == "NVIDIA H100 80GB HBM3"
    assert first.accelerator_type == "H100"
    assert first.memory_bytes == 80 * GIB
    assert first.pci_bus_id == "00000000:18:00.0"
    assert host.gpus[7].pci_bus_id == "00000000:1F:00.0"
    assert (first.mig_enabled, first.mig_devices, first.ecc_enabled) == (False, (), True)


def test_the_driver_and_its_cuda_version() -> None:
    host = read_host_gpus(eight_h100s(driver="535.104.05", cuda=12020))
    assert (host.driver_version, host.cuda_driver_version) == ("535.104.05", "12.2")


def test_mig_devices_of_a_gpu_come_with_uuid_profile_and_memory() -> None:
    nvml = eight_h100s()
    nvml.gpus[3] = FakeGpu(
        gpu_uuid(3),
        name="NVIDIA A100-SXM4-40GB",
        mig=[
            FakeMig("MIG-aaaa", "NVIDIA A100-SXM4-40GB MIG 3g.20gb", 20 * GIB),
            None,
            FakeMig("MIG-bbbb", "NVIDIA A100-SXM4-40GB MIG 1g.5gb", 5 * GIB),
        ],
    )
    gpu = read_host_gpus(nvml).gpus[3]
    assert gpu.mig_enabled
    assert [(mig.index, mig.uuid, mig.profile, mig.memory_bytes) for mig in gpu.mig_devices] == [
        (0, "MIG-aaaa", "3g.20gb", 20 * GIB),
        (2, "MIG-bbbb", "1g.5gb", 5 * GIB),
    ]
    assert gpu.accelerator_type == "A100"


def test_a_gpu_that_fell_off_the_bus_is_listed_as_lost() -> None:
    nvml = eight_h100s()
    nvml.gpus[6].lost = True
    gpus = read_host_gpus(nvml).gpus
    assert [gpu.lost for gpu in gpus] == [False] * 6 + [True, False]
    assert (gpus[6].uuid, gpus[6].memory_bytes) == (gpu_uuid(6), 0)


def test_a_gpu_without_even_a_handle_is_listed_as_lost() -> None:
    nvml = eight_h100s()
    nvml.gpus[2].lost_handle = True
    gpu = read_host_gpus(nvml).gpus[2]
    assert (gpu.index, gpu.lost, gpu.uuid) == (2, True, "")


def test_any_other_nvml_failure_fails_the_module_with_its_reason() -> None:
    class Broken(FakeNvml):
        def nvmlDeviceGetCount(self) -> int:
            raise NVMLError(999)

    facts, failure = gpu_facts(Broken(), required=False)
    assert "NVML failed reading the GPUs" in failure
    assert facts["nvml"] is False


def test_a_gpu_without_ecc_says_so() -> None:
    nvml = FakeNvml(gpus=[FakeGpu(gpu_uuid(0), name="NVIDIA GeForce RTX 4090", ecc=None)])
    gpu = read_host_gpus(nvml).gpus[0]
    assert gpu.ecc_enabled is None
    assert gpu.accelerator_type == "GeForce-RTX-4090"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (fake_nvml.NVML_ERROR_LIBRARY_NOT_FOUND, "no NVIDIA driver"),
        (fake_nvml.NVML_ERROR_DRIVER_NOT_LOADED, "driver is not loaded"),
        (fake_nvml.NVML_ERROR_NO_PERMISSION, "refused this user"),
    ],
    ids=["no-library", "no-driver", "no-permission"],
)
def test_a_host_without_a_usable_driver_is_told_apart(code: int, reason: str) -> None:
    with pytest.raises(NvmlUnavailableError, match=reason):
        read_host_gpus(eight_h100s(init_error=code))


def test_nvml_is_shut_down_after_reading_and_after_a_failure() -> None:
    nvml = eight_h100s()
    read_host_gpus(nvml)
    assert nvml.sessions == 0

    class Failing(FakeNvml):
        def nvmlDeviceGetUUID(self, handle: FakeGpu | FakeMig) -> str:
            raise NVMLError(999)

    failing = Failing(gpus=[FakeGpu(gpu_uuid(0))])
    with pytest.raises(NVMLError):
        read_host_gpus(failing)
    assert failing.sessions == 0


def test_an_old_driver_compares_below_the_minimum() -> None:
    assert version_tuple("535.104.05") < version_tuple("550")
    assert version_tuple("580.159.04") >= version_tuple("550.54.15")
    with pytest.raises(ValueError, match="not a driver version"):
        version_tuple("latest")


@pytest.mark.parametrize(
    "model",
    [
        "NVIDIA H100 80GB HBM3",
        "NVIDIA H200",
        "NVIDIA A100-SXM4-40GB",
        "Tesla V100-SXM2-16GB",
        "NVIDIA L40S",
        "NVIDIA RTX PRO 6000 Blackwell Server Edition",
        "NVIDIA GeForce RTX 4090",
        "NVIDIA RTX A6000",
        "NVIDIA B200",
    ],
)
def test_the_accelerator_type_is_the_pinned_rays(model: str) -> None:
    """Ray labels nodes with it: the pinned Ray's own function must agree."""
    assert accelerator_type(model) == NvidiaGPUAcceleratorManager._gpu_name_to_accelerator_type(
        model
    )


def test_cuda_versions_read_like_cudas() -> None:
    assert [cuda_version(value) for value in (12020, 12080, 13000)] == ["12.2", "12.8", "13.0"]


def test_the_simulated_nvml_uses_nvidia_ml_pys_values() -> None:
    names = [name for name in vars(fake_nvml) if name.startswith("NVML_")]
    assert names
    assert {name: getattr(fake_nvml, name) for name in names} == {
        name: getattr(pynvml, name) for name in names
    }


def test_the_module_fails_a_gpu_host_without_nvml_and_passes_one_that_may_lack_it() -> None:
    no_driver = eight_h100s(init_error=fake_nvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    facts, failure = gpu_facts(no_driver, required=True)
    assert "no NVIDIA driver" in failure
    assert (facts["nvml"], facts["gpus"]) == (False, [])
    facts, failure = gpu_facts(no_driver, required=False)
    assert failure == ""
    assert "no NVIDIA driver" in facts["reason"]


def test_the_modules_facts_are_plain_data() -> None:
    facts, failure = gpu_facts(eight_h100s(), required=True)
    assert failure == ""
    assert facts["nvml"] is True
    assert facts["driver_version"] == "580.159.04"
    assert facts["gpus"][0] == {
        "index": 0,
        "uuid": gpu_uuid(0),
        "model": "NVIDIA H100 80GB HBM3",
        "accelerator_type": "H100",
        "memory_bytes": 80 * GIB,
        "pci_bus_id": "00000000:18:00.0",
        "mig_enabled": False,
        "mig_devices": [],
        "ecc_enabled": True,
        "lost": False,
    }
