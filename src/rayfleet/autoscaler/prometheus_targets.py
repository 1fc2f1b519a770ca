"""Prometheus scrape targets of the pool hosts running in the cluster (file-based discovery).

The head's Prometheus reads one file per job; a host the autoscaler adds is scraped as soon as
its join has ended, without a playbook run, and a host it returns to the pool drops out. A
host that is still joining is left out: its Ray node is not up yet, and scraping it would
raise RayletDown for a join that is merely slow.
"""

from __future__ import annotations

import json
from typing import Any

from ansible_collections.rayfleet.cluster.plugins.module_utils.names import (
    NODE_ID_VAR,
    NODE_JOB,
    RAY_JOB,
)
from rayfleet.autoscaler.settings import ProviderSettings
from rayfleet.autoscaler.state import PoolState, Status, write_atomically

# Jobs whose file is written even with no member, so Prometheus drops the last one.
JOBS = (RAY_JOB, NODE_JOB)


def member_targets(state: PoolState, settings: ProviderSettings) -> dict[str, list[Any]]:
    """Each job's target groups: the running members' groups from the settings, with node ids."""
    jobs: dict[str, list[Any]] = {job: [] for job in JOBS}
    for host, record in sorted(state.items()):
        if record.status is not Status.RUNNING:
            continue
        for job, group in settings.prometheus_targets.get(host, {}).items():
            # Labelled with the node id its raylet reports, under the host variable's name.
            labels = {**group["labels"], NODE_ID_VAR: record.node_id}
            jobs.setdefault(job, []).append({"targets": list(group["targets"]), "labels": labels})
    return jobs


def write(settings: ProviderSettings, state: PoolState) -> None:
    """Replace each job's file; Prometheus runs as another user, so they are world-readable."""
    if settings.prometheus_dir is None:
        return
    for job, groups in member_targets(state, settings).items():
        text = json.dumps(groups, indent=2, sort_keys=True) + "\n"
        write_atomically(settings.prometheus_dir / f"{job}.json", text, mode=0o644)
