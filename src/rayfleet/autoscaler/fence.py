"""Opens and closes the cluster's firewalls to pool hosts as they join and leave.

Every host of the cluster lets in, beside its static members, a set of pool hosts that
rayfleet-fence (roles/firewall/files/rayfleet_fence.py) keeps. With each change of the pool
state, the head sends every host of the cluster that is, or just was, a member the pool
hosts that are members now, over SSH with a key that runs only that command as root. A
host joins once it is let in everywhere, and is shut out once its leave has ended.
"""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rayfleet.autoscaler import ssh
from rayfleet.autoscaler.settings import ProviderSettings
from rayfleet.autoscaler.state import PoolState, Status, write_atomically

logger = logging.getLogger(__name__)

# Ray runs on these hosts, or is about to: they reach the other members on every port.
JOINED_STATUSES = frozenset({Status.LAUNCHING, Status.RUNNING, Status.TERMINATING})
# Well inside the provider's 30 s for a request, which waits on this: all hosts are told at
# once, so one that does not answer costs COMMAND_TIMEOUT_S at most.
CONNECT_TIMEOUT_S = 3
COMMAND_TIMEOUT_S = 8
MAX_PARALLEL = 32
# What each host was told last, beside the state: a change of tags alone tells nobody.
TOLD_FILE = "fence.json"


def joined_hosts(state: PoolState) -> list[str]:
    """Members, and hosts in their first leave, which drains them through the cluster.

    A host whose join or leave failed is shut out while it leaves (again): whatever Ray it
    may still run takes no part in the cluster, and its GCS soon counts it dead.
    """
    return sorted(
        host
        for host, record in state.items()
        if record.status in JOINED_STATUSES and not (record.failed_join or record.retry_at)
    )


def targets(settings: ProviderSettings, state: PoolState) -> list[str]:
    """The hosts to tell: the static members, and the pool hosts that have joined.

    A host that has left keeps its last list: it runs no Ray, and it is told again when it
    joins next.
    """
    if settings.fence is None:
        return []
    fenced = settings.fence.hosts
    wanted = [node.name for node in settings.fixed] + joined_hosts(state)
    return [host for host in dict.fromkeys(wanted) if host in fenced]


def ssh_command(
    settings: ProviderSettings, address: str, port: int, joined: Iterable[str]
) -> list[str]:
    """The ssh call that tells one host; sshd runs rayfleet-fence whatever the command says."""
    assert settings.fence is not None
    return ssh.ssh_command(
        settings.fence.key,
        f"root@{address}",
        port=port,
        known_hosts=settings.known_hosts,
        connect_timeout_s=CONNECT_TIMEOUT_S,
        command=["sync", *joined],
    )


def _addresses(settings: ProviderSettings) -> Mapping[str, str]:
    return {
        **{node.name: node.ip for node in settings.fixed},
        **{host.name: host.ip for host in settings.pool},
    }


def sync(settings: ProviderSettings, state: PoolState, force: bool = False) -> list[str]:
    """Tell each target that needs it which pool hosts are members; the hosts not told.

    A host needs it when its last list differs, or it was never told, or ``force``.
    """
    if settings.fence is None:
        return []
    addresses = _addresses(settings)
    joined = [addresses[host] for host in joined_hosts(state) if host in addresses]
    told_file = settings.state_dir / TOLD_FILE
    current = targets(settings, state)
    # A host that is no target now is forgotten: when it joins again, it is told again.
    told = (
        {}
        if force
        else {host: last for host, last in _read_told(told_file).items() if host in current}
    )
    hosts = [host for host in current if told.get(host) != joined]
    ports = settings.fence.hosts

    def tell(host: str) -> str | None:
        command = ssh_command(settings, addresses[host], ports[host], joined)
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            return f"no answer in {COMMAND_TIMEOUT_S} s"
        except OSError as error:
            return str(error)
        return (
            None if result.returncode == 0 else result.stderr.strip() or f"rc {result.returncode}"
        )

    if not hosts:
        return []
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(hosts))) as executor:
        errors = dict(zip(hosts, executor.map(tell, hosts), strict=True))
    failed = [host for host, error in errors.items() if error is not None]
    for host in failed:
        logger.warning(
            "rayfleet: could not fence %s (told again at the next change): %s", host, errors[host]
        )
        told.pop(host, None)
    told.update({host: joined for host in hosts if host not in failed})
    try:
        write_atomically(told_file, json.dumps(told, indent=2, sort_keys=True) + "\n", mode=0o600)
    except OSError as error:
        # Everyone is told again at the next change: more calls, nothing wrong.
        logger.warning("rayfleet: could not record whom the firewall told: %s", error)
    logger.info("rayfleet: %d host(s) let in pool hosts %s", len(hosts) - len(failed), joined)
    return failed


def _read_told(path: Path) -> dict[str, list[str]]:
    """The last lists; none (everyone is told again) where the file is missing or bad."""
    try:
        told = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(told, dict):
        return {}
    return {
        str(host): list(map(str, joined))
        for host, joined in told.items()
        if isinstance(joined, list)
    }
