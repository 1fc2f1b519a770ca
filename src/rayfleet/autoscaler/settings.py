"""The provider's settings: the autoscaling config's ``rayfleet`` section, as the head role
renders it (module_utils/provider_section.py, shared with the collection), read for use."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from ansible_collections.rayfleet.cluster.plugins.module_utils.provider_section import (
    SECTION,
    FenceKey,
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
class ProviderSettings:
    """The provider's section read for use: paths as paths, the fixed nodes head first."""

    cluster: str
    section: ProviderSection

    @classmethod
    def from_provider_config(
        cls, provider_config: Mapping[str, Any], cluster: str
    ) -> ProviderSettings:
        return cls(cluster, ProviderSection.from_dict(provider_config[SECTION]))

    @property
    def state_dir(self) -> Path:
        """Holds the state, its lock, the members inventory and the playbook runs."""
        return Path(self.section.state_dir)

    @property
    def known_hosts(self) -> Path:
        """The pool hosts' SSH keys, recorded on first contact: the provisioner's playbook runs
        (its ansible.cfg) and its own SSH calls check them."""
        return self.state_dir / "known_hosts"

    @property
    def ansible_config(self) -> Path:
        return Path(self.section.ansible_config)

    @property
    def socket(self) -> Path:
        return Path(self.section.socket)

    @property
    def inventory(self) -> Path:
        return Path(self.section.inventory)

    @property
    def members_file(self) -> Path:
        return self.state_dir / "members.yml"

    @cached_property
    def fixed(self) -> tuple[FixedNode, ...]:
        head = self.section.head
        return (
            FixedNode(head.name, head.node_type, head.ip, is_head=True),
            *(
                FixedNode(node.name, node.node_type, node.ip, is_head=False)
                for node in self.section.static
            ),
        )

    @cached_property
    def pool(self) -> tuple[PoolHost, ...]:
        return tuple(PoolHost(host.name, host.node_type, host.ip) for host in self.section.pool)

    @cached_property
    def quarantine(self) -> QuarantinePolicy:
        return QuarantinePolicy(self.section.quarantine_base_s, self.section.quarantine_max_s)

    @property
    def playbook_timeout_s(self) -> int:
        return self.section.playbook_timeout_s

    @property
    def prometheus_dir(self) -> Path | None:
        """Where the members' scrape targets go; None: the cluster is not monitored."""
        return Path(self.section.prometheus.dir) if self.section.prometheus else None

    @property
    def prometheus_targets(self) -> Mapping[str, Mapping[str, Any]]:
        """Each pool host's target group per scrape job."""
        return self.section.prometheus.targets if self.section.prometheus else {}

    @property
    def fence(self) -> FenceKey | None:
        """None: no host of the cluster runs rayfleet's firewall."""
        return self.section.fence
