"""The provisioner: the one process that changes pool hosts, on the node provider's requests.

It runs on an autoscaling head as its own system user, which alone holds the SSH key that
reaches the pool hosts, the pool state and the members inventory. The node provider, inside
Ray's monitor, runs as ray like every job: it reads the state, and asks through a Unix
socket for "a node of type T", "node N leaves", or new tags, which the provisioner checks
against the pool (rayfleet.autoscaler.requests) before it chooses hosts and runs playbooks.

    python -m rayfleet.autoscaler.provisioner --config /etc/rayfleet/autoscaler/autoscaling.yaml
"""

from __future__ import annotations

import argparse
import grp
import json
import logging
import os
import socketserver
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

import yaml

from rayfleet.autoscaler import membership
from rayfleet.autoscaler.launcher import JOIN_PLAYBOOK, LEAVE_PLAYBOOK, Outcome, PlaybookLauncher
from rayfleet.autoscaler.requests import (
    MAX_REQUEST_BYTES,
    Create,
    ReadState,
    Request,
    RequestError,
    SetTags,
    Terminate,
    decode,
)
from rayfleet.autoscaler.run_lock import ProvisionerRunLock, RunLockHeldError
from rayfleet.autoscaler.settings import ProviderSettings
from rayfleet.autoscaler.state import (
    LaunchRequest,
    PoolState,
    Status,
    allocate,
    encode,
    leaves_due,
    mark_join_failed,
    mark_launching,
    mark_leave_due,
    mark_leave_failed,
    mark_left,
    mark_running,
    mark_terminating,
    members,
    set_tags,
    unfinished,
)

logger = logging.getLogger(__name__)


class Launcher(Protocol):
    def start(self, playbook: str, host: str, outcome: Outcome, quick: bool = False) -> None: ...

    def busy(self, host: str) -> bool: ...

    def holding(self) -> AbstractContextManager[str]: ...


