# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""A host that a full run left converged, and nothing has changed since: its record.

At the end of a full run of a playbook, each host it ran on records, as root, a digest of
the run's inputs (computed on the controller: the collection, the inventory, the extra
variables, the facts the roles read) and a digest of the host's state (every file, link and
directory under the roots below with its owner, mode, inode and change time, the running
state of every service enabled there, the nftables ruleset). A later run of the same
playbook with the same inputs, on a host whose state digests the same, would change
nothing there: validate.yml leaves that host out of every play (playbooks/README.md,
"Converged hosts"). Any difference, or no record, and the host takes the full run.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from ansible_collections.rayfleet.cluster.plugins.module_utils.run_lock import RUN_LOCK_DIR

STATE_FILE = "/var/lib/rayfleet/converged.json"

# Where rayfleet's roles and the packages they install keep what a full run checks: files
# anywhere under /etc (with systemd's units and their enablement links, users and groups,
# sshd's policy), the venvs, bundles and binaries, the pool state and fence lists, the
# provisioned dashboards, the installed packages, and the SSH authorizations. Change times
# move with every write, chmod and chown, which a user cannot set back.
ROOTS = (
    "/etc",
    "/opt",
    "/usr/local",
    "/var/lib/rayfleet",
    "/var/lib/grafana/dashboards",
    "/var/lib/dpkg/status",
    "/root/.ssh",
)
# The run's own bookkeeping, which every run rewrites: the lock and this record.
EXCLUDED = (RUN_LOCK_DIR, STATE_FILE, f"{STATE_FILE}.partial")

# The facts the roles read (of every host: the cluster's addresses come from them).
FACT_KEYS = (
    "default_ipv4",
    "service_mgr",
    "distribution",
    "distribution_version",
    "distribution_major_version",
    "os_family",
    "architecture",
    "processor_vcpus",
    "memtotal_mb",
)


def digest(value: Any, default: Callable[[Any], Any] = str) -> str:
    """SHA-256 of a JSON value, keys sorted: the same value digests the same anywhere;
    ``default`` makes JSON of what is not."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=default)
    return hashlib.sha256(text.encode()).hexdigest()


def _entry(path: str, info: os.stat_result) -> list[Any]:
    """What identifies a path's state: a directory by its owner and mode (its entries follow),
    anything else by its inode and change time too, a link by its target."""
    entry: list[Any] = [
        path,
        stat.S_IFMT(info.st_mode),
        info.st_mode & 0o7777,
        info.st_uid,
        info.st_gid,
    ]
    if stat.S_ISLNK(info.st_mode):
        entry.append(os.readlink(path))
    elif not stat.S_ISDIR(info.st_mode):
        entry.extend([info.st_ino, info.st_size, info.st_ctime_ns])
    return entry


def tree_entries(roots: Iterable[str], excluded: Sequence[str] = EXCLUDED) -> Iterator[list[Any]]:
    """Every path under the roots (not following links), depth first, each directory's
    entries sorted by name, but the excluded ones.

    An entry gone while walking counts as missing; a directory that cannot be listed raises
    OSError: what it holds is unknown, so the host cannot be shown unchanged. A stack, not
    recursion: any user may nest directories deeper than Python's recursion limit under a
    root (their ~/.ssh).
    """
    skip = set(excluded)
    for root in sorted(set(roots) - skip):
        try:
            info = os.lstat(root)
        except FileNotFoundError:
            yield [root, None]
            continue
        yield _entry(root, info)
        pending = [root] if stat.S_ISDIR(info.st_mode) else []
        while pending:
            directory = pending.pop()
            try:
                with os.scandir(directory) as listing:
                    children = sorted(listing, key=lambda child: child.name)
            except FileNotFoundError:
                yield [directory, None]
                continue
            subdirectories = []
            for child in children:
                if child.path in skip:
                    continue
                try:
                    child_info = child.stat(follow_symlinks=False)
                except FileNotFoundError:
                    yield [child.path, None]
                    continue
                yield _entry(child.path, child_info)
                if stat.S_ISDIR(child_info.st_mode):
                    subdirectories.append(child.path)
            pending.extend(reversed(subdirectories))


def home_ssh_dirs(homes: Iterable[str]) -> list[str]:
    """The SSH directories of the users whose ``homes`` are given (wherever they are: the
    pool hosts' SSH user's may be anywhere)."""
    return sorted(
        {
            os.path.join(home, ".ssh")
            for home in homes
            if home and os.path.isdir(os.path.join(home, ".ssh"))
        }
    )


def directory_entries(dirs: Iterable[str]) -> Iterator[list[Any]]:
    """Each directory's own type, owner and mode, sorted, not what it holds."""
    for directory in sorted(set(dirs)):
        try:
            yield _entry(directory, os.lstat(directory))
        except FileNotFoundError:
            yield [directory, None]


# The ray role's directories that Ray writes in as it runs (its home, temp, spill and GCS
# directories): each is the role's by its owner and mode, its content Ray's.
RAY_DATA_DIRS = ("ray_home", "ray_temp_dir", "ray_spill_dir", "ray_gcs_rocksdb_path")


def data_dirs(settings: Mapping[str, Any]) -> list[str]:
    """The directories of ``settings`` (a host's effective ray settings) whose own state a
    record holds, beyond the roots."""
    return sorted({str(settings[name]) for name in RAY_DATA_DIRS if settings.get(name)})


def reads_gpus(settings: Mapping[str, Any]) -> bool:
    """Whether the ray role reads the host's GPUs (its gpu.yml): a GPU group's host, or one
    asked for GPUs."""
    return _boolean(settings.get("ray_gpu") or False) or int(settings.get("ray_num_gpus") or 0) > 0


