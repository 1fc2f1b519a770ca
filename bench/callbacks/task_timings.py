"""Writes how long each task took on each host, for bench/compare.py's profile.

Enabled with ANSIBLE_CALLBACK_PLUGINS=bench/callbacks, ANSIBLE_CALLBACKS_ENABLED=task_timings
and RAYFLEET_TASK_TIMINGS=<file>: one JSON object per line, {task, path, host, status, at, s},
``at`` being when the task started on the host, in seconds from the run's start; the
converged check's rows also carry its ``converged``, ``reason`` and ``alive_nodes``.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: task_timings
type: aggregate
short_description: each task's duration on each host, as JSON lines
description: Written to the file named by RAYFLEET_TASK_TIMINGS.
requirements: [enable in ansible.cfg or ANSIBLE_CALLBACKS_ENABLED]
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_timings"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._run_start = time.monotonic()
        self._started: dict[tuple[str, str], float] = {}
        self._out = open(os.environ["RAYFLEET_TASK_TIMINGS"], "a", encoding="utf-8")  # noqa: SIM115

    def v2_runner_on_start(self, host: Any, task: Any) -> None:
        self._started[(host.get_name(), task._uuid)] = time.monotonic()

    def _record(self, result: Any, status: str) -> None:
        task = result._task
        host = result._host.get_name()
        started = self._started.pop((host, task._uuid), None)
        if started is None:
            return
        line = {
            "task": task.get_name(),
            "path": task.get_path() or "",
            "host": host,
            "status": status,
            "at": round(started - self._run_start, 3),
            "s": round(time.monotonic() - started, 3),
        }
        if task.action.endswith("converged"):
            line |= {key: result._result.get(key) for key in ("converged", "reason", "alive_nodes")}
        self._out.write(json.dumps(line) + "\n")
        self._out.flush()

    def v2_runner_on_ok(self, result: Any) -> None:
        self._record(result, "changed" if result._result.get("changed") else "ok")

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._record(result, "unreachable")
