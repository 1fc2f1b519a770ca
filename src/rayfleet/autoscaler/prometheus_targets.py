"""Prometheus scrape targets of the pool hosts in the cluster now (file-based discovery).

The head's Prometheus reads one file per job; a host the autoscaler adds is scraped within
one refresh of Prometheus's file discovery, without a playbook run, and a host it returns
to the pool drops out of them.
"""

from __future__ import annotations

import json
from typing import Any

from rayfleet.autoscaler.settings import ProviderSettings
from rayfleet.autoscaler.state import PoolState, members, write_atomically

NODE_ID_LABEL = "rayfleet_node_id"


def member_targets(state: PoolState, settings: ProviderSettings) -> dict[str, list[Any]]:
    """Each job's target groups: the members' groups from the settings, with their node ids."""
    jobs: dict[str, list[Any]] = {job: [] for job in settings.prometheus_jobs}
    for node_id, host in sorted(members(state).items(), key=lambda item: item[1]):
        for job, group in settings.prometheus_targets.get(host, {}).items():
            labels = {**group["labels"], NODE_ID_LABEL: node_id}
            jobs.setdefault(job, []).append({"targets": list(group["targets"]), "labels": labels})
    return jobs


def write(settings: ProviderSettings, state: PoolState) -> None:
    """Replace each job's file; Prometheus runs as another user, so they are world-readable."""
    if settings.prometheus_dir is None:
        return
    for job, groups in member_targets(state, settings).items():
        text = json.dumps(groups, indent=2, sort_keys=True) + "\n"
        write_atomically(settings.prometheus_dir / f"{job}.json", text, mode=0o644)
