# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Filters that quote values for systemd unit and environment files."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

DOCUMENTATION = r"""
name: systemd_exec_quote
short_description: Quote one argument of a systemd ExecStart= line
description:
  - Returns the argument unchanged when it is made of safe characters, otherwise in double
    quotes with backslashes and quotes escaped; C(%) and C($) are doubled so systemd keeps them.
  - The companion filter C(systemd_env_quote) quotes a value for an C(EnvironmentFile=).
options:
  _input:
    description: The argument.
    type: str
    required: true
"""

_SAFE = re.compile(r"^[A-Za-z0-9_./=:,+@-]+$")


def systemd_exec_quote(value: str) -> str:
    """Quote one ExecStart= argument (systemd.service(5), "Command lines")."""
    text = str(value).replace("%", "%%").replace("$", "$$")
    if _SAFE.match(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd_env_quote(value: str) -> str:
    """Quote a value for an EnvironmentFile= line (systemd.exec(5))."""
    text = str(value)
    if _SAFE.match(text):
        return text
    escaped = re.sub(r'(["\\$`])', r"\\\1", text)
    return f'"{escaped}"'


class FilterModule:
    def filters(self) -> dict[str, Callable[[Any], str]]:
        return {"systemd_exec_quote": systemd_exec_quote, "systemd_env_quote": systemd_env_quote}
