# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""The hosts a run leaves out, from their converged checks and the plan."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ansible_collections.rayfleet.cluster.plugins.module_utils.converged import (
    converged_hosts as _converged_hosts,
)

DOCUMENTATION = r"""
name: converged_hosts
short_description: The hosts a run leaves out, as the last full run left them
description:
  - From each host's result of C(rayfleet.cluster.converged) and the plan, the hosts that are
    converged by their own check, run no GPU node, and whose Ray nodes the head's dashboard
    lists ALIVE now.
options:
  _input:
    description: Each host's registered result of C(rayfleet.cluster.converged).
    type: dict
    required: true
  plan:
    description: The C(rayfleet_plan) fact.
    type: dict
    required: true
"""

EXAMPLES = r"""
left_out: "{{ checks | rayfleet.cluster.converged_hosts(rayfleet_plan) }}"
"""

RETURN = r"""
_value:
  description: The hosts' names, sorted.
  type: list
  elements: str
"""


def converged_hosts(checks: Mapping[str, Mapping[str, Any]], plan: Mapping[str, Any]) -> list[str]:
    return _converged_hosts(checks, plan["nodes"], plan["clusters"])


class FilterModule:
    def filters(self) -> dict[str, Callable[..., list[str]]]:
        return {"converged_hosts": converged_hosts}