def state_digest(
    roots: Iterable[str],
    services: Mapping[str, str],
    ruleset: str,
    shm_bytes: int = 0,
    dirs: Iterable[str] = (),
) -> str:
    """The digest of a host's state: the paths under ``roots``, the ``dirs`` themselves,
    the enabled services' states (unit to ActiveState), the nftables ruleset, the size of
    /dev/shm (the object store is sized to fit)."""
    hasher = hashlib.sha256()
    for entry in (*tree_entries(roots), *directory_entries(dirs)):
        hasher.update(json.dumps(entry).encode())
        hasher.update(b"\n")
    hasher.update(
        digest({"services": dict(services), "ruleset": ruleset, "shm": shm_bytes}).encode()
    )
    return hasher.hexdigest()


# A record this old is stale: what a full run does by the date (renewing certificates due
# within ray_tls_renew_days) is done within a day.
MAX_AGE_S = 86400.0


def verdict(
    record: Mapping[str, Any] | None,
    inputs: str,
    state: str | None,
    now: float,
    max_age_s: float = MAX_AGE_S,
) -> str:
    """Why the host must take the full run, or "" where it is converged; ``state`` None
    compares all but the host's state."""
    if not record:
        return "no record of a full run of this playbook"
    if not 0 <= now - float(record.get("recorded_at") or 0) <= max_age_s:
        return "the last full run is more than a day old"
    if record.get("inputs") != inputs:
        return "the run's inputs changed since the last full run"
    if state is not None and record.get("state") != state:
        return "the host changed since the last full run"
    return ""


def converged_hosts(
    checks: Mapping[str, Mapping[str, Any]],
    nodes: Mapping[str, Mapping[str, Any]],
    clusters: Mapping[str, Mapping[str, Any]],
    nvml_hosts: Iterable[str] = (),
    monitoring_servers: Mapping[str, str] | None = None,
) -> list[str]:
    """The hosts a run may leave out: each converged by its own check, with every Ray node
    it runs ALIVE in its cluster as its head's dashboard lists it now, on no host whose GPUs
    the ray role reads (``nvml_hosts``: it reads them through NVML on every run, and one may
    have failed since), in a cluster whose head is left out too, and no monitoring server
    (``monitoring_servers``, by cluster) of a cluster whose head takes the run.

    ``checks`` maps hosts to their converged task results, ``nodes`` and ``clusters`` are
    the plan's (``rayfleet_plan``).
    """
    converged = {host for host, result in checks.items() if result.get("converged")}
    reads_gpus = set(nvml_hosts)
    alive = {
        name: set(checks.get(nodes[cluster["head"]]["host"], {}).get("alive_nodes") or ())
        for name, cluster in clusters.items()
    }
    members = [node for node in nodes.values() if not node.get("spare")]
    held = {
        node["host"]
        for node in members
        if node["host"] in reads_gpus
        or f"{node['address']}/{node.get('slot', 0)}" not in alive[node["cluster"]]
    }
    # A head that takes the run may restart: its cluster's nodes take it too, and wait for
    # it, and its monitoring server reads the dashboards the head's Ray writes.
    settled_clusters = {
        name
        for name, cluster in clusters.items()
        if nodes[cluster["head"]]["host"] in converged - held
    }
    held |= {node["host"] for node in members if node["cluster"] not in settled_clusters}
    held |= {
        server
        for cluster, server in (monitoring_servers or {}).items()
        if cluster not in settled_clusters
    }
    return sorted(converged - held)


# The playbooks that only converge hosts: a host converged for one of them skips its plays.
# The others (join, leave, rotate, teardown) change hosts by design and always run.
CONVERGING_PLAYBOOKS = (
    "site.yml",
    "firewall.yml",
    "redis.yml",
    "ray.yml",
    "pool.yml",
    "monitoring.yml",
    "proxy.yml",
)


def full_run_reason(
    run_vars: Mapping[str, Any], check_mode: bool, cli: Mapping[str, Any] | None = None
) -> str:
    """Why every host of this run takes every play, or "" where converged hosts may skip.

    Only a whole run of a converging playbook from the controller records and trusts
    records: not a run limited by tags, a check run, one that ``--step`` or
    ``--start-at-task`` (in ``cli``, Ansible's command line) may cut short, the
    provisioner's runs, or one that ``rayfleet_skip_converged: false`` asks to run in full.
    """
    playbook = run_vars.get("rayfleet_run_playbook")
    options = cli or {}
    tags = list(run_vars.get("ansible_run_tags") or ["all"])
    reasons = (
        (
            playbook not in CONVERGING_PLAYBOOKS,
            f"{playbook or 'this playbook'} changes hosts on every run",
        ),
        (
            not _boolean(run_vars.get("rayfleet_skip_converged", True)),
            "rayfleet_skip_converged is false",
        ),
        (check_mode, "a check run records nothing"),
        (
            tags != ["all"] or bool(run_vars.get("ansible_skip_tags")),
            "a run limited by tags converges part of a host",
        ),
        (
            bool(options.get("step") or options.get("start_at_task")),
            "a run with --step or --start-at-task may leave tasks out",
        ),
        (
            "rayfleet_run_lock_under" in run_vars
            or _boolean(run_vars.get("rayfleet_pool_change", False)),
            "the provisioner's runs change pool hosts",
        ),
    )
    return next((reason for applies, reason in reasons if applies), "")


def _boolean(value: Any) -> bool:
    """A variable's truth as Ansible's ``bool`` filter reads it."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "y", "t")
    return bool(value)
