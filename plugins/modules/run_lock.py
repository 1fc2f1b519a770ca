#!/usr/bin/python
# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Take, renew or release a cluster's run lock on its head."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: run_lock
short_description: Take or release the run lock of a rayfleet cluster on its head
version_added: "0.5.0"
description:
  - One rayfleet run at a time per cluster. Every rayfleet playbook takes the lock of each
    cluster it changes on that cluster's head once the inventory is validated, and releases
    it in its last play; the head's provisioner holds it while its playbook runs are under
    way, and those runs work under its lock (O(under)).
  - The record lives in C(/var/lib/rayfleet/run-lock/holder.json) (a directory of mode 0700),
    changed under C(flock) and replaced whole.
  - Refuses, naming the holder and how long its lease lasts, while another live run holds the
    lock. A holder whose lease ran out, or whose process on this host (or, through the
    action plugin, on the controller) has ended, is replaced with a warning.
  - The action plugin fills O(holder) with the controller's C(ansible-playbook) process.
options:
  state:
    description: C(held) takes the lock or renews this holder's lease; C(released) lets it go.
    type: str
    choices: [held, released]
    default: held
  holder:
    description:
      - The run that takes or releases the lock - the action plugin sets it.
      - Keys C(machine) (machine id), C(pid), C(started) (the process's start time in clock
        ticks after boot, 0 unknown) and C(who) (for people).
    type: dict
  under:
    description:
      - The id (C(machine:pid:started)) of the holder this run was started by, such as the
        provisioner; the run goes on only while that holder has the lock, and takes nothing.
      - With O(state=released), nothing is done: the lock is that holder's to release.
    type: str
  ttl:
    description: Seconds the lease lasts should its holder never release it.
    type: int
    default: 7200
  force:
    description: Take the lock from a holder that a person has checked is gone.
    type: bool
    default: false
  gone:
    description: Ids of holders known to have ended (the action plugin's check on the controller).
    type: list
    elements: str
    default: []
  path:
    description: The lock's directory.
    type: path
    default: /var/lib/rayfleet/run-lock
attributes:
  check_mode:
    support: full
    details: Says whether the lock could be taken; writes nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
author:
  - rayfleet contributors
"""

EXAMPLES = r"""
- name: Take the run lock of cluster lab
  rayfleet.cluster.run_lock:
  delegate_to: head-1

- name: Release it
  rayfleet.cluster.run_lock:
    state: released
  delegate_to: head-1
"""

RETURN = r"""
holder:
  description: The lock's holder after the task (none when released); C(id) names it.
  returned: always
  type: dict
  sample:
    id: 4f1c...:81234:5526301
    who: "root@laptop: ansible-playbook site.yml"
    pid: 81234
    since: 1795830000.1
    expires: 1795837200.1
"""

import time
from dataclasses import asdict
from typing import Any

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.rayfleet.cluster.plugins.module_utils.run_lock import (
    DEFAULT_TTL_S,
    RUN_LOCK_DIR,
    Holder,
    RunLockError,
    Verdict,
    change,
    gone_here,
    machine_id,
    release,
    take,
    work_under,
)


def record(holder: Holder | None) -> dict[str, Any]:
    return {} if holder is None else {"id": holder.id, **asdict(holder)}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "choices": ["held", "released"], "default": "held"},
            "holder": {"type": "dict"},
            "under": {"type": "str"},
            "ttl": {"type": "int", "default": DEFAULT_TTL_S},
            "force": {"type": "bool", "default": False},
            "gone": {"type": "list", "elements": "str", "default": []},
            "path": {"type": "path", "default": RUN_LOCK_DIR},
        },
        required_one_of=[("holder", "under")],
        supports_check_mode=True,
    )
    params = module.params
    try:
        wanted = Holder.from_record(params["holder"]) if params["holder"] else None
    except (KeyError, ValueError, TypeError) as error:
        module.fail_json(msg=f"holder: {error!r} - the run_lock action plugin sets it")
    here = gone_here(machine_id())

    def gone(holder: Holder) -> bool:
        return holder.id in params["gone"] or here(holder)

    def decide(current: Holder | None) -> Verdict:
        if params["under"]:
            held = params["state"] == "held"
            return work_under(current, params["under"]) if held else Verdict(current, write=False)
        assert wanted is not None
        if params["state"] == "released":
            return release(current, wanted.id)
        return take(current, wanted, time.time(), params["ttl"], gone=gone, force=params["force"])

    try:
        verdict = change(params["path"], decide, dry_run=module.check_mode)
    except (RunLockError, OSError) as error:
        module.fail_json(msg=f"the run lock in {params['path']}: {error}")
    if verdict.warning:
        module.warn(
            ("check mode, nothing written: " if module.check_mode else "") + verdict.warning
        )
    if verdict.refusal:
        module.fail_json(msg=verdict.refusal, holder=record(verdict.holder))
    module.exit_json(changed=verdict.write, holder=record(verdict.holder))


if __name__ == "__main__":
    main()
