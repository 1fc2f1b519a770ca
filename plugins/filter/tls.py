# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Filter that reads the names a certificate holds from openssl's text."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

DOCUMENTATION = r"""
name: subject_alt_names
short_description: The subject alternative names in C(openssl x509 -ext subjectAltName) output
description:
  - Written as C(openssl req -addext) takes them (C(DNS:name), C(IP:address), addresses in
    their canonical form) and sorted, so that a node's certificate compares with the names the
    node should have, given as a list to the same filter.
  - No names (an empty list) where the text holds none, as for a missing certificate.
options:
  _input:
    description: The output of C(openssl x509 -noout -ext subjectAltName), or a list of names.
    type: raw
    required: true
"""

_SECTION = re.compile(r"X509v3 Subject Alternative Name:[^\n]*\n\s*([^\n]*)")


def subject_alt_names(source: str | list[str]) -> list[str]:
    if isinstance(source, list):
        names = [str(name) for name in source]
    else:
        match = _SECTION.search(str(source))
        names = [name.strip() for name in match.group(1).split(",")] if match else []
    return sorted({_canonical(name) for name in names if name})


def _canonical(name: str) -> str:
    kind, _, value = re.sub(r"^IP Address:", "IP:", name).partition(":")
    if kind == "IP":
        value = str(ipaddress.ip_address(value))
    return f"{kind}:{value}"


class FilterModule:
    def filters(self) -> dict[str, Callable[[Any], list[str]]]:
        return {"subject_alt_names": subject_alt_names}
