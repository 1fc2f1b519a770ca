"""Probe a cluster's autoscaling from its head, with the head's Ray venv.

Used by the autoscaler molecule scenario and bench/autoscaler_latency.py; each command
prints one JSON line and exits non-zero when what it checks does not hold.

  job       runs a job whose task needs a resource only a pool node type has; waits for it
  request   asks the autoscaler for --count bundles of such a resource (0 withdraws it);
            the request lives in the GCS, so it outlasts the head's restart
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import ray
from ray.autoscaler.sdk import request_resources
from ray.job_submission import JobStatus, JobSubmissionClient

# The job's driver runs on the head; its one task must wait for a pool host.
JOB_PROGRAM = """
import socket, sys, ray
ray.init()
where = ray.remote(num_cpus=0, resources={sys.argv[1]: 1})(lambda: socket.gethostname())
print("task ran on", ray.get(where.remote()))
"""


def job(args: argparse.Namespace) -> dict[str, Any]:
    client = JobSubmissionClient(args.dashboard)
    job_id = client.submit_job(
        entrypoint=f"python -c '{JOB_PROGRAM}' {args.resource}",
    )
    deadline = time.monotonic() + args.timeout
    status = client.get_job_status(job_id)
    while not status.is_terminal() and time.monotonic() < deadline:
        time.sleep(1)
        status = client.get_job_status(job_id)
    logs = client.get_job_logs(job_id)
    hosts = [line.split()[-1] for line in logs.splitlines() if line.startswith("task ran on")]
    return {
        "job_id": job_id,
        "status": str(status),
        "host": hosts[-1] if hosts else "",
        "ok": status == JobStatus.SUCCEEDED,
    }


def request(args: argparse.Namespace) -> dict[str, Any]:
    ray.init(address=args.address, log_to_driver=False)
    request_resources(bundles=[{args.resource: 1}] * args.count)
    ray.shutdown()
    return {"requested": args.count, "ok": True}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, runs in (("job", job), ("request", request)):
        command = commands.add_parser(name)
        command.add_argument("--address", help="the GCS, host:port")
        command.add_argument("--dashboard", help="the dashboard, http://host:port")
        command.add_argument("--resource", required=True)
        command.add_argument("--timeout", type=float, default=300)
        command.add_argument("--count", type=int, default=1)
        command.set_defaults(runs=runs)
    args = parser.parse_args()
    result = args.runs(args)
    print(json.dumps(result))
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
