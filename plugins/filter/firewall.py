# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Filter that sorts addresses and networks by the family nftables matches them with."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ansible_collections.rayfleet.cluster.plugins.module_utils.firewall import by_family

DOCUMENTATION = r"""
name: address_families
short_description: Sort addresses and networks into IPv4 and IPv6
description:
  - "Returns a mapping with C(ip) and C(ip6), each a sorted list without duplicates, as the
    firewall role puts them into nftables sets of type C(ipv4_addr) and C(ipv6_addr)."
options:
  _input:
    description: Addresses and networks, as in C([192.0.2.7, 2001:db8::/64]).
    type: list
    elements: str
    required: true
"""


def address_families(sources: Iterable[str]) -> dict[str, list[str]]:
    return by_family(str(source) for source in sources)


class FilterModule:
    def filters(self) -> dict[str, Callable[[Any], dict[str, list[str]]]]:
        return {"address_families": address_families}