class Provisioner:
    """Pool state transitions and the playbook runs they start."""

    def __init__(self, settings: ProviderSettings, launcher: Launcher) -> None:
        self.settings = settings
        self.launcher = launcher
        self._pool = {host.name: host for host in settings.pool}
        self.node_types = dict(Counter(host.node_type for host in settings.pool))
        self.store = membership.pool_store(settings, rebuild=self._rebuild)
        # Set when a corrupt state file was rebuilt: its joined and leaving hosts are
        # re-checked after the request at hand, as at a start.
        self._rebuilt = False
        self._rebuilt_lock = threading.Lock()
        # The files may predate this head's settings (monitoring turned on, say), and a
        # host's firewall its last reload: all of them again, before any playbook runs.
        self.store.with_lock(lambda state: membership.publish(settings, state, force=True))
        # A start re-checks them anyway.
        self._rebuilt = False
        self._reconcile()

    def handle(self, request: Request) -> dict[str, Any]:
        answer = self._answer(request)
        with self._rebuilt_lock:
            rebuilt, self._rebuilt = self._rebuilt, False
        if rebuilt:
            self._reconcile()
        # Ray's autoscaler asks every round: the provisioner needs no clock of its own.
        self._retry_leaves()
        return answer

    def _answer(self, request: Request) -> dict[str, Any]:
        if isinstance(request, Create):
            return {"nodes": self.create(request)}
        if isinstance(request, ReadState):
            return {"state": encode(self.store.read())}
        if isinstance(request, Terminate):
            self.terminate(request.node_id)
        else:
            self.set_tags(request)
        return {}

    def _rebuild(self) -> PoolState:
        with self._rebuilt_lock:
            self._rebuilt = True
        return membership.rebuilt(self.settings)

    def create(self, request: Create) -> list[str]:
        """Node ids of the hosts chosen for the request, each now joining."""
        try:
            with self.launcher.holding():
                return self._launch(request)
        except RunLockHeldError as error:
            # Ray's autoscaler asks again next round.
            logger.warning(
                "rayfleet: no node of type %r launched now: %s", request.node_type, error
            )
            return []

    def _launch(self, request: Create) -> list[str]:
        launch = LaunchRequest(request.node_type, request.count, dict(request.tags))
        chosen = self.store.change(
            lambda state: allocate(state, self.settings.pool, launch, time.time())
        )
        if len(chosen) < request.count:
            logger.warning(
                "rayfleet: %d node(s) of type %r requested, %d free in the pool",
                request.count,
                request.node_type,
                len(chosen),
            )
        state = self.store.read()
        for host in chosen:
            logger.info(
                "rayfleet: %s joins as node %s of type %s",
                host,
                state[host].node_id,
                request.node_type,
            )
            self._join(host, state)
        return [state[host].node_id for host in chosen]

    def _join(self, host: str, state: PoolState) -> None:
        # A host whose last join failed takes the full join: a quick one would only try the
        # same start again, while the full join renders, installs and checks anew.
        self.launcher.start(JOIN_PLAYBOOK, host, self._joined, quick=state[host].failures == 0)

    def terminate(self, node_id: str) -> None:
        host = self.store.change(lambda state: _begin_termination(state, node_id))
        if host is None:
            logger.warning("rayfleet: node %s is no pool member; nothing leaves", node_id)
            return
        logger.info("rayfleet: %s (node %s) leaves the cluster", host, node_id)
        # A join still running ends first; its outcome starts the leave.
        if self.launcher.busy(host):
            return
        try:
            self.launcher.start(LEAVE_PLAYBOOK, host, self._left)
        except RunLockHeldError as error:
            # Due at once: the first request after the lock is free starts it.
            reason = str(error)
            self.store.change(lambda state: _new(mark_leave_due(state, host, time.time(), reason)))
            logger.warning(
                "rayfleet: %s leaves once the cluster's run lock is free: %s", host, reason
            )

    def set_tags(self, request: SetTags) -> None:
        def transition(state: PoolState) -> tuple[PoolState, None]:
            host = members(state).get(request.node_id)
            if host is None:
                raise RequestError(f"node {request.node_id} is no pool member")
            return set_tags(state, host, dict(request.tags)), None

        self.store.change(transition)

    # --- Playbook outcomes -----------------------------------------------------------

    def _joined(self, host: str, error: str | None) -> None:
        now = time.time()

        def transition(state: PoolState) -> tuple[PoolState, tuple[Status | None, list[str]]]:
            record = state.get(host)
            if record is None or record.status is not Status.LAUNCHING:
                return state, (record.status if record else None, [])
            if error is None:
                return mark_running(state, host, now), (Status.RUNNING, [])
            # The join may have started Ray before it failed: the host leaves first, and is
            # quarantined once it has. Another free host of the type takes over the launch
            # at once, under the same request: autoscaler v2 sees a failure only as a node
            # that never shows up.
            failed = mark_join_failed(state, host, error, now)
            request = LaunchRequest(self._pool[host].node_type, 1, record.tags)
            replaced, chosen = allocate(failed, self.settings.pool, request, now)
            return replaced, (Status.TERMINATING, chosen)

        status, replacements = self.store.change(transition)
        if error is not None and status is Status.TERMINATING:
            logger.warning("rayfleet: %s failed to join (%s); it leaves", host, error)
        if status is Status.TERMINATING:
            self.launcher.start(LEAVE_PLAYBOOK, host, self._left)
        state = self.store.read()
        for replacement in replacements:
            logger.info("rayfleet: %s takes over the launch of %s", replacement, host)
            self._join(replacement, state)

    def _left(self, host: str, error: str | None) -> None:
        now = time.time()
        policy = self.settings.quarantine
        if error is None:
            state = self.store.change(lambda state: _new(mark_left(state, host, now, policy)))
            if state[host].status is Status.QUARANTINED:
                logger.warning("rayfleet: %s left; quarantined: %s", host, state[host].last_error)
            else:
                logger.info("rayfleet: %s is back in the pool", host)
        else:
            state = self.store.change(
                lambda state: _new(mark_leave_failed(state, host, error, now, policy))
            )
            logger.warning(
                "rayfleet: %s failed to leave (%s); it stays leaving, tried again in %.0f s",
                host,
                error,
                state[host].retry_at - now,
            )

    def _retry_leaves(self) -> None:
        """Start again the failed leaves whose backoff is over."""
        due = [
            host
            for host in leaves_due(self.store.read(), time.time())
            if not self.launcher.busy(host)
        ]
        if not due:
            return
        try:
            with self.launcher.holding():
                for host in due:
                    logger.info("rayfleet: %s leaves again", host)
                    self.launcher.start(LEAVE_PLAYBOOK, host, self._left)
        except RunLockHeldError:
            # Still due: the next request tries again.
            return

    def _reconcile(self) -> None:
        """Re-check every host a previous provisioner left launching, running or leaving.

        The join playbook is idempotent: on a host that is fine it changes nothing and
        confirms the node is ALIVE; on a host a crash left half-joined it finishes the job.
        """
        try:
            with self.launcher.holding():
                self._restart_runs()
        except RunLockHeldError as error:
            logger.warning("rayfleet: pool hosts re-checked once the run lock is free: %s", error)
            with self._rebuilt_lock:
                self._rebuilt = True

    def _restart_runs(self) -> None:
        now = time.time()
        leaving, joining = self.store.change(lambda state: _restart_unfinished(state, now))
        for host in leaving:
            logger.info("rayfleet: %s was leaving before this provisioner; leaving again", host)
            self.launcher.start(LEAVE_PLAYBOOK, host, self._left)
        for host in joining:
            logger.info("rayfleet: %s was a member before this provisioner; re-checking", host)
            self.launcher.start(JOIN_PLAYBOOK, host, self._joined)


