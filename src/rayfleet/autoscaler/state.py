"""The pool's state on the head: which spare host is free, launching, running or quarantined.

Every change happens under an exclusive file lock and is written atomically (a temporary
file renamed over the old one), so the autoscaler, a manual join or leave and a crash at
any point leave one consistent file. A file that is not one (a disk fault, a hand edit) is
set aside for inspection and the state rebuilt (``rebuild``), never a crash. The pure
transitions take and return plain values so that tests drive them without a cluster.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

STATE_FILE = "state.json"
LOCK_FILE = "state.lock"
FORMAT_VERSION = 1
T = TypeVar("T")
logger = logging.getLogger(__name__)


class CorruptStateError(ValueError):
    """The state file holds no pool state of this format."""


class Status(str, Enum):
    """Where a pool host is in its life cycle."""

    FREE = "free"
    LAUNCHING = "launching"
    RUNNING = "running"
    TERMINATING = "terminating"
    QUARANTINED = "quarantined"


# Hosts the autoscaler counts as nodes of the cluster (Ray's "non-terminated").
MEMBER_STATUSES = frozenset({Status.LAUNCHING, Status.RUNNING})


@dataclass(frozen=True)
class PoolHost:
    """A spare host as the inventory declares it."""

    name: str
    node_type: str
    ip: str


@dataclass(frozen=True)
class HostRecord:
    """What the state knows about one pool host."""

    status: Status = Status.FREE
    # The node id Ray knows this host by while it is a member: one per allocation, never
    # reused (autoscaler v2 keeps terminated ids), and the raylet's RAY_CLOUD_INSTANCE_ID.
    node_id: str = ""
    allocations: int = 0
    tags: Mapping[str, str] = field(default_factory=dict)
    # Consecutive failed launches; the quarantine doubles with each.
    failures: int = 0
    quarantined_until: float = 0.0
    last_error: str = ""
    changed_at: float = 0.0
    # A leave that failed is run again at this time (0: none due). The host stays leaving
    # meanwhile, never free while Ray may still run there.
    retry_at: float = 0.0
    # It leaves because its join failed: once Ray is stopped there, quarantined, not free.
    failed_join: bool = False


@dataclass(frozen=True)
class QuarantinePolicy:
    """Backoff of a host whose launch failed: base * 2**(failures - 1), at most maximum."""

    base_s: float
    maximum_s: float

    def duration(self, failures: int) -> float:
        return float(min(self.maximum_s, self.base_s * 2 ** max(0, failures - 1)))


PoolState = dict[str, HostRecord]


@dataclass(frozen=True)
class LaunchRequest:
    """Ray's request: ``count`` nodes of ``node_type``, carrying ``tags``."""

    node_type: str
    count: int
    tags: Mapping[str, str] = field(default_factory=dict)


def is_available(record: HostRecord, now: float) -> bool:
    """Free, or quarantined and its backoff is over."""
    if record.status is Status.FREE:
        return True
    return record.status is Status.QUARANTINED and record.quarantined_until <= now


def allocate(
    state: PoolState,
    pool: Sequence[PoolHost],
    request: LaunchRequest,
    now: float,
) -> tuple[PoolState, list[str]]:
    """Take up to ``request.count`` available hosts of its node type, in inventory order.

    Hosts that never failed come before hosts back from quarantine.
    """
    candidates = [
        host.name
        for host in pool
        if host.node_type == request.node_type
        and is_available(state.get(host.name, HostRecord()), now)
    ]
    candidates.sort(key=lambda name: state.get(name, HostRecord()).failures)
    chosen = candidates[: request.count]
    updated = dict(state)
    for name in chosen:
        record = state.get(name, HostRecord())
        updated[name] = replace(
            record,
            status=Status.LAUNCHING,
            node_id=f"{name}-{record.allocations + 1}",
            allocations=record.allocations + 1,
            tags=dict(request.tags),
            changed_at=now,
        )
    return updated, chosen


def mark_launching(state: PoolState, name: str, now: float) -> PoolState:
    """A host a previous autoscaler left behind is joined again (the playbook is idempotent)."""
    record = state.get(name, HostRecord())
    return {**state, name: replace(record, status=Status.LAUNCHING, changed_at=now)}


