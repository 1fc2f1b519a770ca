#!/usr/bin/python3
# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Joins a pool host that joined before to its cluster again in one step, or refuses.

Installed as /usr/local/sbin/rayfleet-ray-join by the ray role (standard library only); run
as root, with a JSON request on stdin (never in argv, where every user could read it).

    rayfleet-ray-join seal   {"fingerprint", "service", "user", "files", "environment_file",
                              "token_file", "node_ip", "firewall"}
    rayfleet-ray-join join   {"fingerprint", "node_id", "node_ip", "token", "not_after"}

A full join (playbooks/join.yml run by the head's provisioner) ends with ``seal``: it records
the provisioner's fingerprint of its inputs (its inventory and the rayfleet release it runs),
a digest of the node's files as the join left them, with the node id left out, and the
host's facts they were rendered from. Leaving stops and disables the unit and deletes none
of them, so a later ``join`` only has to write the new node id and the cluster's token and
start the unit, when everything the full join would decide is still the same: the
provisioner's fingerprint, the files and directories (owner, mode and a file's content),
the Ray user, the facts, the unit stopped with no process of the Ray user left, and
rayfleet's firewall loaded where the host runs it.

Exit status: 0 joined (or sealed; "changed" on stdout where the seal was written anew);
REFUSED (3) when any of that does not hold, before anything was changed: the provisioner
then runs the full join. Any other failure (a start that failed, say) also ends in the full
join, which converges whatever this left. A run is cut off after RUN_LIMIT_S, before the
provisioner stops waiting for it, and refuses once the request's not_after (the
provisioner's clock, in seconds since the epoch) has passed: a start it would otherwise
queue late could race the leave that follows a join the provisioner gave up on.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pwd
import re
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# Beside the node's files, which a removal of Ray deletes with it (roles/ray/tasks/remove.yml).
SEAL_FILE = Path("/etc/ray/join-seal.json")
LOCK_FILE = Path("/run/rayfleet-ray-join.lock")
SEAL_VERSION = 1
REFUSED = 3
# Below the provisioner's wait for the whole call (rayfleet.autoscaler.fast_join).
RUN_LIMIT_S = 45
# The line of the node's environment file that differs from one join to the next.
NODE_ID_VARIABLE = "RAY_CLOUD_INSTANCE_ID"
# What systemd_env_quote writes unquoted (plugins/filter/systemd.py): a node id is the
# host's inventory name and a count; one that would need quotes takes the full join.
NODE_ID_PATTERN = re.compile(r"[A-Za-z0-9_.@:+-]+")
TABLE = ("inet", "rayfleet")
# Where the routes to the Internet leave from: ray_node_ip's default (Ansible's default_ipv4
# and default_ipv6 ask the same of the kernel). A UDP socket's connect sends no packet.
ROUTE_PROBES = ((socket.AF_INET, "8.8.8.8"), (socket.AF_INET6, "2001:4860:4860::8888"))


class RefusedError(Exception):
    """The host is not as the seal recorded it: nothing was changed, Ray was not started."""


def normalized_environment(text: str) -> str:
    """The environment file with the node id's value left out."""
    prefix = NODE_ID_VARIABLE + "="
    return "".join(
        prefix + "\n" if line.startswith(prefix) else line for line in text.splitlines(True)
    )


def with_node_id(text: str, node_id: str) -> str:
    """The environment file for ``node_id``; RefusedError when it has no line for the node id."""
    prefix = NODE_ID_VARIABLE + "="
    lines = text.splitlines(True)
    matches = [index for index, line in enumerate(lines) if line.startswith(prefix)]
    if len(matches) != 1:
        raise RefusedError(
            f"the environment file has {len(matches)} {NODE_ID_VARIABLE} lines, not 1"
        )
    lines[matches[0]] = f"{prefix}{node_id}\n"
    return "".join(lines)


def node_digest(files: Sequence[str], environment_file: str, token_file: str | None) -> str:
    """Each path's type, owner, group and mode, and a file's content but the node id and
    token.

    A missing path counts as such: a seal never matches a host whose files went.
    """
    digest = hashlib.sha256()
    for path in sorted({*files, environment_file, *([token_file] if token_file else [])}):
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            digest.update(json.dumps([path, None]).encode())
            continue
        kind, mode = stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode)
        digest.update(json.dumps([path, kind, info.st_uid, info.st_gid, mode]).encode())
        if path == token_file or not stat.S_ISREG(info.st_mode):
            continue
        content = Path(path).read_bytes()
        if path == environment_file:
            content = normalized_environment(content.decode("utf-8", "surrogateescape")).encode(
                "utf-8", "surrogateescape"
            )
        digest.update(hashlib.sha256(content).digest())
    return digest.hexdigest()


