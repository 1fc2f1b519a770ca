# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""The ``rayfleet`` section of the provider in Ray's autoscaling config, one record for both sides.

The ray role writes it on an autoscaling head (module_utils/autoscaling.py); rayfleet's node
provider and provisioner read it back (rayfleet.autoscaler.settings) through ``from_dict``.
Plain data: the package imports this module too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ansible_collections.rayfleet.cluster.plugins.module_utils.plain_data import plain

SECTION = "rayfleet"


@dataclass(frozen=True)
class ProviderNode:
    """A node as the provider knows it: its inventory name, Ray node type and address."""

    name: str
    node_type: str
    ip: str


@dataclass(frozen=True)
class MemberTargets:
    """Where the members' scrape targets go, and each pool host's target group per job."""

    dir: str
    targets: Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class FenceKey:
    """The key that runs rayfleet-fence on the cluster's hosts, and each host's SSH port."""

    key: str
    hosts: Mapping[str, int]


@dataclass(frozen=True)
class ProviderSection:
    # Holds the state, its lock, the members inventory and the playbook runs.
    state_dir: str
    # The ansible.cfg of the provisioner's runs: collection path, SSH key, host keys.
    ansible_config: str
    # The provisioner's Unix socket, where the provider asks for launches and terminations.
    socket: str
    # The provider's inventory of the cluster (head and pool).
    inventory: str
    head: ProviderNode
    pool: tuple[ProviderNode, ...]
    # A failed join keeps a host out this long, doubling up to the most (the role's
    # ray_autoscaler_quarantine_s and ray_autoscaler_quarantine_max_s).
    quarantine_base_s: float
    quarantine_max_s: float
    # ray_autoscaler_playbook_timeout_s: a join or leave run past it is cancelled.
    playbook_timeout_s: int
    # Static workers: always in, never launched or terminated.
    static: tuple[ProviderNode, ...] = ()
    # The head's dashboard, where a pool host's quick join waits for its node to be ALIVE,
    # for up to start_timeout_s (the head's ray_start_timeout); "": every join is full.
    dashboard_url: str = ""
    start_timeout_s: int = 0
    # None: the cluster is not monitored.
    prometheus: MemberTargets | None = None
    # None: no host of the cluster runs rayfleet's firewall.
    fence: FenceKey | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for YAML: dicts and lists; no key for what is None."""
        data: dict[str, Any] = plain(self)
        return {key: value for key, value in data.items() if value is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProviderSection:
        prometheus = data.get("prometheus")
        fence = data.get("fence")
        return cls(
            state_dir=str(data["state_dir"]),
            ansible_config=str(data["ansible_config"]),
            socket=str(data["socket"]),
            inventory=str(data["inventory"]),
            head=ProviderNode(**data["head"]),
            pool=tuple(ProviderNode(**node) for node in data["pool"]),
            static=tuple(ProviderNode(**node) for node in data.get("static", ())),
            dashboard_url=str(data.get("dashboard_url", "")),
            start_timeout_s=int(data.get("start_timeout_s", 0)),
            quarantine_base_s=float(data["quarantine_base_s"]),
            quarantine_max_s=float(data["quarantine_max_s"]),
            playbook_timeout_s=int(data["playbook_timeout_s"]),
            prometheus=MemberTargets(prometheus["dir"], prometheus["targets"])
            if prometheus
            else None,
            fence=FenceKey(fence["key"], {name: int(port) for name, port in fence["hosts"].items()})
            if fence
            else None,
        )
