# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""One rayfleet run at a time per cluster: the run lock on the cluster's head.

A run holds its cluster's lock by having its holder record in ``RUN_LOCK_DIR/holder.json``
on the head: an ``ansible-playbook`` run from its validation to its last play, and the head's
provisioner while any of its playbook runs is under way (those runs work under the
provisioner's record instead of taking their own). Changes are serialised by ``flock`` on
the directory, which is root's, or the provisioner's user's on an autoscaling head, and
mode 0700: a job, running as ``ray``, can neither take nor hold it.

A holder that ended without releasing (a killed run, a crashed provisioner) is replaced once
its lease has run out, or at once by a run on the machine its process ran on, which can see
that the process is gone. Plain functions and the file's I/O; the run_lock module and the
rayfleet package's provisioner both use them.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import socket
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

RUN_LOCK_DIR = "/var/lib/rayfleet/run-lock"
HOLDER_FILE = "holder.json"
BOOT_ID = "/proc/sys/kernel/random/boot_id"
# How long the lease of a run that never releases lasts (rayfleet_run_lock_ttl_s).
DEFAULT_TTL_S = 7200
# How long a run may wait for another's change of the file (never for the lock itself).
FILE_WAIT_S = 10.0


class RunLockError(Exception):
    """The lock could not be read or changed."""


@dataclass(frozen=True)
class Holder:
    """Who holds a cluster's lock: a process on a machine, and until when at most."""

    machine: str
    pid: int
    # The process's start time in clock ticks after boot (0: unknown): a pid reused by
    # another process after a reboot or a wrap is not taken for the holder.
    started: int
    # For people: "root@controller: ansible-playbook site.yml".
    who: str
    since: float = 0.0
    expires: float = 0.0

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Holder:
        return cls(
            machine=str(record["machine"]),
            pid=int(record["pid"]),
            started=int(record["started"]),
            who=str(record["who"]),
            since=float(record.get("since", 0.0)),
            expires=float(record.get("expires", 0.0)),
        )

    @property
    def id(self) -> str:
        return f"{self.machine}:{self.pid}:{self.started}"

    def describe(self) -> str:
        return (
            f"{self.who} (pid {self.pid}), since {_utc(self.since)}, "
            f"its lease running out at {_utc(self.expires)}"
        )


@dataclass(frozen=True)
class Verdict:
    """What a take or release comes to: the record to keep, and what to tell the run."""

    holder: Holder | None
    # The record on file changes (written, renewed or removed).
    write: bool
    # Why the run may not go on, naming the holder; empty when it may.
    refusal: str = ""
    warning: str = ""


def take(
    current: Holder | None,
    wanted: Holder,
    now: float,
    ttl_s: float,
    *,
    gone: Callable[[Holder], bool],
    force: bool = False,
) -> Verdict:
    """``wanted`` takes the lock, or renews its own lease, unless a live run holds it.

    ``gone(holder)`` says whether the holder's process is known to have ended; ``force``
    takes the lock from a holder that a person has checked is gone.
    """
    since = current.since if current is not None and current.id == wanted.id else now
    mine = replace(wanted, since=since, expires=now + ttl_s)
    if current is None or current.id == wanted.id:
        return Verdict(mine, write=True)
    if now >= current.expires:
        why = "whose lease ran out"
    elif gone(current):
        why = "whose process has ended"
    elif force:
        why = "as rayfleet_run_lock_break asked"
    else:
        return Verdict(current, write=False, refusal=refusal(current))
    return Verdict(mine, write=True, warning=f"took the run lock from {current.describe()}, {why}")


def refusal(holder: Holder) -> str:
    return (
        f"another run holds this cluster's run lock: {holder.describe()}. Fix: wait until it "
        "ends; if it has ended without releasing the lock (killed, or its machine lost), run "
        "again with -e rayfleet_run_lock_break=true"
    )


def work_under(current: Holder | None, holder_id: str) -> Verdict:
    """A run started by the holder ``holder_id`` (the provisioner) goes on under its lock."""
    if current is not None and current.id == holder_id:
        return Verdict(current, write=False)
    if current is None:
        return Verdict(None, write=False, refusal="the lock this run was started under is released")
    return Verdict(current, write=False, refusal=refusal(current))


def release(current: Holder | None, holder_id: str) -> Verdict:
    """The holder ``holder_id`` lets the lock go; another's lock is left alone."""
    if current is None:
        return Verdict(None, write=False)
    if current.id != holder_id:
        return Verdict(
            current, write=False, warning=f"the run lock is {current.describe()}: left alone"
        )
    return Verdict(None, write=True)


def process_started(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks after boot), or None when there is none.

    0 where the process exists but its start is unknown: no /proc (a macOS controller), or
    a /proc that hides other users' processes (the provisioner's ProtectProc=invisible).
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as record:
            # The command name, in parentheses, may hold anything: count from its end.
            return int(record.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return _exists(pid)


def _exists(pid: int) -> int | None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return 0
    return 0


def machine_id() -> str:
    """This machine since it booted: systemd's machine id (else the hostname) and the boot id.

    Cloned machines may share a machine id; a boot id is random. A holder from before a
    reboot is then nobody's to judge gone: its lease runs out.
    """
    found = ""
    with contextlib.suppress(OSError), open("/etc/machine-id", encoding="ascii") as file:
        found = file.read().strip()
    boot = ""
    with contextlib.suppress(OSError), open(BOOT_ID, encoding="ascii") as file:
        boot = file.read().strip()
    return f"{found or socket.gethostname()}/{boot}"


def this_process(who: str, pid: int | None = None) -> Holder:
    """A holder record for process ``pid`` (this one) on this machine."""
    pid = os.getpid() if pid is None else pid
    return Holder(machine=machine_id(), pid=pid, started=process_started(pid) or 0, who=who)


def gone_here(machine: str) -> Callable[[Holder], bool]:
    """Whether a holder's process is known to have ended: only a holder on ``machine`` is."""

    def gone(holder: Holder) -> bool:
        if holder.machine != machine:
            return False
        started = process_started(holder.pid)
        return started is None or (holder.started != 0 and started not in (0, holder.started))

    return gone


def change(
    directory: str, decide: Callable[[Holder | None], Verdict], dry_run: bool = False
) -> Verdict:
    """Read the record in ``directory``, decide, and write what was decided, all under flock.

    ``dry_run`` (check mode) decides only. Without the directory, a decision that writes
    nothing (a release on a torn-down head) creates nothing either. On an autoscaling head the
    directory is the provisioner's user's while root writes in it too: every name in it is
    opened relative to the directory, never through a link, and written under a fresh name.
    """
    if not os.path.isdir(directory):
        verdict = decide(None)
        if dry_run or not verdict.write:
            return verdict
    os.makedirs(directory, mode=0o700, exist_ok=True)
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        _flock(descriptor, directory)
        verdict = decide(_read(descriptor, directory))
        if verdict.write and not dry_run:
            _write(descriptor, verdict.holder)
    finally:
        os.close(descriptor)
    return verdict


def _flock(descriptor: int, directory: str) -> None:
    deadline = time.monotonic() + FILE_WAIT_S
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EWOULDBLOCK):
                raise
            if time.monotonic() >= deadline:
                raise RunLockError(
                    f"{directory} stayed locked for {FILE_WAIT_S:.0f} s by another process"
                ) from error
            time.sleep(0.1)


def _read(directory_fd: int, directory: str) -> Holder | None:
    path = os.path.join(directory, HOLDER_FILE)
    try:
        descriptor = os.open(HOLDER_FILE, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=directory_fd)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise RunLockError(f"{path} cannot be read ({error}): remove it") from error
    with os.fdopen(descriptor, encoding="utf-8") as file:
        try:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                raise ValueError("not a regular file")
            return Holder.from_record(json.load(file))
        # A record cut short by a crash mid-write cannot be: it is renamed into place whole.
        except (ValueError, KeyError, TypeError) as error:
            raise RunLockError(f"{path} is not a run lock record ({error}): remove it") from error


def _write(directory_fd: int, holder: Holder | None) -> None:
    if holder is None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(HOLDER_FILE, dir_fd=directory_fd)
        return
    partial = f".{HOLDER_FILE}.{secrets.token_hex(8)}"
    descriptor = os.open(
        partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=directory_fd
    )
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(asdict(holder), file)
            file.flush()
            os.fchmod(file.fileno(), 0o644)
            os.fsync(file.fileno())
        os.replace(partial, HOLDER_FILE, src_dir_fd=directory_fd, dst_dir_fd=directory_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial, dir_fd=directory_fd)
        raise


def _utc(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))
