"""Files that say who is in the cluster, rewritten on every change of the pool state."""

from __future__ import annotations

import time
from collections.abc import Callable

from rayfleet.autoscaler import fence, members_inventory, prometheus_targets
from rayfleet.autoscaler.settings import ProviderSettings
from rayfleet.autoscaler.state import PoolState, StateStore, rebuild


def pool_store(
    settings: ProviderSettings, rebuild: Callable[[], PoolState] | None = None
) -> StateStore:
    """The pool's state, publishing each change; if corrupt, rebuilt by ``rebuild``, by
    default from the members file (``rebuilt``)."""
    return StateStore(
        settings.state_dir,
        on_change=lambda state: publish(settings, state),
        rebuild=rebuild or (lambda: rebuilt(settings)),
    )


def rebuilt(settings: ProviderSettings) -> PoolState:
    """The state as the members inventory (written with every change) last told it."""
    try:
        text = settings.members_file.read_text()
    except (OSError, UnicodeDecodeError):
        text = ""
    return rebuild(settings.pool, members_inventory.joined(text), time.time())


def publish(settings: ProviderSettings, state: PoolState, force: bool = False) -> None:
    """The members inventory, the members' Prometheus targets where the head has any, and
    the firewalls of the cluster's hosts, which let in the pool hosts that have joined
    (``force``: every host is told again, whatever it was told last)."""
    members_inventory.write(settings, state)
    prometheus_targets.write(settings, state)
    fence.sync(settings, state, force)
