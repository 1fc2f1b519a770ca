"""Probe a cluster's GCS fault tolerance from its head, with the head's Ray venv.

Used by the gcs_ft molecule scenario and by bench/head_recovery.py; each command
prints one JSON line and exits non-zero when what it checks does not hold.

  setup    a detached actor pinned to a worker, and a long job whose driver runs there
  check    the actor answers from the same process; the worker keeps its node id
  lost     the actor and the worker's node are gone (a cluster without GCS storage)
  job      waits for the job and succeeds when it did
  recover  kills the GCS with SIGKILL and times the cluster's way back
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import ray

# Ray's own GCS client: reads node states straight from the GCS, without the dashboard.
from ray._raylet import GcsClient  # type: ignore[attr-defined]
from ray.core.generated.gcs_pb2 import GcsNodeInfo  # type: ignore[attr-defined]
from ray.job_submission import JobStatus, JobSubmissionClient
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

ACTOR = "rayfleet-gcs-probe"
NAMESPACE = "rayfleet-gcs-probe"
POLL_S = 0.1
T = TypeVar("T")

# The job's driver: a task a second for a while, so it spans the head's restarts.
JOB_PROGRAM = """
import sys, time, ray
ray.init()
tick = ray.remote(num_cpus=0)(lambda i: i)
for i in range(int(sys.argv[1])):
    assert ray.get(tick.remote(i)) == i
    time.sleep(1)
print("ticks done")
"""


@ray.remote(num_cpus=0, max_restarts=0)
class Probe:
    def pid(self) -> int:
        return os.getpid()


def alive_nodes(gcs_address: str, timeout_s: float = 2) -> dict[str, str]:
    """ALIVE nodes as the GCS reports them: node id (hex) to IP."""
    infos = GcsClient(address=gcs_address).get_all_node_info(
        timeout=timeout_s, state_filter=GcsNodeInfo.GcsNodeState.ALIVE
    )
    return {info.node_id.hex(): info.node_manager_address for info in infos.values()}


def retry(what: Callable[[], T], timeout_s: float) -> T:
    """what(), retried until it returns without raising or the time is up."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return what()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(POLL_S)


def setup(args: argparse.Namespace) -> dict[str, Any]:
    ray.init(address=args.address, namespace=NAMESPACE, log_to_driver=False)
    worker_id = next(
        node["NodeID"]
        for node in ray.nodes()
        if node["Alive"] and node["NodeManagerAddress"] == args.worker_ip
    )
    actor = Probe.options(  # type: ignore[attr-defined]
        name=ACTOR,
        lifetime="detached",
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=worker_id, soft=False),
    ).remote()
    pid = ray.get(actor.pid.remote(), timeout=60)
    ray.shutdown()
    state = {"actor_pid": pid, "worker_node_id": worker_id}
    if args.job_resource:
        # The driver runs where the resource is, not on the head, so the job
        # outlives the head's restarts.
        client = JobSubmissionClient(args.dashboard)
        job_id = client.submit_job(
            entrypoint=f"python -c {shlex.quote(JOB_PROGRAM)} {args.job_seconds}",
            entrypoint_resources={args.job_resource: 1},
        )
        # Ray's job manager does not resume a job that was still PENDING when the
        # head went down: fail over only a job that runs.
        status = retry(lambda: running(client, job_id), args.timeout)
        state["job_id"] = job_id
        state["job_status"] = str(status)
    Path(args.state).write_text(json.dumps(state))
    return state


def running(client: JobSubmissionClient, job_id: str) -> JobStatus:
    """The job's status once it runs; raises while it is still pending."""
    status = client.get_job_status(job_id)
    if status == JobStatus.PENDING:
        raise RuntimeError(f"job {job_id} is still pending")
    return status


def actor_pid(address: str) -> int:
    ray.init(address=address, namespace=NAMESPACE, log_to_driver=False)
    try:
        pid: Any = ray.get(ray.get_actor(ACTOR).pid.remote(), timeout=30)
        return int(pid)
    finally:
        ray.shutdown()


