"""The provisioner's hold on its cluster's run lock while its playbook runs are under way.

Its runs (one per pool host, in parallel) share one holder record: the provisioner's
process. The first run to start takes the lock on the head, each later one renews its lease
(a run lasts at most the playbook timeout), and the last to end lets it go. The runs
themselves take nothing: they go on under this holder (``rayfleet_run_lock_under``). A
request holds the lock while it changes the state and starts runs, so that a run it starts
is never refused; while an operator's run holds it, the request starts nothing.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator

from ansible_collections.rayfleet.cluster.plugins.module_utils.run_lock import (
    RUN_LOCK_DIR,
    Holder,
    RunLockError,
    Verdict,
    change,
    gone_here,
    release,
    take,
    this_process,
)

logger = logging.getLogger(__name__)

# A run's lease outlasts its playbook timeout by this much: the time to start and cancel it.
LEASE_MARGIN_S = 300


class RunLockHeldError(Exception):
    """Another run holds the cluster's lock; the message names it."""


class ProvisionerRunLock:
    def __init__(self, playbook_timeout_s: float, directory: str = RUN_LOCK_DIR) -> None:
        self._directory = directory
        self._ttl_s = playbook_timeout_s + LEASE_MARGIN_S
        self._holder = this_process(f"rayfleet-provisioner on {socket.gethostname()}")
        self._runs = 0
        self._mutex = threading.Lock()

    @contextlib.contextmanager
    def held(self) -> Iterator[str]:
        """The lock for as long as the block runs: runs started in it cannot be refused."""
        holder = self.acquire()
        try:
            yield holder
        finally:
            self.release()

    def _take(self, current: Holder | None) -> Verdict:
        return take(
            current, self._holder, time.time(), self._ttl_s, gone=gone_here(self._holder.machine)
        )

    def acquire(self) -> str:
        """Hold the lock for one more run; the holder's id, for the run to go on under."""
        with self._mutex:
            try:
                verdict = change(self._directory, self._take)
            except (RunLockError, OSError) as error:
                raise RunLockHeldError(f"the run lock in {self._directory}: {error}") from error
            if verdict.refusal:
                raise RunLockHeldError(verdict.refusal)
            self._runs += 1
            return self._holder.id

    def release(self) -> None:
        """One run ended; the last one lets the lock go."""
        with self._mutex:
            self._runs -= 1
            if self._runs:
                return
            try:
                change(self._directory, lambda current: release(current, self._holder.id))
            except (RunLockError, OSError) as error:
                # Its lease runs out by itself.
                logger.warning("could not release the run lock in %s: %s", self._directory, error)
