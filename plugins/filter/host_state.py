# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""What the host_state role reads of a host, from the lines its one command prints."""

from __future__ import annotations

import re
from collections.abc import Callable

DOCUMENTATION = r"""
name: host_state
short_description: A host's installed packages and its enabled, running services
description:
  - Reads the lines the C(host_state) role's command prints, which are C(dpkg-query)'s
    (status, then package), C(find)'s for the links C(systemctl enable) makes in the
    targets' C(.wants) directories (C(<unit> enabled)), and C(systemctl list-units
    --state=active --plain)'s (unit, load state, active state).
  - A package is installed where the second letter of its dpkg status is C(i).
  - A service is running where it is both enabled and active (running, or exited for a
    oneshot unit); its name comes without C(.service).
options:
  _input:
    description: The command's output.
    type: str
    required: true
"""

EXAMPLES = r"""
packages: "{{ (listing.stdout | rayfleet.cluster.host_state)['packages'] }}"
"""

RETURN = r"""
_value:
  description: C(packages) and C(running_services), each a list of names.
  type: dict
"""

_PACKAGE = re.compile(r"^.i (\S+)$", re.MULTILINE)
_ENABLED = re.compile(r"^(\S+)\.service enabled$", re.MULTILINE)
_ACTIVE = re.compile(r"^(\S+)\.service +loaded +active ", re.MULTILINE)


def host_state(listing: str) -> dict[str, list[str]]:
    enabled = set(_ENABLED.findall(listing))
    return {
        "packages": _PACKAGE.findall(listing),
        "running_services": [name for name in _ACTIVE.findall(listing) if name in enabled],
    }


class FilterModule:
    def filters(self) -> dict[str, Callable[[str], dict[str, list[str]]]]:
        return {"host_state": host_state}
