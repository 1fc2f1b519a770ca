#!/usr/bin/python3
# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Loads rayfleet's firewall with the pool hosts that are members of the cluster now.

Installed as /usr/local/sbin/rayfleet-fence by the firewall role (standard library only).

    rayfleet-fence load                  the table from its rules file, and the joined set
    rayfleet-fence sync [ADDRESS...]     the pool hosts that are members now, and nothing else

Every host of a cluster with a pool authorizes, for root, one SSH key that runs this
command and nothing else, from the head's address only; the head's provisioner holds it
and sends ``sync`` with every change of its pool state, so a join or a leave opens or
closes the Ray ports of all members without a playbook run. A ``sync`` names only pool
hosts of the host's cluster (the allowlist the firewall role writes): whoever holds the
key can let in no other address.
"""

from __future__ import annotations

import ipaddress
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

TABLE = "inet rayfleet"
RULES_FILE = Path("/etc/rayfleet/firewall.nft")
ALLOWED_FILE = Path("/etc/rayfleet/firewall-pool")
JOINED_FILE = Path("/var/lib/rayfleet/firewall-joined")
# The named sets of the joined pool hosts, by address family (roles/firewall/templates).
SETS = {4: "joined_ip", 6: "joined_ip6"}


class FenceError(Exception):
    """A request this host refuses; nothing was changed."""


def parse_command(argv: Sequence[str], ssh_command: str | None) -> tuple[str, list[str]]:
    """The action and its addresses: from SSH's forced command where sshd set one."""
    words = shlex.split(ssh_command) if ssh_command is not None else list(argv)
    if not words or words[0] not in ("load", "sync"):
        raise FenceError("usage: rayfleet-fence load | sync [ADDRESS...]")
    if words[0] == "load" and len(words) > 1:
        raise FenceError("load takes no addresses")
    return words[0], words[1:]


def allowed_addresses(text: str) -> set[str]:
    """The allowlist file: one address per line, # comments."""
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return {str(ipaddress.ip_address(line)) for line in lines if line}


def checked_addresses(requested: Iterable[str], allowed: set[str]) -> list[str]:
    """The requested addresses, normalised, if every one is allowed."""
    addresses: set[str] = set()
    for address in requested:
        try:
            normalised = str(ipaddress.ip_address(address))
        except ValueError:
            raise FenceError(f"{address!r} is not an IP address") from None
        if normalised not in allowed:
            raise FenceError(f"{normalised} is no pool host of this host's cluster")
        addresses.add(normalised)
    parsed = sorted(map(ipaddress.ip_address, addresses), key=lambda a: (a.version, int(a)))
    return [str(address) for address in parsed]


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
    JOINED_FILE.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=JOINED_FILE.parent, prefix=".firewall-joined.", delete=False
    ) as temporary:
        temporary.write("".join(f"{address}\n" for address in addresses))
    os.chmod(temporary.name, 0o644)
    os.replace(temporary.name, JOINED_FILE)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def main(argv: Sequence[str]) -> int:
    try:
        action, requested = parse_command(argv, os.environ.get("SSH_ORIGINAL_COMMAND"))
        allowed = allowed_addresses(_read(ALLOWED_FILE))
        if action == "load":
            # A host left the pool since the list was written: its address stays out.
            joined = [a for a in allowed_addresses(_read(JOINED_FILE)) if a in allowed]
            _apply(RULES_FILE.read_text() + set_commands(joined))
        else:
            joined = checked_addresses(requested, allowed)
            _apply(set_commands(joined))
            _write_joined(joined)
    except (FenceError, OSError, ValueError) as error:
        print(f"rayfleet-fence: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
