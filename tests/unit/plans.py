"""Cluster plans for unit tests: records with every field, defaults where a test does not care;
and containers like ansible-core's, which a filter and the validate action get."""

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
        "head_user": "ray",
        **fields,
    }
    return ClusterPlan(head=head, **settings)


def node(host: str, cluster: str, kind: str, group: str, address: str, **fields: Any) -> NodePlan:
    """Ray's default metrics and agent ports, a static node but for ``fields``."""
    return NodePlan(
        host, cluster, kind, group, address, **{"metrics_port": 8090, "agent_port": 52365, **fields}
    )


class LazyDict(dict[str, Any]):
    """Like ansible-core 2.19's lazy and tagged containers: no copy by type (dataclasses.asdict)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:
            raise TypeError("Direct construction of lazy containers is not supported.")


def lazy(data: dict[str, Any]) -> LazyDict:
    """``data`` in LazyDicts, nested ones too."""
    value = LazyDict()
    dict.update(
        value, {key: lazy(item) if isinstance(item, dict) else item for key, item in data.items()}
    )
    return value
