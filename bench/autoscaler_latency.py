"""Scale-up and scale-down latency of the pool autoscaler (issue 4's benchmark).

Each run asks the autoscaler for one node of a pool type (pool_probe.py request, on the
head; the request is what a pending task would create) and measures, on the machine's
one monotonic clock (lab hosts are containers of this kernel):

  scale_up_s    from the request to the pool host's node ALIVE in Ray
  ray_start_s   Ray's own part of it: from systemd starting `ray start` on the pool
                host to the node ALIVE
  scale_down_s  from withdrawing the request to the host back in the pool (its node
                gone from Ray, its unit stopped), which includes the idle timeout
  leave_s       the provider's own part of the scale-down: from the autoscaler's
                terminate call to the host free again (the provisioner's journal on the head)

warm: the pool type whose hosts have Ray installed ahead (ray_pool_preinstall), joined in
one step (rayfleet-ray-join: the host was sealed by an earlier full join); warm_full: the
same host with its seal removed first, so that it takes the full join (join.yml) as on its
first join; cold: the type whose host gets Ray installed by the join (wiped before each
run). Each run records which join the provisioner logged ("join": one step or full).
Target (warm): median scale_up_s at most 2 x median ray_start_s + one update interval.

    make lab && .venv/bin/python bench/autoscaler_latency.py -i inventories/lab
"""

from __future__ import annotations

import json
import re
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from figures import REPO_ROOT, lab_arguments, summary, write_figures

from ansible_collections.rayfleet.cluster.plugins.module_utils.names import HEAD_GROUP, POOL_GROUP
from rayfleet.auth import NODE_TOKEN_FILE, controller_token_file, shell_prefix
from rayfleet.inventory import list_inventory
from rayfleet.paths import node_python
from rayfleet.runner import run_module

PROBE = REPO_ROOT / "src" / "rayfleet" / "jobs" / "pool_probe.py"
PROBE_ON_HEAD = "/usr/local/lib/pool_probe.py"
STATE = "/var/lib/rayfleet/autoscaler/state.json"
# What a full join leaves on a host (roles/ray/files/rayfleet_ray_join.py): without it, the
# next join is full too.
SEAL = "/etc/ray/join-seal.json"
# Sealed and unsealed warm runs, and cold runs: what a run does to its host first.
PREPARE = {"warm": "", "warm_full": f"rm -f {SEAL}", "cold": "rm -rf /opt/ray /var/cache/rayfleet"}
# The last lines only: a long journal comes back empty through ansible-runner's events.
PROVISIONER_LOG = "journalctl --unit rayfleet-provisioner --output cat --no-pager --lines 500"
POLL_S = 0.2
LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})")


class Lab:
    """The lab cluster as the inventory describes it, reached through ansible-runner."""

    def __init__(self, inventory: Path) -> None:
        self.inventory = inventory
        listing = list_inventory(inventory)
        hostvars = listing["_meta"]["hostvars"]
        self.head = listing[HEAD_GROUP]["hosts"][0]
        self.address = {name: vars_.get("ansible_host", name) for name, vars_ in hostvars.items()}
        head_vars = hostvars[self.head]
        self.gcs = f"{self.address[self.head]}:{head_vars.get('ray_gcs_port', 6379)}"
        self.dashboard = (
            f"http://{self.address[self.head]}:{head_vars.get('ray_dashboard_port', 8265)}"
        )
        self.update_interval_s = float(head_vars.get("ray_autoscaler_update_interval_s", 5))
        self.idle_timeout_s = 60 * float(head_vars.get("ray_autoscaler_idle_timeout_minutes", 5))
        self.pool_types = {
            group: listing[group]["hosts"]
            for group in listing.get(POOL_GROUP, {}).get("children", [])
        }
        self.hostvars = hostvars
        token_file = controller_token_file(inventory.resolve(), head_vars["ray_cluster_name"])
        self.auth = {"Authorization": f"Bearer {token_file.read_text().strip()}"}

    def command(self, host: str, command: str) -> str:
        result = run_module("ansible.builtin.command", f"chdir=/ {command}", self.inventory, host)
        if "stdout" not in result[host]:
            raise RuntimeError(f"{host}: {command}: {result[host]}")
        return str(result[host]["stdout"])

    def request(self, resource: str, count: int) -> float:
        """Ask for ``count`` nodes offering ``resource``; the monotonic time of the ask."""
        before = time.monotonic()
        self.command(
            self.head,
            f"{shell_prefix(NODE_TOKEN_FILE)} {node_python()} {PROBE_ON_HEAD} request "
            f"--address {self.gcs} "
            f"--resource {resource} --count {count}",
        )
        # ray.init takes most of the command's time; the request is its last step.
        return before + (time.monotonic() - before) * 0.9

    def alive_nodes(self) -> dict[str, str]:
        """The node id of each address with an ALIVE node."""
        url = (
            f"{self.dashboard}/api/v0/nodes?detail=false"
            "&filter_keys=state&filter_predicates=%3D&filter_values=ALIVE"
        )
        request = urllib.request.Request(url, headers=self.auth)
        with urllib.request.urlopen(request, timeout=5) as response:
            nodes = json.load(response)["data"]["result"]["result"]
        return {node["node_ip"]: node["node_id"] for node in nodes}

    def alive_ips(self) -> set[str]:
        return set(self.alive_nodes())

    def pool_status(self, host: str) -> str:
        state = json.loads(self.command(self.head, f"cat {STATE}"))
        return str(state["hosts"].get(host, {}).get("status", "free"))

    def unit_started(self, host: str) -> float:
        value = self.command(
            host, "systemctl show --value --property=ExecMainStartTimestampMonotonic ray"
        )
        return int(value) / 1e6

    def leave_seconds(self, host: str) -> float:
        """The last leave of ``host`` in the provisioner's log: terminate call to host free."""
        marks = (f"rayfleet: {host} (node", f"rayfleet: {host} is back")
        log = self.command(self.head, PROVISIONER_LOG)
        lines = [line for line in log.splitlines() if any(mark in line for mark in marks)]
        times = [
            datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            for line in lines[-2:]
            if (match := LOG_TIME.match(line))
        ]
        return round(times[1] - times[0], 3)

    def last_join(self, host: str) -> str:
        """Which join the provisioner logged last for ``host``: one step or full."""
        marks = {
            f"join.yml {host}: joined in one step": "one step",
            f"join.yml {host}: starting": "full",
        }
        log = self.command(self.head, PROVISIONER_LOG)
        found = [kind for line in log.splitlines() for mark, kind in marks.items() if mark in line]
        return found[-1] if found else "none logged"


