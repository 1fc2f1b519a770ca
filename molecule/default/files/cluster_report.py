"""Verify driver: prints the alive nodes and where a task asking for each resource ran."""

from __future__ import annotations

import json
import socket
import sys

import ray


@ray.remote(num_cpus=0)
def hostname() -> str:
    return socket.gethostname()


def main(address: str, resources: list[str]) -> None:
    ray.init(address=address, logging_level="ERROR")
    nodes = [
        {"ip": node["NodeManagerAddress"], "resources": node["Resources"], "labels": node["Labels"]}
        for node in ray.nodes()
        if node["Alive"]
    ]
    pinned = {
        resource: ray.get(hostname.options(resources={resource: 1}).remote())
        for resource in resources
    }
    print(json.dumps({"nodes": nodes, "pinned": pinned}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
