"""A simulated NVML with nvidia-ml-py's names, for unit tests of the GPU logic: no GPU here.

Constants are nvidia-ml-py's own values (a test checks them against the real module).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_TIMEOUT = 10
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_GPU_IS_LOST = 15
NVML_TEMPERATURE_GPU = 0
NVML_VOLATILE_ECC = 0
NVML_MEMORY_ERROR_TYPE_CORRECTED = 0
NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
NVML_DEVICE_MIG_ENABLE = 1
NVML_FEATURE_ENABLED = 1
GIB = 1024**3


class NVMLError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(f"NVML error {value}")
        self.value = value


@dataclass
class FakeMig:
    uuid: str
    name: str
    memory: int


@dataclass
class FakeGpu:
    uuid: str
    name: str = "NVIDIA H100 80GB HBM3"
    memory: int = 80 * GIB
    bus_id: str = "00000000:18:00.0"
    # MIG slots: None where no MIG device is made.
    mig: list[FakeMig | None] | None = None
    ecc: int | None = 1
    # Readings: utilization (%), memory used, temperature, power (mW), ECC counts, clock
    # event reasons; a lost GPU (fell off the bus) fails every reading.
    utilization: int = 0
    memory_used: int = 0
    temperature: int = 35
    power_mw: int | None = 70_000
    ecc_errors: tuple[int, int] = (0, 0)
    clock_reasons: int = 0
    lost: bool = False
    # Lost so badly that NVML gives no handle for it either.
    lost_handle: bool = False


@dataclass
class FakeNvml:
    """An NVML binding over ``gpus``; ``init_error`` makes nvmlInit fail with that code."""

    gpus: list[FakeGpu] = field(default_factory=list)
    driver: str = "580.159.04"
    cuda: int = 13000
    init_error: int | None = None
    sessions: int = 0

    NVMLError = NVMLError

    def __getattr__(self, name: str) -> Any:
        if name.startswith("NVML_"):
            return globals()[name]
        raise AttributeError(name)

    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise NVMLError(self.init_error)
        self.sessions += 1

    def nvmlShutdown(self) -> None:
        self.sessions -= 1

    def nvmlSystemGetDriverVersion(self) -> str:
        return self.driver

    def nvmlSystemGetCudaDriverVersion_v2(self) -> int:
        return self.cuda

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:
        if self.gpus[index].lost_handle:
            raise NVMLError(NVML_ERROR_GPU_IS_LOST)
        return self.gpus[index]

    def nvmlDeviceGetName(self, handle: FakeGpu | FakeMig) -> bytes:
        # Older nvidia-ml-py releases return bytes: the logic takes both.
        return handle.name.encode()

    def nvmlDeviceGetUUID(self, handle: FakeGpu | FakeMig) -> str:
        return handle.uuid

    def nvmlDeviceGetMemoryInfo(self, handle: FakeGpu | FakeMig) -> SimpleNamespace:
        used = self._answering(handle).memory_used if isinstance(handle, FakeGpu) else 0
        return SimpleNamespace(total=handle.memory, used=used, free=handle.memory - used)

    def nvmlDeviceGetUtilizationRates(self, handle: FakeGpu) -> SimpleNamespace:
        return SimpleNamespace(gpu=self._answering(handle).utilization, memory=0)

    def nvmlDeviceGetTemperature(self, handle: FakeGpu, sensor: int) -> int:
        assert sensor == NVML_TEMPERATURE_GPU
        return self._answering(handle).temperature

    def nvmlDeviceGetPowerUsage(self, handle: FakeGpu) -> int:
        if self._answering(handle).power_mw is None:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return handle.power_mw or 0

    def nvmlDeviceGetTotalEccErrors(self, handle: FakeGpu, kind: int, counter: int) -> int:
        assert counter == NVML_VOLATILE_ECC
        if self._answering(handle).ecc is None:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return handle.ecc_errors[kind]

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: FakeGpu) -> int:
        return self._answering(handle).clock_reasons

    def _answering(self, handle: FakeGpu) -> FakeGpu:
        if handle.lost:
            raise NVMLError(NVML_ERROR_GPU_IS_LOST)
        return handle

    def nvmlDeviceGetPciInfo(self, handle: FakeGpu) -> SimpleNamespace:
        return SimpleNamespace(busId=handle.bus_id.encode())

    def nvmlDeviceGetMigMode(self, handle: FakeGpu) -> list[int]:
        if handle.mig is None:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return [NVML_DEVICE_MIG_ENABLE, NVML_DEVICE_MIG_ENABLE]

    def nvmlDeviceGetEccMode(self, handle: FakeGpu) -> list[int]:
        if handle.ecc is None:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return [handle.ecc, handle.ecc]

    def nvmlDeviceGetMaxMigDeviceCount(self, handle: FakeGpu) -> int:
        return len(handle.mig or [])

    def nvmlDeviceGetMigDeviceHandleByIndex(self, handle: FakeGpu, index: int) -> FakeMig:
        device = (handle.mig or [])[index]
        if device is None:
            raise NVMLError(NVML_ERROR_NOT_FOUND)
        return device


def gpu_uuid(index: int) -> str:
    return f"GPU-{index:08x}-0000-0000-0000-000000000000"


def eight_h100s(**changes: Any) -> FakeNvml:
    """An 8-GPU H100 host; ``changes`` to the host (driver, cuda, init_error)."""
    gpus = [
        FakeGpu(gpu_uuid(index), bus_id=f"00000000:{0x18 + index:02X}:00.0") for index in range(8)
    ]
    return FakeNvml(gpus=gpus, **changes)
