# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""A node's directories and files put in place in one go: what differs, and writing only that.

One module call per host instead of a template or file task per path: on a run with nothing to
do, each of those costs the host a round trip or two, which on a fleet is most of the run.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Wanted:
    """A path as it should be: a directory (content None) or a file with its content."""

    path: str
    owner: str
    group: str
    mode: int
    content: bytes | None = None
    # Content written only where the file is missing: someone else keeps it afterwards.
    create_only: bool = False

    @property
    def is_directory(self) -> bool:
        return self.content is None


@dataclass(frozen=True)
class Found:
    """A path as it is, or None parts where it is missing."""

    kind: str  # "missing", "directory", "file", "other"
    uid: int = -1
    gid: int = -1
    mode: int = 0
    content: bytes | None = None


def parse_mode(mode: str) -> int:
    """An octal mode string such as ``0640``."""
    if not mode or any(digit not in "01234567" for digit in mode) or len(mode) > 4:
        raise ValueError(f"not an octal mode: {mode!r}")
    return int(mode, 8)


def ids(owner: str, group: str) -> tuple[int, int]:
    """The uid and gid of an owner and group name; KeyError names the missing one."""
    try:
        uid = pwd.getpwnam(owner).pw_uid
    except KeyError:
        raise KeyError(f"no user {owner}") from None
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        raise KeyError(f"no group {group}") from None
    return uid, gid


def look(path: str, read_content: bool) -> Found:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return Found("missing")
    if stat.S_ISDIR(info.st_mode):
        kind = "directory"
    elif stat.S_ISREG(info.st_mode):
        kind = "file"
    else:
        kind = "other"
    content = None
    if kind == "file" and read_content:
        with open(path, "rb") as existing:
            content = existing.read()
    return Found(kind, info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode), content)


def differences(wanted: Wanted, found: Found, uid: int, gid: int) -> list[str]:
    """What is not as wanted ("content", "owner", "mode"), or ["missing"] / ["kind"]."""
    if found.kind == "missing":
        return ["missing"]
    if found.kind != ("directory" if wanted.is_directory else "file"):
        return ["kind"]
    differ = []
    if not wanted.is_directory and not wanted.create_only and found.content != wanted.content:
        differ.append("content")
    if (found.uid, found.gid) != (uid, gid):
        differ.append("owner")
    if found.mode != wanted.mode:
        differ.append("mode")
    return differ


def make_directory(wanted: Wanted, uid: int, gid: int) -> None:
    os.makedirs(wanted.path, mode=0o700, exist_ok=True)
    fix_attributes(wanted, uid, gid)


def write_file(
    wanted: Wanted, uid: int, gid: int, check: Callable[[str], None] | None = None
) -> None:
    """The file replaced whole by a temporary one, owned and moded before it holds anything.

    ``check`` is given the temporary file's path before it replaces the old one: it raises to
    leave the old file as it was.
    """
    assert wanted.content is not None
    directory = os.path.dirname(wanted.path) or "."
    descriptor, temporary = tempfile.mkstemp(prefix=".rayfleet-", dir=directory)
    try:
        with os.fdopen(descriptor, "wb") as out:
            os.fchown(out.fileno(), uid, gid)
            os.fchmod(out.fileno(), wanted.mode)
            out.write(wanted.content)
            out.flush()
            os.fsync(out.fileno())
        if check is not None:
            check(temporary)
        os.replace(temporary, wanted.path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def fix_attributes(wanted: Wanted, uid: int, gid: int) -> None:
    """Owner and mode set through a descriptor of the path itself, never through a link.

    Some of a node's directories sit where the ray user may write (its home): a link swapped
    in after the look must not lend it root's chown and chmod.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
    descriptor = os.open(wanted.path, flags | (os.O_DIRECTORY if wanted.is_directory else 0))
    try:
        kind = os.fstat(descriptor).st_mode
        if not (stat.S_ISDIR(kind) if wanted.is_directory else stat.S_ISREG(kind)):
            raise OSError(f"{wanted.path}: changed kind while being fixed")
        os.fchown(descriptor, uid, gid)
        os.fchmod(descriptor, wanted.mode)
    finally:
        os.close(descriptor)
