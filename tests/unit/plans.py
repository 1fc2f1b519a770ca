"""Cluster plans for unit tests: records with every field, defaults where a test does not care."""

from __future__ import annotations

from typing import Any

from ansible_collections.rayfleet.cluster.plugins.module_utils.plan import ClusterPlan, NodePlan


def cluster(head: str, **fields: Any) -> ClusterPlan:
    """A monitored cluster without GCS storage or autoscaling, but for ``fields``."""
    settings: dict[str, Any] = {
        "gcs_address": "",
        "dashboard_address": "",
        "gcs_storage": "none",
        "namespace": "",
        "autoscaling": False,
        "auth_mode": "token",
        "tls": False,
        "monitoring": True,
        "temp_dir": "/var/lib/ray/tmp",
        **fields,
    }
    return ClusterPlan(head=head, **settings)


def node(host: str, cluster: str, kind: str, group: str, address: str, **fields: Any) -> NodePlan:
    """Ray's default metrics and agent ports, a static node but for ``fields``."""
    return NodePlan(
        host, cluster, kind, group, address, metrics_port=8090, agent_port=52365, **fields
    )
