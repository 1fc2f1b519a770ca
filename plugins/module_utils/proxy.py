# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""What each host's TLS proxy serves: a pure function of plain data.

With ``proxy_enabled``, a head serves its Ray dashboard, and a monitoring host its
Prometheus, over HTTPS on ports of the proxy's own; the firewall then opens those ports to
the admin networks in place of the plain ones (plugins/module_utils/firewall.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.rayfleet.cluster.plugins.module_utils.gcs_storage import join_address
from ansible_collections.rayfleet.cluster.plugins.module_utils.plan import HEAD, Plan


def proxy_plan(
    plan: Plan,
    monitoring: Mapping[str, Any],
    ports: Mapping[str, Mapping[str, int]],
    enabled: Iterable[str],
) -> dict[str, dict[str, Any]]:
    """By host with the proxy on and something to serve: its ``address`` and the upstreams.

    ``dashboard`` and ``prometheus`` are each an upstream ``host:port``, or "" where the
    host runs no such thing; ``ports`` by host holds ``proxy_dashboard``,
    ``proxy_prometheus`` and ``prometheus``.
    """
    served: dict[str, dict[str, Any]] = {}
    for name in sorted(enabled):
        nodes = plan.nodes_on(name)
        server = monitoring["servers"].get(name)
        dashboard = ""
        head = next((node for node in nodes if node.type == HEAD), None)
        if head:
            dashboard = plan.clusters[head.cluster].dashboard_address
        prometheus = join_address(server["address"], ports[name]["prometheus"]) if server else ""
        if not dashboard and not prometheus:
            continue
        served[name] = {
            "address": nodes[0].address if nodes else server["address"],
            "dashboard": dashboard,
            "prometheus": prometheus,
            "dashboard_port": ports[name]["proxy_dashboard"],
            "prometheus_port": ports[name]["proxy_prometheus"],
        }
    return served