def mark_running(state: PoolState, name: str, now: float) -> PoolState:
    """The join playbook finished and Ray sees the node ALIVE: its failures are forgiven."""
    record = state.get(name, HostRecord())
    return {
        **state,
        name: replace(
            record,
            status=Status.RUNNING,
            failures=0,
            quarantined_until=0.0,
            last_error="",
            changed_at=now,
        ),
    }


def mark_failed(
    state: PoolState, name: str, error: str, now: float, policy: QuarantinePolicy
) -> PoolState:
    """A launch failed and Ray is stopped there: the host sits out its backoff, then may be
    taken again."""
    failures = state.get(name, HostRecord()).failures + 1
    return _out_of_cluster(
        state,
        name,
        now,
        status=Status.QUARANTINED,
        failures=failures,
        quarantined_until=now + policy.duration(failures),
        last_error=error,
    )


def mark_join_failed(state: PoolState, name: str, error: str, now: float) -> PoolState:
    """A join failed, perhaps after Ray started there: the host leaves before its quarantine."""
    record = state.get(name, HostRecord())
    return {
        **state,
        name: replace(
            record,
            status=Status.TERMINATING,
            last_error=error,
            failed_join=True,
            retry_at=0.0,
            changed_at=now,
        ),
    }


def mark_leave_failed(
    state: PoolState, name: str, error: str, now: float, policy: QuarantinePolicy
) -> PoolState:
    """A leave failed: Ray may still run there, so the host stays leaving, tried again later."""
    record = state.get(name, HostRecord())
    failures = record.failures + 1
    return {
        **state,
        name: replace(
            record,
            failures=failures,
            last_error=error,
            retry_at=now + policy.duration(failures),
            changed_at=now,
        ),
    }


def mark_leave_due(state: PoolState, name: str, now: float, reason: str) -> PoolState:
    """A leave that could not start (another run holds the cluster): due at once."""
    record = state.get(name, HostRecord())
    return {**state, name: replace(record, last_error=reason, retry_at=now, changed_at=now)}


def mark_left(state: PoolState, name: str, now: float, policy: QuarantinePolicy) -> PoolState:
    """The leave finished, Ray is stopped there: free, or quarantined after a failed join."""
    record = state.get(name, HostRecord())
    if record.failed_join:
        return mark_failed(state, name, record.last_error, now, policy)
    return mark_free(state, name, now)


def leaves_due(state: PoolState, now: float) -> list[str]:
    """Hosts whose failed leave is to be tried again now."""
    return sorted(
        name
        for name, record in state.items()
        if record.status is Status.TERMINATING and 0 < record.retry_at <= now
    )


def mark_terminating(state: PoolState, name: str, now: float) -> PoolState:
    record = state.get(name, HostRecord())
    return {**state, name: replace(record, status=Status.TERMINATING, changed_at=now)}


def mark_free(state: PoolState, name: str, now: float) -> PoolState:
    """The host left the cluster cleanly; its failure count is kept for the ordering."""
    failures = state.get(name, HostRecord()).failures
    return _out_of_cluster(state, name, now, status=Status.FREE, failures=failures)


def _out_of_cluster(state: PoolState, name: str, now: float, **fields: Any) -> PoolState:
    """A fresh record (no node id, no tags) that keeps counting the host's allocations."""
    allocations = state.get(name, HostRecord()).allocations
    return {**state, name: HostRecord(allocations=allocations, changed_at=now, **fields)}


def set_tags(state: PoolState, name: str, tags: Mapping[str, str]) -> PoolState:
    record = state.get(name, HostRecord())
    return {**state, name: replace(record, tags={**record.tags, **tags})}


def unfinished(state: PoolState) -> list[str]:
    """Hosts a previous autoscaler left in a transition, or calls running: re-check them."""
    return sorted(
        name
        for name, record in state.items()
        if record.status in (Status.LAUNCHING, Status.RUNNING, Status.TERMINATING)
    )


def members(state: PoolState) -> dict[str, str]:
    """Node id to host, for the hosts in the cluster now."""
    return {
        record.node_id: name
        for name, record in sorted(state.items())
        if record.status in MEMBER_STATUSES
    }


def encode(state: PoolState) -> str:
    hosts = {
        name: {**asdict(record), "status": record.status.value} for name, record in state.items()
    }
    return json.dumps({"version": FORMAT_VERSION, "hosts": hosts}, indent=2, sort_keys=True) + "\n"


