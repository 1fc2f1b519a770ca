"""Runs on the head: a task held to a worker, whose result (or error) it prints as JSON."""

from __future__ import annotations

import json
import socket
import sys
import time

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy


@ray.remote(num_cpus=1, max_retries=0)
def slow_task(seconds: float) -> str:
    time.sleep(seconds)
    return socket.gethostname()


def main() -> None:
    address, worker_ip, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    ray.init(address=address, logging_level="ERROR")
    [node] = [n for n in ray.nodes() if n["Alive"] and n["NodeManagerAddress"] == worker_ip]
    task = slow_task.options(
        scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
    ).remote(seconds)
    try:
        print(json.dumps({"result": ray.get(task, timeout=seconds + 60)}))
    # Whatever ended the task is the finding.
    except Exception as error:
        print(json.dumps({"error": f"{type(error).__name__}: {error}"}))


if __name__ == "__main__":
    main()
