# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Filter that writes host:port the way rayfleet's scrape targets and URLs are written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible_collections.rayfleet.cluster.plugins.module_utils.gcs_storage import join_address

DOCUMENTATION = r"""
name: join_address
short_description: Join a host and a port into C(host:port)
description:
  - Brackets an IPv6 host (C([v6]:port)), so the result is a valid listen address and URL authority.
options:
  _input:
    description: The host.
    type: str
    required: true
  port:
    description: The port.
    type: int
    required: true
"""


def join_address_filter(host: str, port: int) -> str:
    return join_address(str(host), int(port))


class FilterModule:
    def filters(self) -> dict[str, Callable[[Any, Any], str]]:
        return {"join_address": join_address_filter}
