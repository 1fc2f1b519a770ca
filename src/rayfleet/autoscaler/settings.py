"""The provider's settings: the autoscaling config's ``rayfleet`` section, as the head role
renders it (module_utils/provider_section.py, shared with the collection), read for use."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ansible_collections.rayfleet.cluster.plugins.module_utils.provider_section import (
    SECTION,
    ProviderSection,
)
from rayfleet.autoscaler.state import PoolHost, QuarantinePolicy


@dataclass(frozen=True)
class FixedNode:
    """The head or a static worker: always in the cluster, never launched or terminated."""

    name: str
    node_type: str
    ip: str
    is_head: bool


@dataclass(frozen=True)
class FenceSettings:
    """The key that runs rayfleet-fence on the cluster's hosts, and each host's SSH port."""

    key: Path
    hosts: Mapping[str, int]


@dataclass(frozen=True)
class ProviderSettings:
    cluster: str
    # Holds the state, its lock, the members inventory and the playbook runs.
    state_dir: Path
    # The ansible.cfg of the provisioner's runs: collection path, SSH key, host keys.
    ansible_config: Path
    # The provisioner's Unix socket, where the provider asks for launches and terminations.
    socket: Path
    # The provider's inventory of the cluster (head and pool) and the members file.
    inventory: Path
    fixed: tuple[FixedNode, ...]
    pool: tuple[PoolHost, ...]
    quarantine: QuarantinePolicy
    # Where the members' Prometheus targets go (None: the cluster is not monitored), and
    # each pool host's target group per scrape job.
    prometheus_dir: Path | None = None
    prometheus_targets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # None: no host of the cluster runs rayfleet's firewall.
    fence: FenceSettings | None = None

    @property
    def members_file(self) -> Path:
        return self.state_dir / "members.yml"

    @classmethod
    def from_provider_config(
        cls, provider_config: Mapping[str, Any], cluster: str
    ) -> ProviderSettings:
        section = ProviderSection.from_dict(provider_config[SECTION])
        head = section.head
        return cls(
            cluster=cluster,
            state_dir=Path(section.state_dir),
            ansible_config=Path(section.ansible_config),
            socket=Path(section.socket),
            inventory=Path(section.inventory),
            fixed=(
                FixedNode(head.name, head.node_type, head.ip, is_head=True),
                *(
                    FixedNode(node.name, node.node_type, node.ip, is_head=False)
                    for node in section.static
                ),
            ),
            pool=tuple(PoolHost(host.name, host.node_type, host.ip) for host in section.pool),
            prometheus_dir=Path(section.prometheus.dir) if section.prometheus else None,
            prometheus_targets=section.prometheus.targets if section.prometheus else {},
            fence=FenceSettings(Path(section.fence.key), section.fence.hosts)
            if section.fence
            else None,
            quarantine=QuarantinePolicy(section.quarantine_base_s, section.quarantine_max_s),
        )
