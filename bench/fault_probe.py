"""Runs on a lab host for bench/fault_recovery.py: injects one fault and times, on the
host's monotonic clock (the lab's one kernel clock), the recovery it can see itself.

    python3 fault_probe.py at -- COMMAND...     the clock, then COMMAND
    python3 fault_probe.py provisioner crash|restart
    python3 fault_probe.py state-rebuild

Each prints one JSON line.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable

PROVISIONER = "rayfleet-provisioner"
SOCKET = "/run/rayfleet/provisioner.sock"
STATE = "/var/lib/rayfleet/autoscaler/state.json"
POLL_S = 0.05
TIMEOUT_S = 300.0


def wait_until(condition: Callable[[], bool], what: str) -> float:
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(POLL_S)
    return time.monotonic()


def main_pid() -> str:
    return subprocess.run(
        ["systemctl", "show", "--value", "--property=MainPID", PROVISIONER],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def answers() -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        try:
            client.connect(SOCKET)
        except OSError:
            return False
    return True


def provisioner(how: str) -> dict[str, float]:
    before = main_pid()
    command = (
        ["systemctl", "kill", "--signal=KILL", "--kill-whom=main", PROVISIONER]
        if how == "crash"
        else ["systemctl", "restart", "--no-block", PROVISIONER]
    )
    started = time.monotonic()
    subprocess.run(command, check=True)
    # A new process (the dead one's socket file may linger) that accepts connections.
    done = wait_until(lambda: main_pid() not in ("0", before) and answers(), "provisioner")
    return {"seconds": round(done - started, 3)}


def rebuilt() -> bool:
    if not glob.glob(f"{STATE}.bad-*"):
        return False
    try:
        with open(STATE, encoding="utf-8") as file:
            json.load(file)
    except (OSError, ValueError):
        return False
    return True


def state_rebuild() -> dict[str, float]:
    stat = os.stat(STATE)
    started = time.monotonic()
    with open(STATE, "w", encoding="utf-8") as file:
        file.write("{")
    os.chown(STATE, stat.st_uid, stat.st_gid)
    done = wait_until(rebuilt, "state rebuild")
    for aside in glob.glob(f"{STATE}.bad-*"):
        os.unlink(aside)
    return {"seconds": round(done - started, 3)}


def main() -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="probe", required=True)
    at = sub.add_parser("at")
    at.add_argument("command", nargs=argparse.REMAINDER)
    sub.add_parser("provisioner").add_argument("how", choices=["crash", "restart"])
    sub.add_parser("state-rebuild")
    args = parser.parse_args()
    if args.probe == "at":
        started = time.monotonic()
        subprocess.run([arg for arg in args.command if arg != "--"], check=True)
        result = {"at": started}
    elif args.probe == "provisioner":
        result = provisioner(args.how)
    else:
        result = state_rebuild()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
