"""Sample job: spreads small tasks over the cluster and reports which nodes ran them."""

from __future__ import annotations

import collections
import socket

import ray

TASKS = 30


@ray.remote(num_cpus=1, scheduling_strategy="SPREAD")
def where_am_i(index: int) -> tuple[int, str, str]:
    return index, socket.gethostname(), ray.get_runtime_context().get_node_id()


def main() -> None:
    ray.init()
    results = ray.get([where_am_i.remote(i) for i in range(TASKS)])
    per_host = collections.Counter(host for _, host, _ in results)
    alive = [node for node in ray.nodes() if node["Alive"]]
    print(f"{len(alive)} nodes alive; {TASKS} tasks ran on {len(per_host)} of them:")
    for host, count in sorted(per_host.items()):
        print(f"  {host}: {count} tasks")


if __name__ == "__main__":
    main()
