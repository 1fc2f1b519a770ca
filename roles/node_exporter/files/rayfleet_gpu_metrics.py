#!/usr/bin/env python3
# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""rayfleet-gpu-metrics: each NVIDIA GPU's NVML readings for node_exporter's textfile collector.

A long-lived process rather than a timer: NVML starts once (its start costs more than a
reading), and XID errors arrive as NVML events it waits on between two writes. It opens no
port: node_exporter, which Prometheus already scrapes, serves what it writes.

Series carry the GPU's index and UUID and the Ray node that owns the GPU (``--owners``, a
JSON map of GPU or MIG UUID to Ray node name; GPUs not in it have ``ray_node=""``).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pynvml

PREFIX = "rayfleet_gpu"
# NVML's clock event reasons (nvmlClocksEventReason*), by the name the series carries.
THROTTLE_REASONS = {
    "sw_power_cap": 0x4,
    "hw_slowdown": 0x8,
    "sw_thermal_slowdown": 0x20,
    "hw_thermal_slowdown": 0x40,
    "hw_power_brake_slowdown": 0x80,
}
HELP = {
    "up": ("gauge", "1 when NVML reads the GPU, 0 when it fell off the bus or stopped answering"),
    "info": ("gauge", "The GPU's model and PCI bus id, always 1"),
    "utilization_ratio": ("gauge", "Share of the last sample period a kernel ran on the GPU"),
    "memory_used_bytes": ("gauge", "GPU memory in use"),
    "memory_total_bytes": ("gauge", "GPU memory in all"),
    "temperature_celsius": ("gauge", "GPU core temperature"),
    "power_watts": ("gauge", "Power the board draws"),
    "ecc_errors_total": ("counter", "ECC errors since the driver loaded, by type"),
    "throttled": ("gauge", "1 while NVML reports the clocks held down for that reason"),
    "xid_errors_total": ("counter", "XID errors NVML reported since this process started"),
    "last_xid": ("gauge", "The last XID error's code, 0 when none came"),
}


@dataclass(frozen=True)
class Sample:
    name: str
    labels: Mapping[str, str]
    value: float


@dataclass
class XidCounts:
    """XID errors seen per GPU UUID since the process started."""

    count: dict[str, int] = field(default_factory=dict)
    last: dict[str, int] = field(default_factory=dict)

    def add(self, uuid: str, xid: int) -> None:
        self.count[uuid] = self.count.get(uuid, 0) + 1
        self.last[uuid] = xid


def text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_samples(nvml: Any, owners: Mapping[str, str], xids: XidCounts) -> list[Sample]:
    """One reading of every GPU of the host; a GPU NVML cannot read gives up=0 alone, and so
    does one its Ray node owns that NVML no longer lists (it fell off the bus entirely)."""
    samples: list[Sample] = []
    for index in range(nvml.nvmlDeviceGetCount()):
        labels = {"gpu": str(index), "uuid": "", "ray_node": ""}
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            uuid = text(nvml.nvmlDeviceGetUUID(handle))
            labels = {"gpu": str(index), "uuid": uuid, "ray_node": owners.get(uuid, "")}
            samples += _gpu_samples(nvml, handle, labels, xids)
        except nvml.NVMLError:
            samples.append(Sample("up", labels, 0))
    listed = {sample.labels["uuid"] for sample in samples}
    samples += [
        Sample("up", {"gpu": "", "uuid": uuid, "ray_node": node}, 0)
        for uuid, node in sorted(owners.items())
        if uuid not in listed
    ]
    return samples