def check(args: argparse.Namespace) -> dict[str, Any]:
    state = json.loads(Path(args.state).read_text())
    nodes = retry(lambda: alive_nodes(args.address), args.timeout)
    pid = retry(lambda: actor_pid(args.address), args.timeout)
    result = {
        "worker_alive": state["worker_node_id"] in nodes,
        "actor_pid": pid,
        "same_actor_process": pid == state["actor_pid"],
    }
    result["ok"] = result["worker_alive"] and result["same_actor_process"]
    return result


def lost(args: argparse.Namespace) -> dict[str, Any]:
    state = json.loads(Path(args.state).read_text())
    nodes = retry(lambda: alive_nodes(args.address), args.timeout)
    try:
        actor_pid(args.address)
        actor_found = True
    except ValueError:  # ray.get_actor: no such actor
        actor_found = False
    worker_alive = state["worker_node_id"] in nodes
    return {
        "actor_found": actor_found,
        "worker_alive": worker_alive,
        "ok": not actor_found and not worker_alive,
    }


def job(args: argparse.Namespace) -> dict[str, Any]:
    state = json.loads(Path(args.state).read_text())
    client = JobSubmissionClient(args.dashboard)
    deadline = time.monotonic() + args.timeout
    status = client.get_job_status(state["job_id"])
    while not status.is_terminal() and time.monotonic() < deadline:
        time.sleep(1)
        status = client.get_job_status(state["job_id"])
    return {"status": str(status), "ok": status == JobStatus.SUCCEEDED}


def monotonic_timestamp_s(unit: str, prop: str) -> float:
    """A systemd unit's *TimestampMonotonic property, in seconds of time.monotonic()."""
    value = subprocess.run(
        ["systemctl", "show", "--value", f"--property={prop}", unit],
        capture_output=True,
        check=True,
        text=True,
    ).stdout.strip()
    return int(value) / 1e6


def recover(args: argparse.Namespace) -> dict[str, Any]:
    """Kill the GCS; time until the head is back and every node ALIVE again.

    head_start_s is Ray's own part: from systemd starting `ray start --head`
    again to the new head node ALIVE in the GCS.
    """
    before = alive_nodes(args.address)
    head_ip = args.address.rsplit(":", 1)[0]
    workers = {node for node, ip in before.items() if ip != head_ip}
    gcs_pid = int(
        subprocess.run(
            ["pgrep", "-x", "gcs_server"], capture_output=True, check=True, text=True
        ).stdout.split()[0]
    )
    old_start = monotonic_timestamp_s(args.unit, "ExecMainStartTimestampMonotonic")
    killed = time.monotonic()
    os.kill(gcs_pid, signal.SIGKILL)
    deadline = killed + args.timeout
    while time.monotonic() < deadline:
        try:
            nodes = alive_nodes(args.address, timeout_s=1)
        except Exception:
            time.sleep(POLL_S)
            continue
        head_back = any(ip == head_ip and node not in before for node, ip in nodes.items())
        if head_back and workers <= nodes.keys():
            ready = time.monotonic()
            started = monotonic_timestamp_s(args.unit, "ExecMainStartTimestampMonotonic")
            if started == old_start:
                raise RuntimeError(f"{args.unit} did not restart")
            return {
                "recovery_s": round(ready - killed, 3),
                "head_start_s": round(ready - started, 3),
                "workers_kept": len(workers),
                "ok": True,
            }
        time.sleep(POLL_S)
    return {"ok": False, "error": f"not recovered within {args.timeout}s"}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["setup", "check", "lost", "job", "recover"])
    parser.add_argument("--address", required=True, help="GCS address, ip:port")
    parser.add_argument("--dashboard", help="dashboard URL (setup, job)")
    parser.add_argument("--state", default="/var/tmp/rayfleet-gcs-probe.json")
    parser.add_argument("--worker-ip", help="setup: the worker that hosts the actor")
    parser.add_argument(
        "--job-resource", help="setup: a resource only that worker has; without it, no job"
    )
    parser.add_argument("--job-seconds", type=int, default=90)
    parser.add_argument("--unit", default="ray", help="recover: the head's systemd unit")
    parser.add_argument("--timeout", type=float, default=120)
    return parser.parse_args(argv)


COMMANDS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "setup": setup,
    "check": check,
    "lost": lost,
    "job": job,
    "recover": recover,
}


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    result = COMMANDS[args.command](args)
    print(json.dumps(result), flush=True)
    return 0 if result.get("ok", True) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
