"""Runs on the head: what Ray says of each node, and what a task asking for 1 GPU sees there."""

from __future__ import annotations

import json
import os
import sys

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy


@ray.remote(num_gpus=1)
def visible_gpus() -> str | None:
    return os.environ.get("CUDA_VISIBLE_DEVICES")


def main() -> None:
    ray.init(address=sys.argv[1], logging_level="ERROR")
    alive = [node for node in ray.nodes() if node["Alive"]]
    # One task on each node that offers GPUs, held to that node.
    seen = {
        node["NodeID"]: visible_gpus.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
        ).remote()
        for node in alive
        if node["Resources"].get("GPU")
    }
    print(
        json.dumps(
            {
                "nodes": [
                    {
                        "ip": node["NodeManagerAddress"],
                        "resources": node["Resources"],
                        "slot": node.get("Labels", {}).get("rayfleet.io/slot"),
                        "task_saw": ray.get(seen[node["NodeID"]], timeout=120)
                        if node["NodeID"] in seen
                        else None,
                    }
                    for node in alive
                ]
            }
        )
    )


if __name__ == "__main__":
    main()
