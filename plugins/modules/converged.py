#!/usr/bin/python
# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Module: checks a host against its record of the last full run, or records it."""

from __future__ import annotations

DOCUMENTATION = r"""
module: converged
short_description: Whether a full run of a playbook would change nothing on this host
description:
  - With O(state=checked), reads the host's record of the last full run of O(playbook) and
    says whether this run's inputs (O(inputs)) and the host's state are what they were when
    that run ended. Where they are not, the record of O(playbook) is removed (but in check mode),
    so that no later run trusts it before a full run records it again.
  - With O(state=recorded), records the inputs and the host's state as a full run leaves them.
  - The host's state is every path under C(/etc), C(/opt), C(/usr/local), C(/var/lib/rayfleet),
    C(/var/lib/grafana/dashboards), C(/var/lib/dpkg/status), C(/root/.ssh), every user's C(.ssh)
    and O(paths), with its type, owner, mode, inode, size and change time; the type, owner and
    mode of O(dirs); the running state of every service enabled in C(/etc/systemd/system); and
    C(nft -s list ruleset).
  - The record is C(/var/lib/rayfleet/converged.json), root's alone; it holds digests, never a
    file's content.
  - M(rayfleet.cluster.converged_inputs) computes O(inputs) on the controller, once per run.
version_added: "0.5.0"
author: rayfleet contributors
options:
  playbook:
    description: The playbook the record is of (C(site.yml), C(ray.yml)...).
    type: str
    required: true
  inputs:
    description: The digest of the run's inputs.
    type: str
    required: true
  state:
    description: Check the host against its record, or record it.
    type: str
    choices: [checked, recorded]
    default: checked
  paths:
    description:
      - More paths to record the state of, beyond the fixed ones (a role's directories moved
        elsewhere by its variables). The check reads them from the record.
    type: list
    elements: path
    default: []
  dirs:
    description:
      - Directories whose own type, owner and mode to record, but not what they hold (Ray's
        home, temp, spill and GCS directories, which Ray writes in as it runs). The check
        reads them from the record.
    type: list
    elements: path
    default: []
  dashboard_url:
    description: On a head, its dashboard, to list the nodes ALIVE in its cluster (RV(alive_nodes)).
    type: str
  auth_token_file:
    description: The cluster's token file on the host, for O(dashboard_url).
    type: path
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Digest this run's inputs
  rayfleet.cluster.converged_inputs:
  run_once: true

- name: Find whether the host is as the last full run of site.yml left it
  rayfleet.cluster.converged:
    playbook: site.yml
    inputs: "{{ rayfleet_converged_inputs }}"
  register: converged
"""

RETURN = r"""
converged:
  description: With O(state=checked), whether the record says a full run would change nothing.
  returned: always
  type: bool
reason:
  description: Why the host is not converged; empty where it is.
  returned: always
  type: str
  sample: the host changed since the last full run
alive_nodes:
  description: The nodes O(dashboard_url) lists ALIVE, as C(<node IP>/<slot>); null without it.
  returned: always
  type: list
  elements: str
"""

