# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""A host's NVIDIA GPUs as NVML reports them, in records the roles and Ray's settings use.

Pure functions of an NVML binding (nvidia-ml-py's ``pynvml`` module, or a test's stand-in
with the same names), so pytest runs them without a GPU.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")

# Ray 2.60's accelerator type of an NVIDIA GPU (ray/_private/accelerators/nvidia_gpu.py):
# the leading all-caps tokens up to the first one with a digit ("NVIDIA H100 80GB HBM3" ->
# "H100", "NVIDIA RTX PRO 6000 Blackwell" -> "RTX-PRO-6000"); mixed-case consumer names
# fall back to the hyphen-joined product name. A unit test holds it to Ray's own function.
_RAY_GPU_NAME = re.compile(r"\w+\s+((?:[A-Z]+\s+)*[A-Z0-9]*\d[A-Z0-9]*)")
# NVML names a MIG device after its GPU and profile: "NVIDIA A100-SXM4-40GB MIG 1g.5gb".
_MIG_PROFILE = re.compile(r"\bMIG\s+(\S+)$")


@dataclass(frozen=True)
class MigDevice:
    """A MIG device: CUDA and Ray take its UUID (MIG-...) in CUDA_VISIBLE_DEVICES."""

    index: int
    uuid: str
    profile: str
    memory_bytes: int


@dataclass(frozen=True)
class Gpu:
    index: int
    uuid: str
    model: str
    # Ray's name for the model, as the pinned Ray would detect it.
    accelerator_type: str
    memory_bytes: int
    pci_bus_id: str
    mig_enabled: bool
    mig_devices: tuple[MigDevice, ...]
    # None where the GPU has no ECC (most consumer cards).
    ecc_enabled: bool | None
    # Fell off the bus: NVML lists it but cannot read it (GPU_IS_LOST); nothing else is known.
    lost: bool = False


@dataclass(frozen=True)
class HostGpus:
    driver_version: str
    # The newest CUDA the driver runs, "13.0".
    cuda_driver_version: str
    gpus: tuple[Gpu, ...]


class NvmlUnavailableError(Exception):
    """NVML cannot be used on this host: no driver, no library, or no permission."""


def accelerator_type(model: str) -> str:
    """Ray's accelerator type of a GPU model as NVML names it."""
    match = _RAY_GPU_NAME.match(model)
    found = match.group(1).replace(" ", "-") if match else ""
    if len(found) > 1:
        return found
    return re.sub(r"^NVIDIA\s+", "", model).strip().replace(" ", "-")


def cuda_version(encoded: int) -> str:
    """NVML's CUDA version number (13000) as CUDA writes it (13.0)."""
    return f"{encoded // 1000}.{encoded % 1000 // 10}"


def version_tuple(version: str) -> tuple[int, ...]:
    """A driver version (580.159.04) as numbers, for comparing; ValueError if it is none."""
    if not re.fullmatch(r"\d+(\.\d+)*", version.strip()):
        raise ValueError(f"not a driver version: {version!r}")
    return tuple(int(part) for part in version.strip().split("."))


def read_host_gpus(nvml: Any) -> HostGpus:
    """Every GPU of the host, with its MIG devices, through the NVML binding ``nvml``."""
    with _session(nvml):
        gpus = tuple(_read_gpu_or_lost(nvml, index) for index in range(nvml.nvmlDeviceGetCount()))
        return HostGpus(
            driver_version=_text(nvml.nvmlSystemGetDriverVersion()),
            cuda_driver_version=cuda_version(nvml.nvmlSystemGetCudaDriverVersion_v2()),
            gpus=gpus,
        )


@contextmanager
def _session(nvml: Any) -> Iterator[None]:
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as error:
        raise NvmlUnavailableError(_why_unavailable(nvml, error)) from error
    try:
        yield
    finally:
        nvml.nvmlShutdown()


def _why_unavailable(nvml: Any, error: Any) -> str:
    value = getattr(error, "value", None)
    if value == nvml.NVML_ERROR_LIBRARY_NOT_FOUND:
        return "NVML (libnvidia-ml.so.1) is not installed: the host has no NVIDIA driver"
    if value == nvml.NVML_ERROR_DRIVER_NOT_LOADED:
        return "the NVIDIA driver is not loaded (no /dev/nvidia* device answers)"
    if value == nvml.NVML_ERROR_NO_PERMISSION:
        return "NVML refused this user access to the GPUs"
    return f"NVML failed to start: {error}"


def _read_gpu_or_lost(nvml: Any, index: int) -> Gpu:
    """A GPU; one that fell off the bus (even its handle may be lost) is listed as lost."""
    handle = None
    try:
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        return _read_gpu(nvml, index, handle)
    except nvml.NVMLError as error:
        if getattr(error, "value", None) != nvml.NVML_ERROR_GPU_IS_LOST:
            raise
    try:
        uuid = "" if handle is None else _text(nvml.nvmlDeviceGetUUID(handle))
    except nvml.NVMLError:
        uuid = ""
    return Gpu(index, uuid, "", "", 0, "", False, (), None, lost=True)


def _read_gpu(nvml: Any, index: int, handle: Any) -> Gpu:
    model = _text(nvml.nvmlDeviceGetName(handle))
    mig_enabled = bool(
        _supported(nvml, lambda: nvml.nvmlDeviceGetMigMode(handle)[0], 0)
        == nvml.NVML_DEVICE_MIG_ENABLE
    )
    ecc = _supported(nvml, lambda: nvml.nvmlDeviceGetEccMode(handle)[0], None)
    return Gpu(
        index=index,
        uuid=_text(nvml.nvmlDeviceGetUUID(handle)),
        model=model,
        accelerator_type=accelerator_type(model),
        memory_bytes=int(nvml.nvmlDeviceGetMemoryInfo(handle).total),
        pci_bus_id=_text(nvml.nvmlDeviceGetPciInfo(handle).busId),
        mig_enabled=mig_enabled,
        mig_devices=_read_mig_devices(nvml, handle) if mig_enabled else (),
        ecc_enabled=None if ecc is None else ecc == nvml.NVML_FEATURE_ENABLED,
    )


def _read_mig_devices(nvml: Any, handle: Any) -> tuple[MigDevice, ...]:
    """The MIG devices made on a GPU: slots without one answer NOT_FOUND."""
    devices = []
    for index in range(nvml.nvmlDeviceGetMaxMigDeviceCount(handle)):
        device = _supported(nvml, partial(nvml.nvmlDeviceGetMigDeviceHandleByIndex, handle, index))
        if device is None:
            continue
        name = _text(nvml.nvmlDeviceGetName(device))
        profile = _MIG_PROFILE.search(name)
        devices.append(
            MigDevice(
                index=index,
                uuid=_text(nvml.nvmlDeviceGetUUID(device)),
                profile=profile.group(1) if profile else name,
                memory_bytes=int(nvml.nvmlDeviceGetMemoryInfo(device).total),
            )
        )
    return tuple(devices)


def _supported(nvml: Any, read: Callable[[], T], otherwise: T | None = None) -> T | None:
    """What ``read`` returns, else ``otherwise`` where the GPU lacks the feature or the slot."""
    try:
        return read()
    except nvml.NVMLError as error:
        if getattr(error, "value", None) in (
            nvml.NVML_ERROR_NOT_SUPPORTED,
            nvml.NVML_ERROR_NOT_FOUND,
        ):
            return otherwise
        raise


def _text(value: str | bytes) -> str:
    """Older nvidia-ml-py releases return bytes."""
    return value.decode() if isinstance(value, bytes) else str(value)
