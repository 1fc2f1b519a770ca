"""Ray's node provider for a pool of spare hosts, provisioned with rayfleet's playbooks.

Ray loads it from the autoscaling config the head role writes::

    provider:
      type: external
      module: rayfleet.autoscaler.provider.AnsibleNodeProvider

Node ids are inventory host names. The head and static workers are reported as nodes
that always run (Ray's autoscaler forgets the load of any node its provider does not
list); pool hosts are reported while they are launching or running.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from ray.autoscaler.node_provider import NodeProvider
from ray.autoscaler.tags import (
    NODE_KIND_HEAD,
    NODE_KIND_WORKER,
    STATUS_SETTING_UP,
    STATUS_UP_TO_DATE,
    TAG_RAY_NODE_KIND,
    TAG_RAY_NODE_NAME,
    TAG_RAY_NODE_STATUS,
    TAG_RAY_USER_NODE_TYPE,
)

from rayfleet.autoscaler import membership
from rayfleet.autoscaler.launcher import JOIN_PLAYBOOK, LEAVE_PLAYBOOK, PlaybookLauncher
from rayfleet.autoscaler.settings import ProviderSettings
from rayfleet.autoscaler.state import (
    HostRecord,
    LaunchRequest,
    PoolState,
    StateStore,
    Status,
    allocate,
    mark_failed,
    mark_free,
    mark_launching,
    mark_running,
    mark_terminating,
    members,
    set_tags,
    unfinished,
)

logger = logging.getLogger(__name__)

# Ray may build the provider more than once in one process (config reloads): the
# playbook threads of one state directory are shared, so no host runs two at a time.
_LAUNCHERS: dict[Path, PlaybookLauncher] = {}
_LAUNCHERS_LOCK = threading.Lock()


class AnsibleNodeProvider(NodeProvider):
    def __init__(self, provider_config: dict[str, Any], cluster_name: str) -> None:
        super().__init__(provider_config, cluster_name)
        self.settings = ProviderSettings.from_provider_config(provider_config, cluster_name)
        self._fixed = {node.name: node for node in self.settings.fixed}
        self._pool = {host.name: host for host in self.settings.pool}
        self.store = StateStore(
            self.settings.state_dir,
            on_change=lambda state: membership.publish(self.settings, state),
        )
        with _LAUNCHERS_LOCK:
            self.launcher = _LAUNCHERS.setdefault(
                self.settings.state_dir, PlaybookLauncher(self.settings)
            )
        self._reconcile()
        # The files may predate this head's settings (monitoring turned on, say).
        membership.publish(self.settings, self.store.read())

    # --- What Ray reads (v2 calls these from several threads at once) -------------

    def non_terminated_nodes(self, tag_filters: dict[str, str]) -> list[str]:
        state = self.store.read()
        pool_nodes = [node for node, host in members(state).items() if host in self._pool]
        return [
            node
            for node in [*self._fixed, *pool_nodes]
            if all(self._tags(node, state).get(key) == value for key, value in tag_filters.items())
        ]

    def is_running(self, node_id: str) -> bool:
        if node_id in self._fixed:
            return True
        record = self._record(node_id, self.store.read())
        return record is not None and record.status is Status.RUNNING

    def is_terminated(self, node_id: str) -> bool:
        return node_id not in self._fixed and self._record(node_id, self.store.read()) is None

    def node_tags(self, node_id: str) -> dict[str, str]:
        return self._tags(node_id, self.store.read())

    def internal_ip(self, node_id: str) -> str:
        fixed = self._fixed.get(node_id)
        if fixed is not None:
            return fixed.ip
        return self._pool[self._host(node_id, self.store.read())].ip

    def external_ip(self, node_id: str) -> str:
        return self.internal_ip(node_id)

    # --- What Ray asks for -----------------------------------------------------------

    def create_node(
        self, node_config: dict[str, Any], tags: dict[str, str], count: int
    ) -> dict[str, Any]:
        node_type = tags.get(TAG_RAY_USER_NODE_TYPE, "")
        chosen = self.store.change(
            lambda state: allocate(
                state, self.settings.pool, LaunchRequest(node_type, count, tags), time.time()
            )
        )
        if len(chosen) < count:
            logger.warning(
                "rayfleet: %d node(s) of type %r requested, %d free in the pool",
                count,
                node_type,
                len(chosen),
            )
        state = self.store.read()
        for host in chosen:
            logger.info(
                "rayfleet: %s joins as node %s of type %s", host, state[host].node_id, node_type
            )
            self.launcher.start(JOIN_PLAYBOOK, host, self._joined)
        return {state[host].node_id: self._tags(state[host].node_id, state) for host in chosen}

    def set_node_tags(self, node_id: str, tags: dict[str, str]) -> None:
        if node_id in self._fixed:
            return
        self.store.change(lambda state: (set_tags(state, self._host(node_id, state), tags), None))

    def terminate_node(self, node_id: str) -> None:
        if node_id in self._fixed:
            logger.warning("rayfleet: %s is not a pool host; it is not terminated", node_id)
            return
        host = self.store.change(lambda state: _begin_termination(state, node_id))
        if host is None:
            return
        logger.info("rayfleet: %s (node %s) leaves the cluster", host, node_id)
        # A join still running ends first; its outcome starts the leave.
        if not self.launcher.busy(host):
            self.launcher.start(LEAVE_PLAYBOOK, host, self._left)

    # --- Playbook outcomes -----------------------------------------------------------

    def _joined(self, host: str, error: str | None) -> None:
        now = time.time()

        def transition(state: PoolState) -> tuple[PoolState, tuple[Status | None, list[str]]]:
            record = state.get(host)
            if record is None or record.status is not Status.LAUNCHING:
                return state, (record.status if record else None, [])
            if error is None:
                return mark_running(state, host, now), (Status.RUNNING, [])
            # Another free host of the type takes over the launch at once, under the same
            # request: autoscaler v2 sees a failure only as a node that never shows up.
            failed = mark_failed(state, host, error, now, self.settings.quarantine)
            request = LaunchRequest(self._pool[host].node_type, 1, record.tags)
            replaced, chosen = allocate(failed, self.settings.pool, request, now)
            return replaced, (Status.QUARANTINED, chosen)

        status, replacements = self.store.change(transition)
        if status is Status.TERMINATING:
            self.launcher.start(LEAVE_PLAYBOOK, host, self._left)
        elif status is Status.QUARANTINED:
            logger.warning("rayfleet: %s quarantined: %s", host, error)
        for replacement in replacements:
            logger.info("rayfleet: %s takes over the launch of %s", replacement, host)
            self.launcher.start(JOIN_PLAYBOOK, replacement, self._joined)

    def _left(self, host: str, error: str | None) -> None:
        now = time.time()
        if error is None:
            self.store.change(lambda state: (mark_free(state, host, now), None))
            logger.info("rayfleet: %s is back in the pool", host)
        else:
            self.store.change(
                lambda state: (mark_failed(state, host, error, now, self.settings.quarantine), None)
            )
            logger.warning("rayfleet: %s quarantined: %s", host, error)

    # --- Internals -------------------------------------------------------------------

    def _reconcile(self) -> None:
        """Re-check every host a previous autoscaler left launching, running or leaving.

        The join playbook is idempotent: on a host that is fine it changes nothing and
        confirms the node is ALIVE; on a host a crash left half-joined it finishes the job.
        """
        now = time.time()
        leaving, joining = self.store.change(lambda state: _restart_unfinished(state, now))
        for host in leaving:
            logger.info("rayfleet: %s was leaving before this autoscaler; leaving again", host)
            self.launcher.start(LEAVE_PLAYBOOK, host, self._left)
        for host in joining:
            logger.info("rayfleet: %s was a member before this autoscaler; re-checking", host)
            self.launcher.start(JOIN_PLAYBOOK, host, self._joined)

    @staticmethod
    def _record(node_id: str, state: PoolState) -> HostRecord | None:
        host = members(state).get(node_id)
        return state[host] if host is not None else None

    @staticmethod
    def _host(node_id: str, state: PoolState) -> str:
        host = members(state).get(node_id)
        if host is None:
            raise KeyError(f"rayfleet: no pool host is node {node_id}")
        return host

    def _tags(self, node_id: str, state: PoolState) -> dict[str, str]:
        fixed = self._fixed.get(node_id)
        if fixed is not None:
            return {
                TAG_RAY_NODE_KIND: NODE_KIND_HEAD if fixed.is_head else NODE_KIND_WORKER,
                TAG_RAY_USER_NODE_TYPE: fixed.node_type,
                TAG_RAY_NODE_STATUS: STATUS_UP_TO_DATE,
                TAG_RAY_NODE_NAME: node_id,
            }
        host = members(state).get(node_id)
        if host is None:
            return {}
        record = state[host]
        running = record.status is Status.RUNNING
        return {
            **record.tags,
            TAG_RAY_NODE_KIND: NODE_KIND_WORKER,
            TAG_RAY_USER_NODE_TYPE: self._pool[host].node_type,
            TAG_RAY_NODE_STATUS: STATUS_UP_TO_DATE if running else STATUS_SETTING_UP,
            TAG_RAY_NODE_NAME: host,
        }


def _restart_unfinished(
    state: PoolState, now: float
) -> tuple[PoolState, tuple[list[str], list[str]]]:
    """Hosts to leave again and hosts to join again; the latter are marked launching."""
    leaving = [host for host in unfinished(state) if state[host].status is Status.TERMINATING]
    joining = [host for host in unfinished(state) if host not in leaving]
    for host in joining:
        state = mark_launching(state, host, now)
    return state, (leaving, joining)


def _begin_termination(state: PoolState, node_id: str) -> tuple[PoolState, str | None]:
    """The host that is node ``node_id``, now leaving; None if it is no member."""
    host = members(state).get(node_id)
    if host is None:
        return state, None
    return mark_terminating(state, host, time.time()), host