import json
import os
import pwd
import subprocess
import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.rayfleet.cluster.plugins.module_utils.converged import (
    ROOTS,
    STATE_FILE,
    home_ssh_dirs,
    state_digest,
    verdict,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.dashboard_nodes import alive_nodes
from ansible_collections.rayfleet.cluster.plugins.module_utils.shm import shm_bytes
from ansible_collections.rayfleet.cluster.plugins.module_utils.systemd_units import (
    UNIT_DIR,
    enabled_units,
)


def read_records(path: str = STATE_FILE) -> dict[str, Any]:
    """The records per playbook; none where the file is missing or not root's JSON."""
    try:
        with open(path, encoding="utf-8") as existing:
            if os.fstat(existing.fileno()).st_uid != 0:
                return {}
            records = json.load(existing)
    except (OSError, ValueError):
        return {}
    return records if isinstance(records, dict) else {}


def write_records(records: dict[str, Any], path: str = STATE_FILE) -> None:
    """Replaces the file at once, root's alone."""
    partial = f"{path}.partial"
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        json.dump(records, out, sort_keys=True)
    os.replace(partial, path)


def service_states(units: list[str]) -> dict[str, str]:
    """Each unit's ActiveState, as systemd has it now."""
    if not units:
        return {}
    shown = subprocess.run(
        ["systemctl", "show", "--property=Id,ActiveState", *units],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    states: dict[str, str] = {}
    for block in shown.strip().split("\n\n"):
        fields = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if "Id" in fields:
            states[fields["Id"]] = fields.get("ActiveState", "")
    return states


def ruleset() -> str:
    """The nftables ruleset without counters; empty where nft is not installed."""
    try:
        listed = subprocess.run(
            ["nft", "-s", "list", "ruleset"], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        return ""
    return listed.stdout if listed.returncode == 0 else f"nft failed: {listed.stderr}"


def host_state(paths: list[str], dirs: list[str]) -> str:
    """The digest of the host's state, with ``paths`` and ``dirs`` beyond the fixed roots."""
    links: list[str] = []
    for top, _dirs, files in os.walk(UNIT_DIR):
        links.extend(os.path.join(top, name) for name in files)
    units = enabled_units(links)
    return state_digest(
        # Of the users' homes, only their SSH authorizations (where the pool hosts' key goes).
        [*ROOTS, *home_ssh_dirs(user.pw_dir for user in pwd.getpwall()), *paths],
        service_states(units),
        ruleset(),
        shm_bytes(),
        dirs,
    )


def record_host(
    check_mode: bool, playbook: str, records: dict[str, Any], params: dict[str, Any]
) -> None:
    """Records the run's inputs and the host's state now, as the last full run of ``playbook``."""
    # Made before the state is read: the record's own directory is no change of the host.
    if not check_mode:
        os.makedirs(os.path.dirname(STATE_FILE), mode=0o755, exist_ok=True)
    record = {
        "inputs": params["inputs"],
        "paths": params["paths"],
        "dirs": params["dirs"],
        "state": host_state(params["paths"], params["dirs"]),
        "recorded_at": time.time(),
    }
    if not check_mode:
        write_records({**records, playbook: record})


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "playbook": {"type": "str", "required": True},
            "inputs": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["checked", "recorded"], "default": "checked"},
            "paths": {"type": "list", "elements": "path", "default": []},
            "dirs": {"type": "list", "elements": "path", "default": []},
            "dashboard_url": {"type": "str"},
            "auth_token_file": {"type": "path", "no_log": False},
        },
        supports_check_mode=True,
    )
    params = module.params
    records = read_records()
    playbook = params["playbook"]
    alive = alive_nodes(params["dashboard_url"], params["auth_token_file"])
    if params["state"] == "recorded":
        # Never a failure either: the run ends with its locks let go. A host left without a
        # record takes the next run in full.
        try:
            record_host(module.check_mode, playbook, records, params)
        except Exception as error:
            module.warn(f"no record of this run of {playbook}: {type(error).__name__}: {error}")
            module.exit_json(changed=False, converged=False, reason=str(error), alive_nodes=alive)
        # Changes nothing a run manages: the run's own bookkeeping, like its lock.
        module.exit_json(changed=False, converged=True, reason="", alive_nodes=alive)
    found = records.get(playbook)
    last = found if isinstance(found, dict) else None
    # Without a record (a first deploy), or with other inputs, the state is not read at all.
    reason = verdict(last, params["inputs"], None, time.time())
    if not reason:
        recorded = last or {}
        try:
            state = host_state(list(recorded.get("paths") or []), list(recorded.get("dirs") or []))
        # A state this check cannot read is no proof: the host takes the run, which says why.
        # Never a failure: the run holds its lock, and a failed check would stop it there.
        except Exception as error:
            state = f"unreadable: {type(error).__name__}: {error}"
        reason = verdict(last, params["inputs"], state, time.time())
    if reason and found is not None and not module.check_mode:
        try:
            write_records({name: kept for name, kept in records.items() if name != playbook})
        # A full disk keeps the stale record, which this run's own record replaces at its end.
        except OSError as error:
            module.warn(f"{STATE_FILE}: the stale record of {playbook} stays: {error}")
    module.exit_json(changed=False, converged=not reason, reason=reason, alive_nodes=alive)


if __name__ == "__main__":
    main()
