"""Time from a fault to the recovered state, on the lab (issue 15's benchmark).

Each run injects one fault and measures, on the machine's one monotonic clock (lab hosts
are containers of this kernel), the time until the state a user relies on is back, beside
the same recovery asked for on purpose (the rival: a planned restart):

  worker_crash_s        a worker's raylet killed with SIGKILL to a new node of that host
                        ALIVE; rival worker_restart_s: `systemctl restart ray` there
  provisioner_crash_s   the provisioner killed with SIGKILL to a new one serving its
                        socket; rival provisioner_restart_s: `systemctl restart` of it
  state_rebuild_s       the pool state file overwritten with garbage to a rebuilt state
                        file beside the one set aside (done on the autoscaler's next
                        request, so within one update interval)

The head-side figures are timed on the host by fault_probe.py, copied there.

    make lab && .venv/bin/python bench/fault_recovery.py -i inventories/lab --runs 5
"""

from __future__ import annotations

import json
import sys
import time

from autoscaler_latency import Lab, wait_until
from figures import REPO_ROOT, lab_arguments, summary, write_figures

from ansible_collections.rayfleet.cluster.plugins.module_utils.names import WORKERS_GROUP
from rayfleet.inventory import list_inventory
from rayfleet.runner import run_module

PROBE = REPO_ROOT / "bench" / "fault_probe.py"
PROBE_ON_HOST = "/usr/local/lib/fault_probe.py"
TIMEOUT_S = 300


def probe(lab: Lab, host: str, *args: str) -> dict[str, float]:
    answer: dict[str, float] = json.loads(
        lab.command(host, f"python3 {PROBE_ON_HOST} {' '.join(args)}").splitlines()[-1]
    )
    return answer


def worker_recovery(lab: Lab, worker: str, fault: str) -> float:
    """From the fault to a new node of the worker's address ALIVE (the head's view)."""
    ip = lab.address[worker]
    before = lab.alive_nodes()[ip]
    started = probe(lab, worker, "at", "--", fault)["at"]
    back = wait_until(lambda: lab.alive_nodes().get(ip) not in (None, before), TIMEOUT_S)
    return round(back - started, 3)


def ratio(fault: dict[str, float], rival: dict[str, float]) -> float:
    return round(fault["median"] / rival["median"], 2)


def main() -> int:
    parser = lab_arguments(__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    lab = Lab(args.inventory)
    listing = list_inventory(args.inventory)
    pool = {host for hosts in lab.pool_types.values() for host in hosts}
    worker = next(
        host
        for group in listing[WORKERS_GROUP]["children"]
        for host in listing.get(group, {}).get("hosts", [])
        if host not in pool
    )
    for host in (lab.head, worker):
        copy = f"src={PROBE} dest={PROBE_ON_HOST}"
        run_module("ansible.builtin.copy", copy, args.inventory, host)
    series: dict[str, list[float]] = {
        name: []
        for name in (
            "worker_crash_s",
            "worker_restart_s",
            "provisioner_crash_s",
            "provisioner_restart_s",
            "state_rebuild_s",
        )
    }
    for number in range(1, args.runs + 1):
        run = {
            "worker_crash_s": worker_recovery(lab, worker, "pkill --signal KILL --exact raylet"),
            "worker_restart_s": worker_recovery(lab, worker, "systemctl restart ray"),
            "provisioner_crash_s": probe(lab, lab.head, "provisioner", "crash")["seconds"],
            "provisioner_restart_s": probe(lab, lab.head, "provisioner", "restart")["seconds"],
            "state_rebuild_s": probe(lab, lab.head, "state-rebuild")["seconds"],
        }
        for name, value in run.items():
            series[name].append(value)
        print(f"run {number}: {json.dumps(run)}", flush=True)
        time.sleep(5)

    figures = {name: summary(values) for name, values in series.items()}
    ratios = {
        "worker_crash_to_restart": ratio(figures["worker_crash_s"], figures["worker_restart_s"]),
        "provisioner_crash_to_restart": ratio(
            figures["provisioner_crash_s"], figures["provisioner_restart_s"]
        ),
    }
    document = write_figures(
        args.out,
        "fault_recovery",
        {
            "inventory": str(args.inventory),
            "worker": worker,
            "update_interval_s": lab.update_interval_s,
            "runs": series,
            **figures,
            "median_ratios": ratios,
        },
    )
    print(json.dumps({key: document[key] for key in (*figures, "median_ratios")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
