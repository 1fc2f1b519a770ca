"""Runs on the head: what Ray says of each node, and what a task asking for 1 GPU sees."""

from __future__ import annotations

import json
import os
import sys

import ray


@ray.remote(num_gpus=1)
def visible_gpus() -> dict[str, object]:
    return {
        "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "node_ip": ray.util.get_node_ip_address(),
    }


def main() -> None:
    ray.init(address=sys.argv[1], logging_level="ERROR")
    nodes = [
        {
            "ip": node["NodeManagerAddress"],
            "resources": node["Resources"],
            "labels": node.get("Labels", {}),
        }
        for node in ray.nodes()
        if node["Alive"]
    ]
    print(json.dumps({"nodes": nodes, "task": ray.get(visible_gpus.remote(), timeout=120)}))


if __name__ == "__main__":
    main()
