"""The members inventory: an Ansible inventory file of the pool hosts now in the cluster.

Combined with the cluster's own inventory (``-i inventory -i members.yml``), it puts the
autoscaled hosts into ``ray_pool_members``, so site.yml reaches them like any other
node, and lists each under its node type's group.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from ansible_collections.rayfleet.cluster.plugins.module_utils.names import (
    NODE_ID_VAR,
    POOL_MEMBERS_GROUP,
    POOL_STATUS_VAR,
)
from rayfleet.autoscaler.settings import ProviderSettings
from rayfleet.autoscaler.state import (
    MEMBER_STATUSES,
    PoolHost,
    PoolState,
    Status,
    members,
    write_atomically,
)

HEADER = (
    "# Written by rayfleet's autoscaler on every change of the pool; do not edit.\n"
    "# The spare hosts of cluster {cluster} that are now members of it, by node type.\n"
)


def members_inventory(state: PoolState, pool: Sequence[PoolHost]) -> dict[str, Any]:
    """Members (launching or running) in POOL_MEMBERS_GROUP and in their node type's group.

    Each carries the node id its raylet must report to Ray (NODE_ID_VAR).
    """
    node_types = {host.name: host.node_type for host in pool}
    joined = sorted(name for name in members(state).values() if name in node_types)
    groups: dict[str, Any] = {
        POOL_MEMBERS_GROUP: {
            "hosts": {
                name: {
                    NODE_ID_VAR: state[name].node_id,
                    POOL_STATUS_VAR: state[name].status.value,
                }
                for name in joined
            }
        }
    }
    for name in joined:
        groups.setdefault(node_types[name], {"hosts": {}})["hosts"][name] = {}
    return {"all": {"children": groups}}


def render(state: PoolState, pool: Sequence[PoolHost], cluster: str) -> str:
    body = yaml.safe_dump(members_inventory(state, pool), default_flow_style=False, sort_keys=True)
    return HEADER.format(cluster=cluster) + body


def write(settings: ProviderSettings, state: PoolState) -> None:
    """Replace the members file; readable by all, like any inventory."""
    text = render(state, settings.pool, settings.cluster)
    write_atomically(settings.members_file, text, mode=0o644)


def joined(text: str) -> dict[str, tuple[str, Status]]:
    """The members a members inventory lists: host to its node id and status.

    What cannot be read there lists no member (a rebuild then has every host leave).
    """
    try:
        hosts = yaml.safe_load(text)["all"]["children"][POOL_MEMBERS_GROUP]["hosts"]
        found = {
            str(name): (str(fields[NODE_ID_VAR]), Status(fields[POOL_STATUS_VAR]))
            for name, fields in hosts.items()
        }
    except (yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError):
        return {}
    return {
        name: (node_id, status)
        for name, (node_id, status) in found.items()
        if node_id and status in MEMBER_STATUSES
    }
