#!/usr/bin/python
# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Read, in one call, what the ray role needs to know of a host before it changes anything."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ray_host_probe
short_description: Read what the ray role needs to know of a host, in one call
version_added: "0.5.0"
description:
  - Reads the release of O(python), the host's glibc, the size of C(/dev/shm) (mount facts
    leave tmpfs out; Ray's object store is sized to fit it), which of O(packages) are not
    installed, what O(manifest) holds and which unit files in C(/etc/systemd/system) match
    O(unit_patterns).
  - One round trip, where a task per question costs one each. Only reads.
options:
  python:
    description: The interpreter Ray's venv is made from (C(ray_python)).
    type: path
    required: true
  packages:
    description: Debian packages the role needs; RV(missing_packages) lists those not installed.
    type: list
    elements: str
    default: []
  manifest:
    description: The file recording what the venv was built with.
    type: path
    required: true
  unit_patterns:
    description: Shell patterns of the unit files of the host's Ray nodes.
    type: list
    elements: str
    default: []
  user:
    description: A user to look up (RV(user)).
    type: str
  services:
    description: systemd services whose state RV(services) reports.
    type: list
    elements: str
    default: []
  paths:
    description: Paths whose existence RV(present) reports.
    type: list
    elements: path
    default: []
  lines_ending:
    description:
      - Files and a text (C(path), C(text)); RV(lines_found) lists the texts that end a line of
        their file.
    type: list
    elements: dict
    default: []
  lines_starting:
    description:
      - Files and a text (C(path), C(text)); RV(lines_started) lists the texts that start a line
        of their file; the rest of the line (a secret's value) is never returned.
    type: list
    elements: dict
    default: []
  dashboard_url:
    description:
      - On a head, its dashboard, asked which nodes of the cluster are ALIVE now
        (RV(alive_nodes)).
    type: str
  auth_token_file:
    description: The file holding the cluster's token, which the dashboard asks for.
    type: path
attributes:
  check_mode:
    support: full
    details: Only reads.
  diff_mode:
    support: none
  platform:
    platforms: debian
author:
  - rayfleet contributors
"""

EXAMPLES = r"""
- name: Read the host
  rayfleet.cluster.ray_host_probe:
    python: /usr/bin/python3
    packages: [python3-venv, procps]
    manifest: /opt/ray/venv/rayfleet-requirements.txt
    unit_patterns: [ray.service, ray-*.service]
  register: probe
"""

RETURN = r"""
python_version:
  description: The release of O(python); empty when it does not run (see RV(python_error)).
  returned: always
  type: str
  sample: 3.11.2
python_error:
  description: Why O(python) did not run, if it did not.
  returned: always
  type: str
libc_version:
  description: The host's C library as C(getconf GNU_LIBC_VERSION) names it; empty if unknown.
  returned: always
  type: str
  sample: glibc 2.36
shm_bytes:
  description: The size of C(/dev/shm) in bytes; 0 when there is none.
  returned: always
  type: int
missing_packages:
  description: Those of O(packages) that are not installed (all of them where dpkg cannot say).
  returned: always
  type: list
  elements: str
manifest:
  description: What O(manifest) holds; null when it does not exist.
  returned: always
  type: str
unit_files:
  description: The unit files matching O(unit_patterns), each a mapping with its C(path).
  returned: always
  type: list
  elements: dict
  sample: [{path: /etc/systemd/system/ray.service}]
user:
  description:
    - O(user)'s home, shell and primary group, and whether the home exists; null when there is
      no such user.
  returned: always
  type: dict
  sample: {home: /var/lib/ray, shell: /usr/sbin/nologin, group: ray, home_exists: true}
services:
  description:
    - Per service of O(services), whether it is C(enabled) and C(active) (running, starting or
      reloading).
  returned: always
  type: dict
  sample: {ray.service: {enabled: true, active: true}}
present:
  description: Those of O(paths) that exist.
  returned: always
  type: list
  elements: str
lines_found:
  description: The texts of O(lines_ending) that end a line of their file.
  returned: always
  type: list
  elements: str
lines_started:
  description: The texts of O(lines_starting) that start a line of their file.
  returned: always
  type: list
  elements: str
alive_nodes:
  description:
    - The nodes O(dashboard_url) lists as ALIVE, each as C(<node IP>/<slot>); null without
      O(dashboard_url) or an answer from it (Ray not running there yet).
  returned: always
  type: list
  elements: str
  sample: [10.0.0.10/0, 10.0.0.11/0]
"""

import fnmatch
import grp
import os
import pwd
from typing import Any

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.rayfleet.cluster.plugins.module_utils.dashboard_nodes import alive_nodes
from ansible_collections.rayfleet.cluster.plugins.module_utils.shm import shm_bytes
from ansible_collections.rayfleet.cluster.plugins.module_utils.systemd_units import UNIT_DIR

# A unit in these states runs, or is about to: a change of its settings restarts it.
RUNNING_STATES = ("active", "activating", "reloading")
_VERSION = "import platform; print(platform.python_version())"


def installed(module: AnsibleModule, packages: list[str]) -> set[str]:
    """Which of the packages dpkg has installed."""
    if not packages:
        return set()
    rc, out, _ = module.run_command(
        ["dpkg-query", "--show", "--showformat=${Package} ${db:Status-Status}\\n", *packages]
    )
    # rc 1 only says some package is unknown; the others are still listed.
    if rc not in (0, 1):
        return set()
    return {line.split()[0] for line in out.splitlines() if line.endswith(" installed")}


def libc_version() -> str:
    """What `getconf GNU_LIBC_VERSION` prints (``glibc 2.36``), which the wheelhouse is named by."""
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        return ""


def read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as existing:
            return existing.read()
    # Missing, or not readable as a file (a directory): nothing there to read.
    except OSError:
        return None


def unit_files(patterns: list[str]) -> list[dict[str, str]]:
    try:
        names = sorted(os.listdir(UNIT_DIR))
    except FileNotFoundError:
        return []
    # Regular files only, as find did: a masked unit is a link to /dev/null, not a node.
    return [
        {"path": f"{UNIT_DIR}/{name}"}
        for name in names
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)
        and os.path.isfile(f"{UNIT_DIR}/{name}")
        and not os.path.islink(f"{UNIT_DIR}/{name}")
    ]


def user_entry(name: str | None) -> dict[str, str | bool] | None:
    if not name:
        return None
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    try:
        group = grp.getgrgid(entry.pw_gid).gr_name
    except KeyError:
        group = str(entry.pw_gid)
    return {
        "home": entry.pw_dir,
        "shell": entry.pw_shell,
        "group": group,
        "home_exists": os.path.isdir(entry.pw_dir),
    }


def service_states(module: AnsibleModule, services: list[str]) -> dict[str, dict[str, bool]]:
    """Whether each service is enabled and active, from one `systemctl show`."""
    if not services:
        return {}
    rc, out, err = module.run_command(
        ["systemctl", "show", "--property=Id,UnitFileState,ActiveState", "--", *services]
    )
    # A unit taken for stopped would miss its restart: no answer is no answer.
    if rc != 0:
        module.fail_json(msg=f"systemctl show failed: {err.strip()}")
    by_id = {}
    # One block per unit, separated by a blank line.
    for block in out.strip().split("\n\n"):
        fields = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        by_id[fields.get("Id", "")] = {
            "enabled": fields.get("UnitFileState") == "enabled",
            "active": fields.get("ActiveState") in RUNNING_STATES,
        }
    unknown = {"enabled": False, "active": False}
    return {
        service: by_id.get(service if "." in service else f"{service}.service", unknown)
        for service in services
    }


def texts_in_lines(items: list[dict[str, Any]], at_start: bool) -> list[str]:
    """The ``text`` of each item that starts (or ends) a line of its ``path``."""
    found = []
    for item in items:
        text, content = str(item["text"]), read_text(str(item["path"]))
        lines = content.splitlines() if content is not None else []
        if any(line.startswith(text) if at_start else line.endswith(text) for line in lines):
            found.append(text)
    return found


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "python": {"type": "path", "required": True},
            "packages": {"type": "list", "elements": "str", "default": []},
            "manifest": {"type": "path", "required": True},
            "unit_patterns": {"type": "list", "elements": "str", "default": []},
            "user": {"type": "str"},
            "services": {"type": "list", "elements": "str", "default": []},
            "paths": {"type": "list", "elements": "path", "default": []},
            "lines_ending": {"type": "list", "elements": "dict", "default": []},
            "lines_starting": {"type": "list", "elements": "dict", "default": []},
            "dashboard_url": {"type": "str"},
            "auth_token_file": {"type": "path"},
        },
        supports_check_mode=True,
    )
    params = module.params
    try:
        rc, out, err = module.run_command(
            [params["python"], "-c", _VERSION], handle_exceptions=False
        )
    except OSError as error:
        rc, out, err = 1, "", str(error)
    present = installed(module, params["packages"])
    found: dict[str, Any] = {
        "user": user_entry(params["user"]),
        "services": service_states(module, params["services"]),
        "present": [path for path in params["paths"] if os.path.lexists(path)],
        "lines_found": texts_in_lines(params["lines_ending"], at_start=False),
        "lines_started": texts_in_lines(params["lines_starting"], at_start=True),
    }
    module.exit_json(
        **found,
        changed=False,
        python_version=out.strip() if rc == 0 else "",
        python_error="" if rc == 0 else (err.strip() or f"exit status {rc}"),
        libc_version=libc_version(),
        shm_bytes=shm_bytes(),
        missing_packages=[package for package in params["packages"] if package not in present],
        manifest=read_text(params["manifest"]),
        unit_files=unit_files(params["unit_patterns"]),
        alive_nodes=alive_nodes(params["dashboard_url"], params["auth_token_file"]),
    )


if __name__ == "__main__":
    main()
