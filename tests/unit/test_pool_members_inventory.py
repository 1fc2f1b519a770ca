"""The pool_members inventory plugin reads what the node provider writes, and trusts none of it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from rayfleet.autoscaler.members_inventory import render
from rayfleet.autoscaler.state import (
    HostRecord,
    LaunchRequest,
    PoolHost,
    Status,
    allocate,
    mark_free,
    rebuild,
)

POOL = (PoolHost("small-1", "pool_small", "10.0.0.21"), PoolHost("big-1", "pool_big", "10.0.0.31"))
# The cluster's own inventory, listed before the plugin's source.
CLUSTER_INVENTORY = {
    "all": {
        "children": {
            "ray_head": {"hosts": {"head": {}}},
            "ray_workers": {"children": {"pool_small": {}, "pool_big": {}}},
            "ray_pool": {
                "children": {
                    "pool_small": {"hosts": {"small-1": {}}},
                    "pool_big": {"hosts": {"big-1": {}}},
                }
            },
        }
    }
}


def list_with_members(repo_root: Path, tmp_path: Path, members_text: str) -> tuple[Any, str]:
    """``ansible-inventory --list`` of the cluster's inventory plus the members file; warnings."""
    cluster = tmp_path / "hosts.yml"
    cluster.write_text(yaml.safe_dump(CLUSTER_INVENTORY))
    members = tmp_path / "members.yml"
    members.write_text(members_text)
    config = tmp_path / "members.rayfleet.yml"
    config.write_text(
        yaml.safe_dump({"plugin": "rayfleet.cluster.pool_members", "path": str(members)})
    )
    env = {name: value for name, value in os.environ.items() if not name.startswith("ANSIBLE_")}
    env["ANSIBLE_COLLECTIONS_PATH"] = str(repo_root / ".ansible" / "collections")
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("ansible-inventory")),
            *("-i", str(cluster), "-i", str(config), "--list"),
        ],
        capture_output=True,
        check=True,
        text=True,
        env=env,
    )
    return yaml.safe_load(run.stdout), " ".join(run.stderr.split())


def host_vars(listing: Any, host: str) -> dict[str, str]:
    """A host's variables as plain strings (the JSON listing marks them unsafe, as they are)."""
    return {
        name: value["__ansible_unsafe"] if isinstance(value, dict) else value
        for name, value in listing["_meta"]["hostvars"][host].items()
    }


def test_ansible_inventory_lists_the_members_by_group(repo_root: Path, tmp_path: Path) -> None:
    text = render(
        {
            "small-1": HostRecord(status=Status.RUNNING, node_id="small-1-3"),
            "big-1": HostRecord(status=Status.FREE, node_id=""),
        },
        POOL,
        "lab",
    )
    listing, warnings = list_with_members(repo_root, tmp_path, text)
    assert listing["ray_pool_members"]["hosts"] == ["small-1"]
    assert listing["pool_small"]["hosts"] == ["small-1"]
    assert listing["pool_big"]["hosts"] == ["big-1"]
    assert host_vars(listing, "small-1") == {
        "rayfleet_node_id": "small-1-3",
        "rayfleet_pool_status": "running",
    }
    assert "big-1" not in listing["_meta"]["hostvars"]
    assert "members inventory" not in warnings


def test_what_a_job_plants_in_the_members_file_changes_nothing(
    repo_root: Path, tmp_path: Path
) -> None:
    # A job runs as ray, which owns the file: it adds a host, variables that would run
    # commands on the controller, a foreign group and a node id that would inject into
    # the unit's environment.
    planted = {
        "all": {
            "children": {
                "ray_pool_members": {
                    "hosts": {
                        "small-1": {
                            "rayfleet_node_id": "small-1-3",
                            "rayfleet_pool_status": "running",
                            "ansible_connection": "local",
                            "ansible_python_interpreter": "/bin/sh -c 'touch /tmp/pwned'",
                        },
                        "big-1": {
                            "rayfleet_node_id": "big-1-1\nRAY_AUTH_MODE=disabled",
                            "rayfleet_pool_status": "running",
                        },
                        "attacker": {"rayfleet_node_id": "attacker-1"},
                    }
                },
                "ray_head": {"hosts": {"small-1": {}}},
                "pool_big": {"hosts": {"small-1": {}}},
                "pool_small": {"hosts": {"small-1": {}}},
            }
        }
    }
    listing, warnings = list_with_members(repo_root, tmp_path, yaml.safe_dump(planted))
    assert listing["ray_pool_members"]["hosts"] == ["small-1"]
    assert listing["ray_head"]["hosts"] == ["head"]
    assert listing["pool_big"]["hosts"] == ["big-1"]
    assert host_vars(listing, "small-1") == {
        "rayfleet_node_id": "small-1-3",
        "rayfleet_pool_status": "running",
    }
    assert "big-1" not in listing["_meta"]["hostvars"]
    assert "attacker" not in listing["_meta"]["hostvars"]
    for expected in (
        "attacker is not a pool host of this inventory",
        "big-1: rayfleet_node_id 'big-1-1\\nRAY_AUTH_MODE=disabled' is not big-1-<number>",
        "small-1: variables ansible_connection, ansible_python_interpreter ignored",
        "small-1 is not a pool host of type ray_head; group ignored",
        "small-1 is not a pool host of type pool_big; group ignored",
    ):
        assert expected in warnings, warnings


def test_members_of_a_rebuilt_state_are_listed(repo_root: Path, tmp_path: Path) -> None:
    # A rebuilt state allocates from the epoch's seconds on (state.rebuild): 10 digits.
    left = mark_free(rebuild(POOL, {}, 1_800_000_000), "big-1", 1_800_000_001)
    allocated, _ = allocate(left, POOL, LaunchRequest("pool_big", 1), 1_800_000_002)
    listing, warnings = list_with_members(repo_root, tmp_path, render(allocated, POOL, "lab"))
    assert listing["ray_pool_members"]["hosts"] == ["big-1"]
    assert host_vars(listing, "big-1")["rayfleet_node_id"] == "big-1-1800000001"
    assert "is not big-1-<number>" not in warnings
