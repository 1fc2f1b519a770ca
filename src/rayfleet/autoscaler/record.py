"""Record a join or leave done by hand in the pool state, as the node provider would.

playbooks/join.yml and leave.yml run it on the head (as ray_user) when a person runs them,
so the state and the members inventory keep saying who is in the cluster:

    python -m rayfleet.autoscaler.record --config /etc/rayfleet/autoscaler/autoscaling.yaml \
        launching HOST...   # before the join: a fresh node id for each host
    ... running HOST...     # after the join
    ... free HOST...        # after the leave

Prints one JSON line: each host's node id, and whether anything changed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

from rayfleet.autoscaler import membership
from rayfleet.autoscaler.settings import ProviderSettings
from rayfleet.autoscaler.state import (
    MEMBER_STATUSES,
    LaunchRequest,
    PoolState,
    allocate,
    mark_free,
    mark_running,
)


def launching(state: PoolState, settings: ProviderSettings, hosts: Sequence[str]) -> PoolState:
    """Each host joins with a fresh node id; a host that is a member already keeps its own."""
    now = time.time()
    for host in hosts:
        record = state.get(host)
        if record is not None and record.status in MEMBER_STATUSES:
            continue
        # Quarantine is for the autoscaler's own choices: a person may insist.
        if record is not None:
            state = mark_free(state, host, now)
        pool_host = next(entry for entry in settings.pool if entry.name == host)
        state, _ = allocate(state, [pool_host], LaunchRequest(pool_host.node_type, 1), now)
    return state


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, required=True, help="Ray's autoscaling config")
    parser.add_argument("status", choices=["launching", "running", "free"])
    parser.add_argument("hosts", nargs="+")
    args = parser.parse_args(argv)
    config = yaml.safe_load(args.config.read_text())
    settings = ProviderSettings.from_provider_config(config["provider"], config["cluster_name"])
    unknown = sorted(set(args.hosts) - {host.name for host in settings.pool})
    if unknown:
        parser.error(f"not pool hosts of cluster {settings.cluster}: {', '.join(unknown)}")
    now = time.time()

    def transition(state: PoolState) -> tuple[PoolState, PoolState]:
        if args.status == "launching":
            updated = launching(state, settings, args.hosts)
        else:
            updated = state
            for host in args.hosts:
                if args.status == "running":
                    updated = mark_running(updated, host, now)
                else:
                    updated = mark_free(updated, host, now)
        return updated, state

    store = membership.pool_store(settings)
    before = store.change(transition)
    after = store.read()
    print(
        json.dumps(
            {
                "node_ids": {host: after[host].node_id for host in args.hosts},
                "changed": any(before.get(host) != after[host] for host in args.hosts),
                "statuses": {host: after[host].status.value for host in args.hosts},
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
