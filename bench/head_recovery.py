"""Head recovery time of a cluster with GCS fault tolerance (issue 3's benchmark).

Each run kills the head's GCS with SIGKILL (gcs_probe.py recover, on the head) and
measures two figures on the head's own clock:

  recovery_s    from the kill to the GCS answering with a new head node and every
                worker that was ALIVE before still ALIVE under its node id
  head_start_s  Ray's own part of it: from systemd starting `ray start --head`
                again to the new head node ALIVE

Target: median recovery_s at most 5 s above median head_start_s.

    make lab && .venv/bin/python bench/head_recovery.py -i inventories/lab --runs 7
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from figures import REPO_ROOT, lab_arguments, summary, write_figures

from ansible_collections.rayfleet.cluster.plugins.module_utils.names import HEAD_GROUP
from rayfleet.auth import NODE_TOKEN_FILE, shell_prefix
from rayfleet.inventory import list_inventory
from rayfleet.paths import node_python
from rayfleet.runner import run_module

PROBE = REPO_ROOT / "src" / "rayfleet" / "jobs" / "gcs_probe.py"
PROBE_ON_HEAD = "/usr/local/lib/gcs_probe.py"
TARGET_OVERHEAD_S = 5.0
SETTLE_S = 15


def head_of(inventory: Path) -> tuple[str, str]:
    """The first head of the inventory and its GCS address."""
    listing = list_inventory(inventory)
    head = listing[HEAD_GROUP]["hosts"][0]
    hostvars = listing["_meta"]["hostvars"][head]
    address = hostvars.get("ray_node_ip", hostvars.get("ansible_host", head))
    return head, f"{address}:{hostvars.get('ray_gcs_port', 6379)}"


def main() -> int:
    parser = lab_arguments(__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    head, gcs = head_of(args.inventory)
    run_module("ansible.builtin.copy", f"src={PROBE} dest={PROBE_ON_HEAD}", args.inventory, head)
    probe = (
        f"{shell_prefix(NODE_TOKEN_FILE)} {node_python()} {PROBE_ON_HEAD} "
        f"recover --address {gcs} --timeout 180"
    )
    runs: list[dict[str, Any]] = []
    for number in range(1, args.runs + 1):
        result = run_module("ansible.builtin.command", f"chdir=/ {probe}", args.inventory, head)[
            head
        ]
        run = json.loads(result["stdout_lines"][-1])
        if not run["ok"]:
            raise RuntimeError(f"run {number}: {run}")
        runs.append(run)
        print(f"run {number}: {json.dumps(run)}", flush=True)
        # The dashboard and agents finish starting after the GCS is back.
        time.sleep(SETTLE_S)

    recovery = summary([run["recovery_s"] for run in runs])
    head_start = summary([run["head_start_s"] for run in runs])
    overhead = round(recovery["median"] - head_start["median"], 3)
    figures = write_figures(
        args.out,
        "head_recovery",
        {
            "inventory": str(args.inventory),
            "runs": runs,
            "recovery_s": recovery,
            "head_start_s": head_start,
            "median_overhead_s": overhead,
            "target_overhead_s": TARGET_OVERHEAD_S,
            "meets_target": overhead <= TARGET_OVERHEAD_S,
        },
    )
    print(
        f"\n{len(runs)} runs: recovery median {recovery['median']} s (max {recovery['max']} s); "
        f"Ray's head start median {head_start['median']} s (max {head_start['max']} s); "
        f"difference {overhead} s (target <= {TARGET_OVERHEAD_S} s: "
        f"{'met' if figures['meets_target'] else 'missed'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
