"""Files that say who is in the cluster, rewritten on every change of the pool state."""

from __future__ import annotations

from rayfleet.autoscaler import members_inventory, prometheus_targets
from rayfleet.autoscaler.settings import ProviderSettings
from rayfleet.autoscaler.state import PoolState


def publish(settings: ProviderSettings, state: PoolState) -> None:
    """The members inventory, and the members' Prometheus targets where the head has any."""
    members_inventory.write(settings, state)
    prometheus_targets.write(settings, state)
