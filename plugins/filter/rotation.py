# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Filter that reads which secrets a run of playbooks/rotate.yml changes."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.rayfleet.cluster.plugins.module_utils.plan import Plan

DOCUMENTATION = r"""
name: rotated_secrets
short_description: The secrets C(rayfleet_rotate) names, checked
description:
  - Reads C(rayfleet_rotate), a comma-separated list (or a list) of the secrets that
    C(playbooks/rotate.yml) makes anew - C(token) (each cluster's Ray token), C(redis) (the
    Redis passwords of the C(redis) group) and C(provisioner_keys) (the autoscaler's SSH keys).
  - Fails naming a secret it does not know. Unset or empty is no secret.
options:
  _input:
    description: The value of C(rayfleet_rotate).
    type: raw
    required: true
"""

SECRETS = ("token", "redis", "provisioner_keys")


def rotated_secrets(value: Any) -> list[str]:
    names = str(value).split(",") if isinstance(value, str) else list(value or [])
    chosen = [str(name).strip() for name in names if str(name).strip()]
    unknown = sorted(set(chosen) - set(SECRETS))
    if unknown:
        raise AnsibleFilterError(
            f"rayfleet_rotate: {', '.join(unknown)} is not a secret rayfleet rotates. "
            f"Fix: name some of {', '.join(SECRETS)}, separated by commas"
        )
    return [name for name in SECRETS if name in chosen]


def rotation_gaps(
    plan: Mapping[str, Any],
    hosts: Sequence[str],
    secrets: Sequence[str],
    redis_hosts: Sequence[str],
) -> list[str]:
    """Hosts that a run on ``hosts`` rotating ``secrets`` would leave with the old ones.

    A cluster's token and provisioner keys live on every host of the cluster; a Redis
    password on each head that keeps its GCS state in the inventory's Redis.
    """
    cluster_plan = Plan.from_dict(plan)
    run = set(hosts)
    rotating_redis = "redis" in secrets and bool(run & set(redis_hosts))
    gaps = []
    for name, cluster in sorted(cluster_plan.clusters.items()):
        head = cluster_plan.nodes[cluster.head].host
        members = sorted(
            {node.host for node in cluster_plan.nodes.values() if node.cluster == name}
        )
        needed: dict[str, list[str]] = {}
        if "token" in secrets and head in run:
            needed["token"] = members
        if "provisioner_keys" in secrets and cluster.autoscaling and head in run:
            needed["provisioner_keys"] = members
        if rotating_redis and cluster.gcs_storage == "redis" and not cluster.external_redis:
            needed["redis"] = [head]
        gaps += [
            f"{host}: rayfleet_rotate: {secret} changes for cluster {name}, whose host this is, "
            "but this run leaves the host out, on the old one. Fix: add it to --limit, or run "
            "rotate.yml without --limit"
            for secret, needed_hosts in needed.items()
            for host in needed_hosts
            if host not in run
        ]
    return gaps


class FilterModule:
    def filters(self) -> dict[str, Callable[..., list[str]]]:
        return {"rotated_secrets": rotated_secrets, "rotation_gaps": rotation_gaps}
