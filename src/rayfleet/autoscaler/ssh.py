"""The provisioner's own SSH calls to the cluster's hosts, beside its playbook runs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def ssh_command(
    key: Path | str,
    destination: str,
    *,
    port: int,
    known_hosts: Path,
    connect_timeout_s: int,
    command: Sequence[str],
) -> list[str]:
    """One ssh call with the provisioner's key and known hosts, never asking anyone anything.

    A host's key is recorded on first contact and checked ever after, as in its playbook
    runs (the same known hosts file).
    """
    return [
        "ssh",
        "-T",
        "-i",
        str(key),
        "-p",
        str(port),
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"ConnectTimeout={connect_timeout_s}",
        "-o",
        "ServerAliveInterval=2",
        "-o",
        "ServerAliveCountMax=2",
        "-o",
        "StrictHostKeyChecking=accept-new",
        "-o",
        f"UserKnownHostsFile={known_hosts}",
        destination,
        *command,
    ]
