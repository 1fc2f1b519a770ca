# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""The hosts a run leaves out, from their converged checks and the plan."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ansible_collections.rayfleet.cluster.plugins.module_utils.converged import (
    converged_hosts as _converged_hosts,
)

DOCUMENTATION = r"""
name: converged_hosts
short_description: The hosts a run leaves out, as the last full run left them
description:
  - From each host's result of C(rayfleet.cluster.converged) and the plan, the hosts that are
    converged by their own check, whose GPUs the ray role does not read, whose Ray nodes the
    head's dashboard lists ALIVE now, and whose cluster's head is left out too; a monitoring
    server only where the heads of the clusters it monitors are left out.
options:
  _input:
    description: Each host's registered result of C(rayfleet.cluster.converged).
    type: dict
    required: true
  plan:
    description: The C(rayfleet_plan) fact.
    type: dict
    required: true
  nvml_hosts:
    description:
      - The hosts whose GPUs the ray role reads (C(rayfleet_converged_check['nvml_hosts'])).
    type: list
    elements: str
    default: []
  monitoring:
    description: The C(rayfleet_monitoring) fact.
    type: dict
    default: {}
"""

EXAMPLES = r"""
left_out: >-
  {{ checks | rayfleet.cluster.converged_hosts(rayfleet_plan,
       rayfleet_converged_check['nvml_hosts'], rayfleet_monitoring) }}
"""

RETURN = r"""
_value:
  description: The hosts' names, sorted.
  type: list
  elements: str
"""


def converged_hosts(
    checks: Mapping[str, Mapping[str, Any]],
    plan: Mapping[str, Any],
    nvml_hosts: Sequence[str] = (),
    monitoring: Mapping[str, Any] | None = None,
) -> list[str]:
    servers = {
        name: cluster["server"]
        for name, cluster in ((monitoring or {}).get("clusters") or {}).items()
    }
    return _converged_hosts(checks, plan["nodes"], plan["clusters"], nvml_hosts, servers)


class FilterModule:
    def filters(self) -> dict[str, Callable[..., list[str]]]:
        return {"converged_hosts": converged_hosts}
