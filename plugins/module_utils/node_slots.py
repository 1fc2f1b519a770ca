# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""A host that runs several Ray nodes: each node's slot, name and port block.

A GPU host may be split into ``ray_gpu_nodes`` Ray nodes (module_utils/gpu_nodes.py pins
each to its GPUs). Slot 0 is the host's own node, named after the host, with the ports the
host's settings give; slot k adds k times ``ray_gpu_node_port_step`` to every listener's
port, takes the k-th equal share of the worker port range, keeps its Ray sessions in
``<ray_temp_dir>/slot-<k>`` and is named ``<host>/<k>``. Ray 2.60 binds these ports on every
interface, so two nodes of one host must never share one; and a node names its sockets by
what its session directory already holds, so two nodes starting at once in one directory
can pick the same socket and one of them dies.

Pure functions of the host's ray_* settings; no Ansible imports, so pytest imports them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.module_utils.parsing.convert_bool import boolean

# Every listener of a Ray node (a head's GCS, dashboard and client server are the head's own).
NODE_PORTS = (
    "ray_node_manager_port",
    "ray_object_manager_port",
    "ray_metrics_export_port",
    "ray_dashboard_agent_listen_port",
    "ray_dashboard_agent_grpc_port",
    "ray_runtime_env_agent_port",
)
WORKER_PORTS = ("ray_min_worker_port", "ray_max_worker_port")
# The Ray label that tells a host's nodes apart: they share its address.
SLOT_LABEL = "rayfleet.io/slot"


def node_count(settings: Mapping[str, Any]) -> int:
    """How many Ray nodes the host runs: ray_gpu_nodes on a GPU host, else one."""
    if not boolean(settings.get("ray_gpu") or False):
        return 1
    return int(settings.get("ray_gpu_nodes") or 1)


def slot_name(host: str, slot: int) -> str:
    """The name of the host's node in ``slot``: the host's own for slot 0."""
    return host if slot == 0 else f"{host}/{slot}"


def slot_settings(settings: Mapping[str, Any], slot: int) -> dict[str, Any]:
    """The host's settings as the node in ``slot`` of ``node_count(settings)`` runs them.

    Its listeners move by ``slot * ray_gpu_node_port_step``; the worker port range is cut
    into equal blocks, one per node; slots but the first keep their sessions in a directory
    of their own under the host's.
    """
    count = node_count(settings)
    if count == 1:
        return dict(settings)
    step = int(settings["ray_gpu_node_port_step"])
    low, high = int(settings["ray_min_worker_port"]), int(settings["ray_max_worker_port"])
    block = (high - low + 1) // count
    return {
        **settings,
        **{name: int(settings[name]) + slot * step for name in NODE_PORTS},
        "ray_min_worker_port": low + slot * block,
        "ray_max_worker_port": low + (slot + 1) * block - 1,
        **({"ray_temp_dir": f"{settings['ray_temp_dir']}/slot-{slot}"} if slot else {}),
    }


def host_ports(settings: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, int]:
    """The ports ``names`` take on the host, over all its nodes, each by what sets it."""
    ports = {name: settings[name] for name in names}
    for slot in range(1, node_count(settings)):
        moved = slot_settings(settings, slot)
        ports |= {
            f"{name} + {slot} x ray_gpu_node_port_step": moved[name]
            for name in names
            if name in NODE_PORTS
        }
    return ports
