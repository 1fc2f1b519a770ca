# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Action plugin: the run lock's holder is this controller's ansible-playbook process.

Fills the module's ``holder`` with the ansible-playbook process (the parent of this worker),
and, where a refused lock is held by a process of this controller that has ended, asks
again with that holder marked gone: only the controller can see its own processes.
"""

from __future__ import annotations

import getpass
import os
import socket
import sys
from dataclasses import asdict
from typing import Any

from ansible.plugins.action import ActionBase

from ansible_collections.rayfleet.cluster.plugins.module_utils.run_lock import (
    Holder,
    gone_here,
    machine_id,
    this_process,
)

MODULE = "rayfleet.cluster.run_lock"


def controller_holder() -> Holder:
    """This run: its ansible-playbook process, who started it where, and which playbooks."""
    playbooks = [os.path.basename(arg) for arg in sys.argv[1:] if arg.endswith((".yml", ".yaml"))]
    program = os.path.basename(sys.argv[0]) if sys.argv else "ansible-playbook"
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # a uid without a name, as in some containers
        user = str(os.getuid())
    who = f"{user}@{socket.gethostname()}: {' '.join([program, *playbooks])}"
    return this_process(who, pid=os.getppid())


class ActionModule(ActionBase):
    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        args = dict(self._task.args)
        if not args.get("under"):
            holder = controller_holder()
            args["holder"] = {
                key: value
                for key, value in asdict(holder).items()
                if key not in ("since", "expires")
            }
        answer = self._execute_module(MODULE, module_args=args, task_vars=task_vars)
        held = answer.get("holder") or {}
        refused = answer.get("failed") and held.get("machine") and args.get("holder")
        if refused and gone_here(machine_id())(Holder.from_record(held)):
            args["gone"] = [*args.get("gone", []), held["id"]]
            answer = self._execute_module(MODULE, module_args=args, task_vars=task_vars)
        result.update(answer)
        return result
