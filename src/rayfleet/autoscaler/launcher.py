"""Runs the join and leave playbooks on one pool host in a background thread.

A request must not wait minutes for a cold host, so each run gets a thread; its output
goes, line by line, to the provisioner's log (its unit's journal on the head).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.rayfleet.cluster.plugins.module_utils.names import JOIN_FINGERPRINT_VAR
from rayfleet.autoscaler import fast_join
from rayfleet.autoscaler.run_lock import ProvisionerRunLock, RunLockHeldError
from rayfleet.autoscaler.settings import ProviderSettings
from rayfleet.runner import run_playbook

logger = logging.getLogger(__name__)

JOIN_PLAYBOOK = "join.yml"
LEAVE_PLAYBOOK = "leave.yml"

# Called with the host and, when the run failed, why.
Outcome = Callable[[str, str | None], None]


class PlaybookLauncher:
    def __init__(self, settings: ProviderSettings, run_lock: ProvisionerRunLock) -> None:
        self._settings = settings
        self._run_lock = run_lock
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def start(self, playbook: str, host: str, outcome: Outcome, quick: bool = False) -> None:
        """Run ``playbook`` limited to ``host``; ``outcome`` is called when it ends. ``quick``:
        a join tries the host's quick join first (rayfleet.autoscaler.fast_join).

        Raises RunLockHeldError, starting nothing, while another run holds the cluster.
        """
        under = self._run_lock.acquire()
        thread = threading.Thread(
            target=self._run,
            args=(playbook, host, outcome, under, quick),
            name=f"rayfleet-{playbook.removesuffix('.yml')}-{host}",
            daemon=True,
        )
        with self._lock:
            self._threads[host] = thread
        thread.start()

    def holding(self) -> AbstractContextManager[str]:
        """The cluster's run lock while a request starts runs (RunLockHeldError if another's)."""
        return self._run_lock.held()

    def busy(self, host: str) -> bool:
        with self._lock:
            thread = self._threads.get(host)
            return thread is not None and thread.is_alive()

    def _run(self, playbook: str, host: str, outcome: Outcome, under: str, quick: bool) -> None:
        # The lock goes after the outcome, which may start the host's next run.
        try:
            outcome(host, self._play(playbook, host, under, quick))
        except RunLockHeldError as error:
            # Only a person breaking the provisioner's lock gets here.
            logger.error("rayfleet %s %s: the next run not started: %s", playbook, host, error)
        finally:
            self._run_lock.release()

    def _play(self, playbook: str, host: str, under: str, quick: bool = False) -> str | None:
        """Why the run failed, or None."""
        prefix = f"rayfleet {playbook} {host}:"
        # The provider records the host in its state itself; the run goes on under the
        # provisioner's hold on the cluster's run lock.
        extravars = {"rayfleet_pool_record": False, "rayfleet_run_lock_under": under}
        if playbook == JOIN_PLAYBOOK:
            tried = self._join_in_one_step(prefix, host, quick)
            if tried.done:
                return tried.error
            extravars.update(tried.extravars)
        logger.info("%s starting", prefix)
        try:
            result = run_playbook(
                playbook,
                [self._settings.inventory, self._settings.members_file],
                limit=host,
                extravars=extravars,
                ansible_config=self._settings.ansible_config,
                quiet=True,
                event_handler=_log_event(prefix),
                timeout_s=self._settings.playbook_timeout_s,
            )
        except Exception as error:
            logger.exception("%s could not run", prefix)
            return f"{playbook} could not run: {error}"
        if result.ok:
            logger.info("%s done, %d change(s)", prefix, result.changed)
            return None
        unreachable = result.stats.get("dark", {}).get(host)
        if result.status == "timeout":
            reason = f"cancelled after {self._settings.playbook_timeout_s} s"
        elif unreachable:
            reason = "unreachable"
        else:
            reason = f"{result.status}, rc {result.rc}"
        logger.warning("%s failed: %s", prefix, reason)
        return f"{playbook} failed: {reason}"

    def _join_in_one_step(self, prefix: str, host: str, quick: bool) -> QuickJoin:
        try:
            sealed_with = fast_join.fingerprint(self._settings)
        except OSError as error:
            logger.info(
                "%s the full join: no fingerprint of the provisioner's files: %s", prefix, error
            )
            return QuickJoin(done=False)
        # The full join seals the host with it, for its next join.
        full = QuickJoin(done=False, extravars={JOIN_FINGERPRINT_VAR: sealed_with})
        if not quick:
            logger.info("%s the full join: a re-check, or the host's last join failed", prefix)
            return full
        started = time.monotonic()
        try:
            refused = fast_join.join(self._settings, host, sealed_with)
        # Anything unforeseen, too: Ray may run there, so the join failed and the host leaves.
        except Exception as error:
            logger.warning("%s the quick join failed: %s", prefix, error)
            return QuickJoin(done=True, error=f"the quick join failed: {error}")
        if refused is not None:
            logger.info("%s the full join: %s", prefix, refused)
            return full
        logger.info(
            "%s joined in one step (rayfleet-ray-join), ALIVE after %.1f s",
            prefix,
            time.monotonic() - started,
        )
        return QuickJoin(done=True)


@dataclass(frozen=True)
class QuickJoin:
    """Where the quick join ended: done (with why it failed, if it did), or the full join is
    to run, with these extra variables."""

    done: bool
    error: str | None = None
    extravars: Mapping[str, Any] = field(default_factory=dict)


def _log_event(prefix: str) -> Callable[[dict[str, Any]], bool]:
    def handle(event: dict[str, Any]) -> bool:
        for line in str(event.get("stdout", "")).splitlines():
            if line.strip():
                logger.info("%s %s", prefix, line)
        return True

    return handle
