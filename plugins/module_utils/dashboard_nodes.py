# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""The nodes a head's dashboard lists ALIVE, asked with the cluster's token."""

from __future__ import annotations

from ansible_collections.rayfleet.cluster.plugins.module_utils.ray_auth import (
    TokenError,
    auth_headers,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.ray_health import (
    http_get,
    node_states,
    nodes_query_path,
)

# A dashboard that does not answer at once leaves the waiting to the ALIVE check.
DASHBOARD_TIMEOUT_S = 2.0


def alive_nodes(dashboard_url: str | None, token_file: str | None) -> list[str] | None:
    """The ALIVE nodes the dashboard lists, as ``<ip>/<slot>``; None where it gives no list."""
    if not dashboard_url:
        return None
    try:
        headers = auth_headers(token_file)
    except TokenError:
        return None
    answer = http_get(
        dashboard_url.rstrip("/") + nodes_query_path(None, "ALIVE"), DASHBOARD_TIMEOUT_S, headers
    )
    if not answer.ok:
        return None
    try:
        states = node_states(answer.body)
    # An answer that is not the state API's (a proxy's page, a label that is no slot): no list,
    # and the role waits on every node as it would without one.
    except (ValueError, KeyError, TypeError):
        return None
    return sorted(f"{ip}/{slot}" for (ip, slot), state in states.items() if state == "ALIVE")
