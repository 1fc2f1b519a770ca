"""Sample job: spreads small tasks over the cluster and reports which nodes ran them."""

from __future__ import annotations

import collections
import socket
import time

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

TASKS = 30
# Each task holds its CPU this long: tasks that end at once all run where the driver's
# workers already are (the head), whatever the strategy.
TASK_SECONDS = 1.0


@ray.remote(num_cpus=1, scheduling_strategy="SPREAD")
def where_am_i(index: int) -> tuple[int, str, str]:
    time.sleep(TASK_SECONDS)
    return index, socket.gethostname(), ray.get_runtime_context().get_node_id()


def main() -> None:
    ray.init()
    results = ray.get([where_am_i.remote(i) for i in range(TASKS)])
    per_host = collections.Counter(host for _, host, _ in results)
    alive = [node for node in ray.nodes() if node["Alive"]]
    print(f"{len(alive)} nodes alive; {TASKS} tasks ran on {len(per_host)} of them:")
    for host, count in sorted(per_host.items()):
        print(f"  {host}: {count} tasks")
    # SPREAD is best effort; a task pinned to each node shows every one of them runs work.
    pinned = ray.get(
        [
            where_am_i.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
            ).remote(index)
            for index, node in enumerate(alive)
        ]
    )
    ran = {node_id for _, _, node_id in pinned}
    print(f"{len(ran)} of {len(alive)} nodes ran a task pinned to them")


if __name__ == "__main__":
    main()