def wait_until(what: Callable[[], bool], timeout_s: float) -> float:
    deadline = time.monotonic() + timeout_s
    while not what():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(POLL_S)
    return time.monotonic()


def one_run(lab: Lab, node_type: str, host: str, kind: str) -> dict[str, Any]:
    resource = next(iter(lab.hostvars[host].get("ray_resources", {})))
    ip = lab.address[host]
    # A run starts with the host back in the pool (the lab's sample job may have just used it).
    wait_until(lambda: ip not in lab.alive_ips(), lab.idle_timeout_s + 300)
    wait_until(lambda: lab.pool_status(host) == "free", 300)
    if PREPARE[kind]:
        lab.command(host, PREPARE[kind])
    requested = lab.request(resource, 1)
    alive = wait_until(lambda: ip in lab.alive_ips(), 900)
    ray_start = alive - lab.unit_started(host)
    withdrawn = lab.request(resource, 0)
    gone = wait_until(lambda: ip not in lab.alive_ips(), lab.idle_timeout_s + 300)
    wait_until(lambda: lab.pool_status(host) == "free", 300)
    freed = time.monotonic()
    return {
        "node_type": node_type,
        "host": host,
        "kind": kind,
        "join": lab.last_join(host),
        "scale_up_s": round(alive - requested, 3),
        "ray_start_s": round(ray_start, 3),
        "node_gone_s": round(gone - withdrawn, 3),
        "scale_down_s": round(freed - withdrawn, 3),
        "leave_s": lab.leave_seconds(host),
    }


def main() -> int:
    parser = lab_arguments(__doc__)
    parser.add_argument("--warm-type", default="pool_warm")
    parser.add_argument("--cold-type", default="pool_cold")
    parser.add_argument("--warm-runs", type=int, default=5)
    parser.add_argument("--warm-full-runs", type=int, default=3)
    parser.add_argument("--cold-runs", type=int, default=2)
    args = parser.parse_args()

    lab = Lab(args.inventory)
    run_module(
        "ansible.builtin.copy", f"src={PROBE} dest={PROBE_ON_HEAD}", args.inventory, lab.head
    )
    runs: list[dict[str, Any]] = []
    # Sealed and unsealed warm runs take turns, so that both meet the machine's same moods.
    kinds = ["warm", "warm_full"] * min(args.warm_runs, args.warm_full_runs)
    kinds += ["warm"] * (args.warm_runs - args.warm_full_runs)
    kinds += ["warm_full"] * (args.warm_full_runs - args.warm_runs)
    plan = [(args.warm_type, kind) for kind in kinds] + [(args.cold_type, "cold")] * args.cold_runs
    for number, (node_type, kind) in enumerate(plan, start=1):
        run = one_run(lab, node_type, lab.pool_types[node_type][0], kind)
        runs.append(run)
        print(f"run {number}: {json.dumps(run)}", flush=True)

    def figures_of(kind: str) -> dict[str, Any]:
        chosen = [run for run in runs if run["kind"] == kind]
        if not chosen:
            return {}
        return {
            key: summary([run[key] for run in chosen])
            for key in ("scale_up_s", "ray_start_s", "node_gone_s", "scale_down_s", "leave_s")
        }

    warm, warm_full, cold_figures = figures_of("warm"), figures_of("warm_full"), figures_of("cold")
    target = round(2 * warm["ray_start_s"]["median"] + lab.update_interval_s, 3)
    figures = write_figures(
        args.out,
        "autoscaler_latency",
        {
            "inventory": str(args.inventory),
            "update_interval_s": lab.update_interval_s,
            "idle_timeout_s": lab.idle_timeout_s,
            "runs": runs,
            "warm": warm,
            "warm_full": warm_full,
            "cold": cold_figures,
            "warm_joins_in_one_step": sum(
                run["kind"] == "warm" and run["join"] == "one step" for run in runs
            ),
            "warm_target_scale_up_s": target,
            "meets_target": warm["scale_up_s"]["median"] <= target,
        },
    )
    print(
        f"\nwarm scale-up median {warm['scale_up_s']['median']} s, Ray's worker start median "
        f"{warm['ray_start_s']['median']} s, target <= {target} s: "
        f"{'met' if figures['meets_target'] else 'missed'}; "
        + (
            f"warm full-join scale-up median {warm_full['scale_up_s']['median']} s; "
            if warm_full
            else ""
        )
        + (
            f"cold scale-up median {cold_figures['scale_up_s']['median']} s; "
            if cold_figures
            else ""
        )
        + f"warm scale-down median {warm['scale_down_s']['median']} s "
        f"(idle timeout {lab.idle_timeout_s:.0f} s, leave {warm['leave_s']['median']} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
