# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Filters that judge a GPU host's GPUs and pick the devices its Ray node runs on."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ansible_collections.rayfleet.cluster.plugins.module_utils.gpu_nodes import (
    gpu_problems,
    split_gpus,
    usable_devices,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.node_slots import slot_name

DOCUMENTATION = r"""
name: gpu_problems
short_description: What stops a GPU host, or a host asked for GPUs, from running its Ray node
description:
  - From the host's C(rayfleet_gpus) fact (module M(rayfleet.cluster.gpu_facts)) and its
    C(ray_*) settings, one line per problem, naming the host, the variable and the fix - a
    C(ray_gpu) host without a usable GPU (no driver, all GPUs lost), a driver older than
    C(ray_gpu_min_driver_version), more GPUs asked (C(ray_num_gpus)) than the host has, MIG
    devices asked for (C(ray_gpu_mig)) where there are none, a host without GPUs asked for some.
  - The companion filter C(gpu_devices) gives, for each of the host's Ray nodes by slot
    (C(ray_gpu_nodes)), the UUIDs of the devices it runs on (its C(CUDA_VISIBLE_DEVICES)) - the
    GPUs that answer, or their MIG devices with C(ray_gpu_mig), split evenly in NVML's order;
    C(gpu_owners) maps every GPU's UUID (MIG mode or not, lost or not) to the Ray node(s) of the
    host that run on it (comma-separated; empty for none), for rayfleet-gpu-metrics' labels,
    given the host's name and, as keywords, C(mig) and C(nodes) (how many Ray nodes it runs).
options:
  _input:
    description: The host's C(rayfleet_gpus) fact.
    type: dict
    required: true
  host:
    description: The host's inventory name.
    type: str
    required: true
  settings:
    description: The host's C(ray_*) settings by name.
    type: dict
    required: true
"""


def gpu_problems_filter(
    facts: Mapping[str, Any], host: str, settings: Mapping[str, Any]
) -> list[str]:
    return [str(problem) for problem in gpu_problems(host, settings, facts)]


def gpu_devices(facts: Mapping[str, Any], settings: Mapping[str, Any]) -> list[list[str]]:
    return split_gpus(facts, settings)


def gpu_owners(facts: Mapping[str, Any], host: str, *, mig: bool, nodes: int) -> dict[str, str]:
    settings = {"ray_gpu": True, "ray_gpu_mig": mig, "ray_gpu_nodes": nodes}
    owners: dict[str, list[str]] = {str(gpu["uuid"]): [] for gpu in facts.get("gpus", [])}
    parents = {
        str(device["uuid"]): str(device.get("gpu_uuid", device["uuid"]))
        for device in usable_devices(facts, mig=mig)
    }
    for slot, devices in enumerate(split_gpus(facts, settings) if parents else []):
        for device in devices:
            node = slot_name(host, slot)
            if node not in owners[parents[device]]:
                owners[parents[device]].append(node)
    return {uuid: ",".join(nodes) for uuid, nodes in owners.items() if uuid}


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "gpu_problems": gpu_problems_filter,
            "gpu_devices": gpu_devices,
            "gpu_owners": gpu_owners,
        }
