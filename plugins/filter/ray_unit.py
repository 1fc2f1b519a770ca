# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Filters that compute what a node's unit runs (module_utils/ray_unit.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible_collections.rayfleet.cluster.plugins.module_utils.plan import reading_the_plan
from ansible_collections.rayfleet.cluster.plugins.module_utils.ray_unit import (
    host_units,
    node_labels,
    retired_units,
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
    memory, at most 95% of C(/dev/shm). The nodes of a host split into C(ray_gpu_nodes) share
    it, and its CPUs and memory, evenly, unless C(ray_num_cpus) or C(ray_memory) say; each
    listens on its own block of ports.
  - The companion filter C(ray_unit_environment) gives the unit's environment (auth, TLS,
    autoscaler, monitoring and GCS storage settings, then C(ray_environment)), from the
    plan, the node and its settings, with the keywords C(node_id), C(client) (the cluster's
    client environment), C(monitoring) (the cluster's entry of C(rayfleet_monitoring)),
    C(redis_ca_file) and C(gpu_devices) (by slot, the UUIDs of the GPUs each node of the host
    runs on; the node's own become its C(CUDA_VISIBLE_DEVICES)).
  - C(ray_node_labels) gives the node's Ray labels (C(ray_labels), C(rayfleet.io/cluster) and,
    on a split host, C(rayfleet.io/slot)), from the plan, the node and its settings.
  - C(ray_host_units) gives a host's nodes as systemd units, each with C(node), C(slot),
    C(service), C(unit_path), C(environment_file) and C(labels_file), from the plan, the host,
    C(ray_service_name) and Ray's configuration directory; C(ray_retired_units), given also the
    names of the unit files found in C(/etc/systemd/system), those of slots the host no longer
    has (a GPU host split into fewer nodes than before).
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
  vcpus:
    description: The host's logical CPUs, which the nodes of a split host share.
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
            "ray_node_labels": reading_the_plan(node_labels),
            "ray_host_units": reading_the_plan(host_units),
            "ray_retired_units": reading_the_plan(retired_units),
        }