def decode(text: str) -> PoolState:
    """The state in ``text``; CorruptStateError for anything else."""
    try:
        document = json.loads(text)
        if document.get("version") != FORMAT_VERSION:
            raise CorruptStateError(f"unknown pool state format {document.get('version')!r}")
        return {
            str(name): HostRecord(
                status=Status(fields["status"]),
                node_id=str(fields["node_id"]),
                allocations=int(fields["allocations"]),
                tags=dict(fields["tags"]),
                failures=int(fields["failures"]),
                quarantined_until=float(fields["quarantined_until"]),
                last_error=str(fields["last_error"]),
                changed_at=float(fields["changed_at"]),
                # Absent from files of earlier releases.
                retry_at=float(fields.get("retry_at", 0.0)),
                failed_join=bool(fields.get("failed_join", False)),
            )
            for name, fields in document["hosts"].items()
        }
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise CorruptStateError(f"{type(error).__name__}: {error}") from error


def rebuild(
    pool: Sequence[PoolHost], joined: Mapping[str, tuple[str, Status]], now: float
) -> PoolState:
    """A state that lost its file, from the members the members inventory lists.

    ``joined``: host to its node id and status (launching or running) there. Those stay
    members, and the next provisioner re-checks them (the join playbook is idempotent);
    every other pool host is leaving, so the leave playbook makes sure no Ray runs there
    before it is free again. Allocations restart at ``now`` (seconds), above any count
    the lost file held, so no node id is given twice.
    """
    allocations = int(now)
    return {
        host.name: (
            HostRecord(
                status=joined[host.name][1],
                node_id=joined[host.name][0],
                allocations=allocations,
                changed_at=now,
            )
            if host.name in joined
            else HostRecord(status=Status.TERMINATING, allocations=allocations, changed_at=now)
        )
        for host in pool
    }


def write_atomically(path: Path, text: str, mode: int = 0o640) -> None:
    """Readers see the old file or the new one, never a part; a crash keeps the old one."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class StateStore:
    """The state file in ``directory``; every change under one exclusive lock.

    ``on_change`` runs with each new state while the lock is still held, so files
    derived from the state (the members inventory) never lag behind or race.
    ``rebuild`` makes the state anew when the file is corrupt (else it starts empty).
    """

    def __init__(
        self,
        directory: Path,
        on_change: Callable[[PoolState], None] | None = None,
        rebuild: Callable[[], PoolState] | None = None,
    ) -> None:
        self.directory = directory
        self.path = directory / STATE_FILE
        self._lock_path = directory / LOCK_FILE
        self._on_change = on_change
        self._rebuild = rebuild

    def read(self) -> PoolState:
        """A snapshot; safe without the lock because writes are atomic."""
        try:
            return self._load()
        except CorruptStateError:
            with self._locked():
                return self._load_or_rebuild()

    def change(self, transition: Callable[[PoolState], tuple[PoolState, T]]) -> T:
        """Apply ``transition`` to the current state and persist what it returns."""
        with self._locked():
            before = self._load_or_rebuild()
            after, result = transition(before)
            if after != before or not self.path.exists():
                self._write(after)
            return result

    def with_lock(self, action: Callable[[PoolState], None]) -> None:
        """Run ``action`` on the current state, holding the lock that changes take."""
        with self._locked():
            action(self._load_or_rebuild())

    def _load(self) -> PoolState:
        try:
            return decode(self.path.read_text())
        except FileNotFoundError:
            return {}
        except UnicodeDecodeError as error:
            raise CorruptStateError(str(error)) from error

    def _load_or_rebuild(self) -> PoolState:
        """The state, the lock held: a corrupt file goes aside, a rebuilt state in its place."""
        try:
            return self._load()
        except CorruptStateError as error:
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            aside = self.path.with_name(f"{STATE_FILE}.bad-{stamp}")
            os.replace(self.path, aside)
            state = self._rebuild() if self._rebuild is not None else {}
            logger.error(
                "rayfleet: the pool state was corrupt (%s); kept as %s and rebuilt: %d host(s)",
                error,
                aside,
                len(state),
            )
            self._write(state)
            return state

    def _write(self, state: PoolState) -> None:
        # Its owner's alone: the node provider asks the provisioner for it.
        write_atomically(self.path, encode(state), mode=0o600)
        if self._on_change is not None:
            self._on_change(state)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        # The owner's alone: anyone who can open it can hold the lock (also one an earlier
        # release left readable).
        descriptor = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "r+") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