def _gpu_samples(nvml: Any, handle: Any, labels: dict[str, str], xids: XidCounts) -> list[Sample]:
    memory = nvml.nvmlDeviceGetMemoryInfo(handle)
    info = {
        **labels,
        "model": text(nvml.nvmlDeviceGetName(handle)),
        "pci_bus_id": text(nvml.nvmlDeviceGetPciInfo(handle).busId),
    }
    samples = [
        Sample("up", labels, 1),
        Sample("info", info, 1),
        Sample("memory_used_bytes", labels, memory.used),
        Sample("memory_total_bytes", labels, memory.total),
        Sample("xid_errors_total", labels, xids.count.get(labels["uuid"], 0)),
        Sample("last_xid", labels, xids.last.get(labels["uuid"], 0)),
    ]
    readings: list[tuple[str, Callable[[], float]]] = [
        ("utilization_ratio", lambda: nvml.nvmlDeviceGetUtilizationRates(handle).gpu / 100),
        (
            "temperature_celsius",
            lambda: nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU),
        ),
        ("power_watts", lambda: nvml.nvmlDeviceGetPowerUsage(handle) / 1000),
    ]
    for name, read in readings:
        value = _optional(nvml, read)
        if value is not None:
            samples.append(Sample(name, labels, value))
    for kind, error_type in (
        ("corrected", nvml.NVML_MEMORY_ERROR_TYPE_CORRECTED),
        ("uncorrected", nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED),
    ):
        count = _optional(
            nvml,
            partial(nvml.nvmlDeviceGetTotalEccErrors, handle, error_type, nvml.NVML_VOLATILE_ECC),
        )
        if count is not None:
            samples.append(Sample("ecc_errors_total", {**labels, "type": kind}, count))
    reasons = _optional(nvml, lambda: nvml.nvmlDeviceGetCurrentClocksEventReasons(handle))
    if reasons is not None:
        samples += [
            Sample("throttled", {**labels, "reason": reason}, 1 if int(reasons) & bit else 0)
            for reason, bit in THROTTLE_REASONS.items()
        ]
    return samples


def _optional(nvml: Any, read: Callable[[], float]) -> float | None:
    """A reading the GPU may not offer (power on some boards, ECC on consumer cards)."""
    try:
        return float(read())
    except nvml.NVMLError as error:
        if getattr(error, "value", None) == nvml.NVML_ERROR_NOT_SUPPORTED:
            return None
        raise


def render(samples: Iterable[Sample]) -> str:
    """Prometheus's text format, one HELP and TYPE per metric."""
    by_name: dict[str, list[Sample]] = {}
    for sample in samples:
        by_name.setdefault(sample.name, []).append(sample)
    lines = []
    for name, group in by_name.items():
        kind, description = HELP[name]
        lines += [f"# HELP {PREFIX}_{name} {description}.", f"# TYPE {PREFIX}_{name} {kind}"]
        lines += [f"{PREFIX}_{name}{{{_labels(s.labels)}}} {_number(s.value)}" for s in group]
    return "\n".join(lines) + "\n"


def _labels(labels: Mapping[str, str]) -> str:
    escaped = {
        key: value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        for key, value in labels.items()
    }
    return ",".join(f'{key}="{value}"' for key, value in sorted(escaped.items()))


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def write_atomically(path: Path, content: str) -> None:
    """node_exporter never reads half a file: write beside it, then rename over it."""
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", delete=False
    ) as handle:
        handle.write(content)
    os.chmod(handle.name, 0o644)
    os.replace(handle.name, path)


class XidWatch:
    """Waits on NVML's XID events; where the driver offers none, it only sleeps."""

    def __init__(self, nvml: Any, xids: XidCounts) -> None:
        self.nvml = nvml
        self.xids = xids
        self.events: Any = None
        try:
            events = nvml.nvmlEventSetCreate()
            for index in range(nvml.nvmlDeviceGetCount()):
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                nvml.nvmlDeviceRegisterEvents(handle, nvml.nvmlEventTypeXidCriticalError, events)
            self.events = events
        except nvml.NVMLError:
            self.events = None

    def wait(self, seconds: float) -> None:
        if self.events is None:
            time.sleep(seconds)
            return
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self.nvml.nvmlEventSetWait_v2(self.events, int(left * 1000))
            except self.nvml.NVMLError as error:
                if getattr(error, "value", None) == self.nvml.NVML_ERROR_TIMEOUT:
                    return
                raise
            self.xids.add(text(self.nvml.nvmlDeviceGetUUID(event.device)), int(event.eventData))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True, help="the .prom file to write")
    parser.add_argument("--owners", type=Path, help="JSON map of GPU UUID to its Ray node")
    parser.add_argument("--interval", type=float, default=15.0, help="seconds between writes")
    args = parser.parse_args(argv)
    owners = json.loads(args.owners.read_text()) if args.owners else {}
    xids = XidCounts()
    pynvml.nvmlInit()
    try:
        watch = XidWatch(pynvml, xids)
        while True:
            write_atomically(args.output, render(read_samples(pynvml, owners, xids)))
            watch.wait(args.interval)
    finally:
        pynvml.nvmlShutdown()


if __name__ == "__main__":
    main()
