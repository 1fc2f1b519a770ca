"""The pool_members inventory plugin reads what the node provider writes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from rayfleet.autoscaler.members_inventory import render
from rayfleet.autoscaler.state import HostRecord, PoolHost, Status

POOL = (PoolHost("small-1", "pool_small", "10.0.0.21"), PoolHost("big-1", "pool_big", "10.0.0.31"))


def test_ansible_inventory_lists_the_members_by_group(repo_root: Path, tmp_path: Path) -> None:
    members = tmp_path / "members.yml"
    members.write_text(
        render(
            {
                "small-1": HostRecord(status=Status.RUNNING, node_id="small-1-3"),
                "big-1": HostRecord(status=Status.FREE, node_id=""),
            },
            POOL,
            "lab",
        )
    )
    config = tmp_path / "members.rayfleet.yml"
    config.write_text(
        yaml.safe_dump({"plugin": "rayfleet.cluster.pool_members", "path": str(members)})
    )
    env = {name: value for name, value in os.environ.items() if not name.startswith("ANSIBLE_")}
    env["ANSIBLE_COLLECTIONS_PATH"] = str(repo_root / ".ansible" / "collections")
    listing = yaml.safe_load(
        subprocess.run(
            [
                str(Path(sys.executable).with_name("ansible-inventory")),
                *("-i", str(config), "--list", "--yaml"),
            ],
            capture_output=True,
            check=True,
            text=True,
            env=env,
        ).stdout
    )
    groups = listing["all"]["children"]
    assert list(groups["ray_pool_members"]["hosts"]) == ["small-1"]
    assert list(groups["pool_small"]["hosts"]) == ["small-1"]
    assert "pool_big" not in groups
    # The YAML listing shows a host's variables under one of its groups.
    hostvars = {
        name: value
        for group in groups.values()
        for name, value in (group["hosts"]["small-1"] or {}).items()
    }
    assert hostvars == {"rayfleet_node_id": "small-1-3", "rayfleet_pool_status": "running"}
