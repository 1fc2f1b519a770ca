# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Filters that check Grafana provisioning and list a dashboard's queries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible_collections.rayfleet.cluster.plugins.module_utils.grafana_provisioning import (
    dashboard_queries,
    provisioning_problems,
)

DOCUMENTATION = r"""
name: grafana_provisioning_problems
short_description: What Grafana would refuse or skip in a provisioning
description:
  - Checks datasources (apiVersion, name, type, url, access, one default), dashboard providers
    (file providers whose path is where the dashboards are written) and dashboards (uid, title,
    panels, every datasource a provisioned one or a dashboard variable, unique uids).
  - Returns a list of problems, empty when Grafana would load everything.
options:
  _input:
    description:
      - C(datasources) and C(providers), lists of parsed YAML documents; C(dashboard_paths), the
        directories dashboards are written to; C(dashboards), file name to parsed dashboard JSON.
    type: dict
    required: true
"""


class FilterModule:
    def filters(self) -> dict[str, Callable[[Any], list[str]]]:
        return {
            "grafana_provisioning_problems": provisioning_problems,
            "grafana_dashboard_queries": dashboard_queries,
        }
