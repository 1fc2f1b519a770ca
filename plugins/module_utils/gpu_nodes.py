# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""A GPU host's Ray nodes: what it must have, and how its GPUs split across several nodes.

The bare-metal form of a "distribution unit": a host's GPUs (or MIG devices) cut evenly into
``ray_gpu_nodes`` Ray nodes, every node pinned to its devices by UUID (CUDA_VISIBLE_DEVICES);
module_utils/node_slots.py gives each its ports, module_utils/ray_unit.py its share of the
host's CPUs, memory and object store.

Pure functions of the host's ``rayfleet_gpus`` fact (the gpu_facts module) and its ray_*
settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.rayfleet.cluster.plugins.module_utils.gpu import version_tuple
from ansible_collections.rayfleet.cluster.plugins.module_utils.inventory_checks import Problem
from ansible_collections.rayfleet.cluster.plugins.module_utils.node_slots import node_count


def usable_devices(facts: Mapping[str, Any], *, mig: bool) -> list[Mapping[str, Any]]:
    """The devices Ray may use: GPUs that answer (not lost), or their MIG devices."""
    gpus = [gpu for gpu in facts.get("gpus", []) if not gpu.get("lost")]
    if not mig:
        return [gpu for gpu in gpus if not gpu["mig_enabled"]]
    return [
        {**device, "accelerator_type": gpu["accelerator_type"], "gpu_uuid": gpu["uuid"]}
        for gpu in gpus
        for device in gpu["mig_devices"]
    ]


def gpu_problems(host: str, settings: Mapping[str, Any], facts: Mapping[str, Any]) -> list[Problem]:
    """What stops a host of a GPU group, or a host asked for GPUs, from running its nodes."""
    # An --extra-vars value comes as a string.
    asked = None if settings.get("ray_num_gpus") is None else int(settings["ray_num_gpus"])
    if not boolean(settings.get("ray_gpu") or False):
        if asked and not facts.get("gpus"):
            return [
                Problem(
                    host,
                    "ray_num_gpus",
                    f"asks for {asked} GPU(s) on a host that has none "
                    f"({facts.get('reason') or 'NVML lists no GPU'})",
                    "remove ray_num_gpus here, or put the host in a GPU group (ray_gpu: true) "
                    "once it has an NVIDIA driver and GPUs",
                )
            ]
        return []
    if not facts.get("nvml"):
        return [
            Problem(
                host,
                "ray_gpu",
                f"the host has no usable GPU: {facts.get('reason') or 'NVML did not answer'}",
                "install and load the NVIDIA driver (nvidia-smi must list the GPUs), "
                "or take the host out of its GPU group",
            )
        ]
    problems = _driver_problems(host, settings, facts)
    mig = boolean(settings.get("ray_gpu_mig") or False)
    devices = usable_devices(facts, mig=mig)
    lost = [str(gpu["index"]) for gpu in facts.get("gpus", []) if gpu.get("lost")]
    kind = "MIG device(s)" if mig else "GPU(s)"
    if not devices:
        problems.append(
            Problem(
                host,
                "ray_gpu_mig" if mig else "ray_gpu",
                f"the host has no usable {kind}"
                + (f" (GPU {', '.join(lost)} fell off the bus)" if lost else "")
                + ("" if mig else "; a GPU in MIG mode is used only with ray_gpu_mig: true"),
                "make MIG devices (nvidia-smi mig) and set ray_gpu_mig: true"
                if mig
                else "check the GPUs (nvidia-smi), or take the host out of its GPU group",
            )
        )
        return problems
    count = node_count(settings)
    per_node = len(devices) // count
    if len(devices) % count or not per_node:
        problems.append(
            Problem(
                host,
                "ray_gpu_nodes",
                f"the host's {len(devices)} usable {kind} do not split evenly into {count} nodes",
                f"use a divisor of {len(devices)}",
            )
        )
        return problems
    if asked is not None and asked > per_node:
        problems.append(
            Problem(
                host,
                "ray_num_gpus",
                f"asks for {asked} GPU(s) per node; each node of this host has {per_node} {kind}",
                f"set it to at most {per_node}, or leave it unset to use what the host has",
            )
        )
    return problems


def _driver_problems(
    host: str, settings: Mapping[str, Any], facts: Mapping[str, Any]
) -> list[Problem]:
    minimum = str(settings.get("ray_gpu_min_driver_version") or "")
    if not minimum or version_tuple(facts["driver_version"]) >= version_tuple(minimum):
        return []
    return [
        Problem(
            host,
            "ray_gpu_min_driver_version",
            f"the NVIDIA driver is {facts['driver_version']}, older than {minimum}",
            "upgrade the driver on this host, or lower ray_gpu_min_driver_version if your "
            "CUDA builds run on it",
        )
    ]


def split_gpus(facts: Mapping[str, Any], settings: Mapping[str, Any]) -> list[list[str]]:
    """The device UUIDs of each of the host's nodes, by slot, in NVML's order.

    Call it on a host gpu_problems passed: the devices split evenly.
    """
    devices = usable_devices(facts, mig=boolean(settings.get("ray_gpu_mig") or False))
    per_node = len(devices) // node_count(settings)
    return [
        [str(device["uuid"]) for device in devices[start : start + per_node]]
        for start in range(0, len(devices), per_node)
    ]
