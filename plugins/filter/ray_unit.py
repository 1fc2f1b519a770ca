# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Filters that compute what a node's unit runs (module_utils/ray_unit.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible_collections.rayfleet.cluster.plugins.module_utils.plan import reading_the_plan
from ansible_collections.rayfleet.cluster.plugins.module_utils.ray_unit import (
    start_args,
    unit_environment,
)

DOCUMENTATION = r"""
name: ray_start_args
short_description: The arguments of a Ray node's `ray start`
description:
  - For a node of the C(rayfleet_plan) fact, from the host's C(ray_*) settings, every argument
    but C(--block) and Redis's credentials; a head's start the GCS, dashboard and client server,
    a worker's join its head's GCS.
  - The object store takes C(ray_object_store_memory) bytes, else that fraction of the host's
    memory, at most 95% of C(/dev/shm).
  - The companion filter C(ray_unit_environment) gives the unit's environment (auth, TLS,
    autoscaler, monitoring and GCS storage settings, then C(ray_environment)), from the
    plan, the node and its settings, with the keywords C(node_id), C(client) (the cluster's
    client environment), C(monitoring) (the cluster's entry of C(rayfleet_monitoring)),
    C(redis_ca_file) and C(gpu_devices) (the UUIDs of the GPUs the node runs on, its
    C(CUDA_VISIBLE_DEVICES)).
options:
  _input:
    description: The C(rayfleet_plan) fact.
    type: dict
    required: true
  node:
    description: The node's name in the plan.
    type: str
    required: true
  settings:
    description: The host's C(ray_*) settings by name.
    type: dict
    required: true
  memtotal_mb:
    description: The host's memory in MiB.
    type: int
    required: true
  shm_bytes:
    description: The size of the host's C(/dev/shm) in bytes, 0 when unknown.
    type: int
    required: true
  labels_file:
    description: The node's labels file.
    type: str
    required: true
  autoscaling_config:
    description: The head's autoscaling config file, passed when the cluster autoscales.
    type: str
    required: true
"""


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "ray_start_args": reading_the_plan(start_args),
            "ray_unit_environment": reading_the_plan(unit_environment),
        }
