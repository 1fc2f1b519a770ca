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


def proxy_plan(
    layout: Mapping[str, Mapping[str, Any]],
    monitoring: Mapping[str, Any],
    ports: Mapping[str, Mapping[str, int]],
    enabled: Iterable[str],
) -> dict[str, dict[str, Any]]:
    """By host with the proxy on and something to serve: its ``address`` and the upstreams.

    ``dashboard`` and ``prometheus`` are each an upstream ``host:port``, or "" where the
    host runs no such thing; ``ports`` by host holds ``proxy_dashboard``,
    ``proxy_prometheus`` and ``prometheus``.
    """
    plan: dict[str, dict[str, Any]] = {}
    for name in sorted(enabled):
        node = layout.get(name)
        server = monitoring["servers"].get(name)
        dashboard = ""
        if node and node["type"] == "head":
            # Written host:port without brackets; nginx needs them around an IPv6 host.
            host, port = str(node["dashboard_address"]).rsplit(":", 1)
            dashboard = join_address(host.strip("[]"), int(port))
        prometheus = join_address(server["address"], ports[name]["prometheus"]) if server else ""
        if not dashboard and not prometheus:
            continue
        plan[name] = {
            "address": node["address"] if node else server["address"],
            "dashboard": dashboard,
            "prometheus": prometheus,
            "dashboard_port": ports[name]["proxy_dashboard"],
            "prometheus_port": ports[name]["proxy_prometheus"],
        }
    return plan
