"""Files that say who is in the cluster, rewritten on every change of the pool state."""

from __future__ import annotations

from rayfleet.autoscaler import fence, members_inventory, prometheus_targets
from rayfleet.autoscaler.settings import ProviderSettings
from rayfleet.autoscaler.state import PoolState


def publish(settings: ProviderSettings, state: PoolState, force: bool = False) -> None:
    """The members inventory, the members' Prometheus targets where the head has any, and
    the firewalls of the cluster's hosts, which let in the pool hosts that have joined
    (``force``: every host is told again, whatever it was told last)."""
    members_inventory.write(settings, state)
    prometheus_targets.write(settings, state)
    fence.sync(settings, state, force)
