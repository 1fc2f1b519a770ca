# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Tests of a host's place in the autoscaler's pool (module_utils/play_groups.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible_collections.rayfleet.cluster.plugins.module_utils.play_groups import spare_pool_host

DOCUMENTATION = r"""
name: spare_pool_host
short_description: Whether a host is a pool host out of the cluster
description:
  - True for a host of the C(ray_pool) group that the members inventory (C(ray_pool_members))
    does not list and that this run does not join; such a host may be off, and only a join
    reaches it.
options:
  _input:
    description: The host's inventory name.
    type: str
    required: true
  groups:
    description: The C(groups) magic variable.
    type: dict
    required: true
  joining:
    description: This run joins its hosts to their cluster (C(rayfleet_pool_change)).
    type: bool
    default: false
"""


class TestModule:
    def tests(self) -> dict[str, Callable[..., Any]]:
        return {"spare_pool_host": spare_pool_host}
