#!/usr/bin/python3
# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Loads rayfleet's firewall with the pool hosts that are members of the cluster now.

Installed as /usr/local/sbin/rayfleet-fence by the firewall role (standard library only).

    rayfleet-fence load                  the table from its rules file, and the joined set
    rayfleet-fence sync [ADDRESS...]     the pool hosts that are members now, and nothing else

The unit loads the rules file with nft itself, then runs ``load``: a host whose Python is
broken is still fenced, with no pool host let in.

Every host of a cluster with a pool authorizes, for root, one SSH key that runs this
command and nothing else, from the head's address only; the head's provisioner holds it
and sends ``sync`` with every change of its pool state, so a join or a leave opens or
closes the Ray ports of all members without a playbook run. A ``sync`` names only pool
hosts of the host's cluster (the allowlist the firewall role writes): whoever holds the
key can let in no other address. Both actions hold one lock, and ``sync`` records the list
before it applies it, so a ``load`` at the same time never brings back an older list.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

TABLE = "inet rayfleet"
RULES_FILE = Path("/etc/rayfleet/firewall.nft")
ALLOWED_FILE = Path("/etc/rayfleet/firewall-pool")
JOINED_FILE = Path("/var/lib/rayfleet/firewall/joined")
LOCK_FILE = Path("/run/rayfleet-fence.lock")
# The named sets of the joined pool hosts, by address family (roles/firewall/templates).
SETS = {4: "joined_ip", 6: "joined_ip6"}


class FenceError(Exception):
    """A request this host refuses, or nft refused the change."""


def parse_command(argv: Sequence[str], ssh_command: str | None) -> tuple[str, list[str]]:
    """The action and its addresses: over SSH (sshd sets the client's command), ``sync`` only."""
    if ssh_command is not None:
        words = shlex.split(ssh_command)
        actions: tuple[str, ...] = ("sync",)
    else:
        words = list(argv)
        actions = ("load", "sync")
    if not words or words[0] not in actions:
        raise FenceError(f"usage: rayfleet-fence {' | '.join(actions)} [ADDRESS...]")
    if words[0] == "load" and len(words) > 1:
        raise FenceError("load takes no addresses")
    return words[0], words[1:]


def _address(text: str) -> str | None:
    """The canonical form of an IP address; None for anything else (scoped IPv6 included)."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return None if "%" in str(address) else str(address)


def addresses_in(text: str) -> tuple[list[str], list[str]]:
    """A list file's addresses (one per line, # comments), and the lines that are none."""
    good: list[str] = []
    bad: list[str] = []
    for line in (line.split("#", 1)[0].strip() for line in text.splitlines()):
        if line:
            address = _address(line)
            (bad if address is None else good).append(line if address is None else address)
    return good, bad


def split_requested(requested: Iterable[str], allowed: set[str]) -> tuple[list[str], list[str]]:
    """The requested addresses this host lets in (normalised, sorted), and those it refuses."""
    accepted: set[str] = set()
    refused: list[str] = []
    for text in requested:
        address = _address(text)
        if address is None or address not in allowed:
            refused.append(text)
        else:
            accepted.add(address)
    parsed = sorted(map(ipaddress.ip_address, accepted), key=lambda a: (a.version, int(a)))
    return [str(address) for address in parsed], refused


def set_commands(addresses: Iterable[str]) -> str:
    """nft commands that make the joined sets hold exactly ``addresses``."""
    by_version: dict[int, list[str]] = {version: [] for version in SETS}
    for address in addresses:
        by_version[ipaddress.ip_address(address).version].append(address)
    lines = []
    for version, name in SETS.items():
        lines.append(f"flush set {TABLE} {name}")
        if by_version[version]:
            lines.append(f"add element {TABLE} {name} {{ {', '.join(by_version[version])} }}")
    return "\n".join(lines) + "\n"


def _apply(commands: str) -> None:
    """One nft transaction: all of ``commands``, or nothing."""
    result = subprocess.run(
        ["/usr/sbin/nft", "--file", "-"],
        input=commands,
        text=True,
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        raise FenceError(f"nft refused the change: {result.stderr.strip()}")


def _write_joined(addresses: Sequence[str]) -> None:
    """Atomically and durably: a crash leaves the old list or the new one."""
    JOINED_FILE.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=JOINED_FILE.parent, prefix=".joined.")
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write("".join(f"{address}\n" for address in addresses))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, JOINED_FILE)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(JOINED_FILE.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


@contextmanager
def _locked() -> Iterator[None]:
    with open(LOCK_FILE, "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        yield


def _warn(message: str) -> None:
    print(f"rayfleet-fence: {message}", file=sys.stderr)


def main(argv: Sequence[str]) -> int:
    try:
        action, requested = parse_command(argv, os.environ.get("SSH_ORIGINAL_COMMAND"))
        allowed_list, bad = addresses_in(_read(ALLOWED_FILE))
        for line in bad:
            _warn(f"{ALLOWED_FILE}: {line!r} is no IP address; ignored")
        allowed = set(allowed_list)
        with _locked():
            if action == "load":
                recorded, bad = addresses_in(_read(JOINED_FILE))
                # A host left the pool since the list was written: it stays out.
                joined, refused = split_requested(recorded, allowed)
                for line in [*bad, *refused]:
                    _warn(f"{JOINED_FILE}: {line!r} is no pool host of this cluster; left out")
                _apply(RULES_FILE.read_text() + set_commands(joined))
                return 0
            # Leaving hosts are shut out even when the request names one this host refuses.
            joined, refused = split_requested(requested, allowed)
            _write_joined(joined)
            _apply(set_commands(joined))
    except (FenceError, OSError) as error:
        _warn(str(error))
        return 1
    if refused:
        _warn(f"no pool host of this host's cluster, left out: {' '.join(refused)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
