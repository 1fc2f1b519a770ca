# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Action plugin: the controller's venv pack put on the host and swapped in, in one step.

One file transfer and one command, where a copy task and a command task took a stat and a
checksum of the pack on each side and a second write of it on the host. The pack goes to the
task's temporary directory and is gone with it.
"""

from __future__ import annotations

import os
from typing import Any

from ansible.plugins.action import ActionBase

from ansible_collections.rayfleet.cluster.plugins.module_utils.venv_pack import swap_command


class ActionModule(ActionBase):
    TRANSFERS_FILES = True
    _supports_check_mode = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(
            argument_spec={
                "pack": {"type": "path", "required": True},
                "venv": {"type": "str", "required": True},
                "owner": {"type": "str", "default": "root"},
                "group": {"type": "str", "required": True},
            }
        )
        pack, venv = args["pack"], args["venv"]
        result |= {"changed": True, "venv": venv}
        if self._task.check_mode:
            result["msg"] = f"{venv} would be replaced by {os.path.basename(pack)}"
            return result
        remote_tmp = self._make_tmp_path()
        try:
            remote_pack = self._connection._shell.join_path(remote_tmp, os.path.basename(pack))
            self._transfer_file(pack, remote_pack)
            self._fixup_perms2((remote_tmp, remote_pack))
            done = self._low_level_execute_command(
                swap_command(venv, remote_pack, args["owner"], args["group"]), sudoable=True
            )
        finally:
            self._remove_tmp_path(remote_tmp)
        if done["rc"] != 0:
            stderr = done.get("stderr", "").strip()
            result |= {
                "failed": True,
                "changed": False,
                "rc": done["rc"],
                "stderr": stderr,
                "msg": f"{venv} was left as it was: unpacking {os.path.basename(pack)} failed: "
                f"{(stderr.splitlines() or ['no message'])[-1]}",
            }
        return result