def route_source(family: int, destination: str) -> str | None:
    """The address this host's route towards ``destination`` leaves from, if it has one (a
    kernel without IPv6 has none)."""
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((destination, 53))
            return str(probe.getsockname()[0])
    except OSError:
        return None


def user_entry(user: str) -> list[Any] | None:
    """The Ray user's uid, gid, home and shell (what the full join's user task sets)."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return None
    return [entry.pw_uid, entry.pw_gid, entry.pw_dir, entry.pw_shell]


def host_facts(user: str) -> dict[str, Any]:
    """What the full join rendered the node from, besides its inputs: memory, CPUs, /dev/shm's
    size, the default routes' addresses, and the Ray user."""
    meminfo = Path("/proc/meminfo").read_text()
    match = re.search(r"^MemTotal:\s+(\d+)", meminfo, re.MULTILINE)
    shm = os.statvfs("/dev/shm")
    return {
        "memtotal_kb": int(match.group(1)) if match else -1,
        "cpus": os.cpu_count() or -1,
        "shm_bytes": shm.f_blocks * shm.f_frsize,
        "routes": [route_source(family, destination) for family, destination in ROUTE_PROBES],
        "user": user_entry(user),
    }


def address_is_local(address: str) -> bool:
    """Whether this host still holds the address its node announces (binding says so)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((address, 0))
        except OSError:
            return False
    return True


def unit_state(service: str) -> dict[str, str]:
    result = subprocess.run(
        ["systemctl", "show", "--property=ActiveState,UnitFileState,LoadState", service],
        capture_output=True,
        text=True,
        check=False,
    )
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


def user_processes(user: str) -> int | None:
    """How many processes the Ray user runs (a leave stops them all); None: no such user."""
    try:
        uid = pwd.getpwnam(user).pw_uid
    except KeyError:
        return None
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += 1
            except FileNotFoundError:
                continue
    return count


def firewall_loaded() -> bool:
    result = subprocess.run(
        ["nft", "list", "table", *TABLE], capture_output=True, text=True, check=False
    )
    return result.returncode == 0


def read_seal() -> dict[str, Any]:
    try:
        seal = json.loads(SEAL_FILE.read_text())
    except FileNotFoundError as error:
        raise RefusedError("no full join has sealed this host") from error
    except (OSError, ValueError) as error:
        raise RefusedError(f"the seal cannot be read: {error}") from error
    if not isinstance(seal, dict) or seal.get("v") != SEAL_VERSION:
        raise RefusedError("the seal is of another version")
    return seal


def refusal(seal: Mapping[str, Any], request: Mapping[str, Any]) -> str | None:
    """Why the host cannot join in one step, from the seal and the request alone."""
    if request.get("fingerprint") != seal["fingerprint"]:
        return "the provisioner's inventory or release changed since the last full join"
    if request.get("node_ip") != seal["node_ip"]:
        return f"the provisioner knows the node as {request.get('node_ip')}, not {seal['node_ip']}"
    node_id = request.get("node_id")
    if not isinstance(node_id, str) or not NODE_ID_PATTERN.fullmatch(node_id):
        return f"node id {node_id!r} is not a plain name"
    token = request.get("token")
    if bool(seal["token_file"]) != isinstance(token, str) or (
        isinstance(token, str) and (not token or not token.isprintable())
    ):
        return "the cluster's token does not match the node's (one has it, the other not)"
    return None


def too_late(request: Mapping[str, Any]) -> str | None:
    """Checked last, right before the first write."""
    not_after = request.get("not_after")
    if not isinstance(not_after, (int, float)) or time.time() > not_after:
        return "the provisioner has stopped waiting (its not_after has passed)"
    return None


def host_refusal(seal: Mapping[str, Any]) -> str | None:
    """Why the host cannot join in one step, from what is on it now (cheap checks first)."""
    service, user, address = seal["service"], seal["user"], seal["node_ip"]
    state = unit_state(service)
    checks: Sequence[tuple[Callable[[], bool], str]] = (
        (
            lambda: state.get("LoadState") == "loaded" and state.get("ActiveState") == "inactive",
            f"{service} is {state.get('ActiveState', 'unknown')}, not stopped",
        ),
        (lambda: state.get("UnitFileState") != "enabled", f"{service} is enabled"),
        (lambda: user_processes(user) == 0, f"{user} is gone, or processes of it still run"),
        (lambda: not seal["firewall"] or firewall_loaded(), "rayfleet's firewall is not loaded"),
        (
            lambda: host_facts(user) == seal["facts"],
            "the host's memory, CPUs, /dev/shm, default routes or Ray user changed",
        ),
        (lambda: address_is_local(address), f"the host no longer holds {address}"),
        (
            lambda: (
                node_digest(seal["files"], seal["environment_file"], seal["token_file"])
                == seal["digest"]
            ),
            "the node's files changed since the last full join",
        ),
    )
    return next((why for holds, why in checks if not holds()), None)


def write_like(path: str, content: str) -> None:
    """Replace ``path`` atomically, with its owner, group and mode."""
    info = os.stat(path)
    write_file(path, content, (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)))


def write_file(path: str, content: str, owner_group_mode: tuple[int, int, int]) -> None:
    """Replace ``path`` atomically with ``content``, owned and moded so before it is there."""
    uid, gid, mode = owner_group_mode
    fd, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".rayfleet-join-")
    try:
        os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def seal(request: Mapping[str, Any]) -> bool:
    """Record the host as the full join left it; whether the record changed."""
    files = sorted(map(str, request["files"]))
    environment_file = str(request["environment_file"])
    token_file = str(request["token_file"]) if request.get("token_file") else None
    record = {
        "v": SEAL_VERSION,
        "fingerprint": str(request["fingerprint"]),
        "service": str(request["service"]),
        "user": str(request["user"]),
        "files": files,
        "environment_file": environment_file,
        "token_file": token_file,
        "node_ip": str(request["node_ip"]),
        "firewall": bool(request["firewall"]),
        "facts": host_facts(str(request["user"])),
        "digest": node_digest(files, environment_file, token_file),
    }
    try:
        if json.loads(SEAL_FILE.read_text()) == record:
            # Root's alone, whatever happened to it since.
            os.chown(SEAL_FILE, 0, 0)
            os.chmod(SEAL_FILE, 0o600)
            return False
    except (OSError, ValueError):
        pass
    write_file(str(SEAL_FILE), json.dumps(record, indent=2, sort_keys=True), (0, 0, 0o600))
    return True


def join(request: Mapping[str, Any]) -> None:
    """Write the node id and the token, then start and enable the unit; RefusedError beforehand."""
    record = read_seal()
    why = refusal(record, request) or host_refusal(record) or too_late(request)
    if why:
        raise RefusedError(why)
    # Everything that can refuse comes before the first write.
    environment = with_node_id(Path(record["environment_file"]).read_text(), request["node_id"])
    if record["token_file"]:
        write_like(record["token_file"], request["token"])
    write_like(record["environment_file"], environment)
    # Started first: enabling reloads systemd, and the node joins sooner without waiting on it.
    for action in ("start", "enable"):
        subprocess.run(["systemctl", action, "--quiet", record["service"]], check=True)


@contextmanager
def locked() -> Iterator[None]:
    with open(LOCK_FILE, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def main(argv: Sequence[str]) -> int:
    # SIGALRM's default action ends the process: no step of it outlives the caller's wait.
    signal.alarm(RUN_LIMIT_S)
    try:
        return run(argv)
    finally:
        signal.alarm(0)


def run(argv: Sequence[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("seal", "join"):
        print("usage: rayfleet-ray-join seal|join < request.json", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("rayfleet-ray-join: only root may run it", file=sys.stderr)
        return 2
    try:
        request = json.loads(sys.stdin.read())
        if not isinstance(request, dict):
            raise ValueError("not an object")
    except ValueError as error:
        print(f"rayfleet-ray-join: the request is no JSON object: {error}", file=sys.stderr)
        return 2
    try:
        with locked():
            if argv[0] == "seal":
                print("changed" if seal(request) else "unchanged")
            else:
                join(request)
    except RefusedError as why:
        print(f"rayfleet-ray-join: refused: {why}", file=sys.stderr)
        return REFUSED
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
