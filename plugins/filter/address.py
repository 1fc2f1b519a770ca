# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Filter that splits a host:port address the way rayfleet's validation reads it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible_collections.rayfleet.cluster.plugins.module_utils.gcs_storage import split_address

DOCUMENTATION = r"""
name: split_address
short_description: Split C(host:port) into host and port
description:
  - Returns C([host, port]) for C(host:port), C([v6]:port) or a bare host (Redis's default port
    6379); an IPv6 host comes back without brackets.
options:
  _input:
    description: The address.
    type: str
    required: true
"""


def split_address_filter(address: str) -> list[str | int]:
    host, port = split_address(str(address))
    return [host, port]


class FilterModule:
    def filters(self) -> dict[str, Callable[[Any], list[str | int]]]:
        return {"split_address": split_address_filter}