def _new(state: PoolState) -> tuple[PoolState, PoolState]:
    """A transition that also answers with the state it made."""
    return state, state


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


# --- The socket ----------------------------------------------------------------------

# A request's line, with room for its newline (requests.decode checks the size).
MAX_LINE = MAX_REQUEST_BYTES + 1


class _Connection(socketserver.StreamRequestHandler):
    """One request, one answer: a JSON line each way."""

    server: ProvisionerServer
    # A client that sends nothing does not hold its thread for long.
    timeout = 10

    def handle(self) -> None:
        provisioner = self.server.provisioner
        try:
            line = self.rfile.readline(MAX_LINE)
        except TimeoutError:
            return
        try:
            answer = provisioner.handle(decode(line, provisioner.node_types))
        except RequestError as error:
            logger.warning("rayfleet: refused a request: %s", error)
            answer = {"error": str(error)}
        self.wfile.write(json.dumps(answer).encode() + b"\n")


class ProvisionerServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, socket_path: Path, provisioner: Provisioner, client_group: str) -> None:
        socket_path.unlink(missing_ok=True)
        self.provisioner = provisioner
        super().__init__(str(socket_path), _Connection)
        # The node provider connects as a member of client_group (ray); nobody else may.
        os.chown(socket_path, -1, grp.getgrnam(client_group).gr_gid)
        os.chmod(socket_path, 0o660)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, required=True, help="Ray's autoscaling config")
    parser.add_argument("--client-group", default="ray", help="the group the provider runs as")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = yaml.safe_load(args.config.read_text())
    settings = ProviderSettings.from_provider_config(config["provider"], config["cluster_name"])
    run_lock = ProvisionerRunLock(settings.playbook_timeout_s)
    provisioner = Provisioner(settings, PlaybookLauncher(settings, run_lock))
    with ProvisionerServer(settings.socket, provisioner, args.client_group) as server:
        logger.info("rayfleet: provisioner of cluster %s on %s", settings.cluster, settings.socket)
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
