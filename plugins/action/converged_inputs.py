# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Action plugin: the digest of a run's inputs, computed once on the controller.

The converged module compares it with, or records it in, each host's record of the last full
run (plugins/module_utils/converged.py). What a run of rayfleet's playbooks reads
on the controller: the collection itself, the inventory sources with their group_vars,
host_vars and credentials, every file or directory a rayfleet variable names, the extra
variables (with the files they load), the groups and the variables an inventory plugin adds
(the pool's members), the facts the roles read of every host, and ansible-core's release.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ansible import context
from ansible.plugins.action import ActionBase

from ansible_collections.rayfleet.cluster.plugins.module_utils.converged import FACT_KEYS, digest
from ansible_collections.rayfleet.cluster.plugins.module_utils.names import (
    NODE_ID_VAR,
    POOL_STATUS_VAR,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.play_groups import spare_pool_host

COLLECTION_ROOT = Path(__file__).resolve().parents[2]
# What Ansible loads of the collection, and the rayfleet package the provisioner's bundle
# carries: beside it in a checkout, or in the site-packages that hold both (the ray_autoscaler
# role's _ray_autoscaler_package_parent).
COLLECTION_PARTS = ("galaxy.yml", "meta", "playbooks", "plugins", "roles")
# Variables that name files or directories on the controller: secrets, TLS, the wheelhouse.
PATH_VARIABLE = re.compile(
    r"^(ray|redis|grafana|proxy|prometheus|ray_autoscaler)_\w*_file$"
    r"|^(ray_tls|redis_tls|proxy_ca|ray_wheelhouse)_dir$"
)
# What validation made of the effective variables of every host (whatever their source).
PLAN_FACTS = ("rayfleet_plan", "rayfleet_firewall", "rayfleet_monitoring", "rayfleet_proxy")
# Connection settings and the variables the pool_members inventory plugin adds.
HOST_VARIABLES = ("ansible_host", "ansible_port", "ansible_user", NODE_ID_VAR, POOL_STATUS_VAR)


def file_signatures(roots: Iterable[str]) -> list[list[Any]]:
    """Each file under the roots (or the root itself) with its size and modification time."""
    found: list[list[Any]] = []
    for root in sorted(set(roots)):
        if os.path.isfile(root):
            info = os.stat(root)
            found.append([root, info.st_size, info.st_mtime_ns])
            continue
        for top, dirs, files in os.walk(root):
            dirs[:] = sorted(name for name in dirs if name != "__pycache__")
            for name in sorted(files):
                path = os.path.join(top, name)
                try:
                    info = os.stat(path)
                except OSError:
                    continue
                found.append([path, info.st_size, info.st_mtime_ns])
    return found


def collection_paths(root: Path) -> list[str]:
    """The collection's parts and the rayfleet package beside it."""
    package = root / "src" / "rayfleet"
    if not package.is_dir():
        package = root.parents[2] / "rayfleet"
    return [
        str(path)
        for path in (*(root / part for part in COLLECTION_PARTS), package)
        if path.exists()
    ]


def inventory_paths(sources: Iterable[str]) -> list[str]:
    """The inventory sources, and beside each file the directories Ansible reads with it."""
    paths: list[str] = []
    for source in sources:
        paths.append(source)
        if os.path.isfile(source):
            beside = os.path.dirname(source)
            paths.extend(
                os.path.join(beside, name) for name in ("group_vars", "host_vars", ".credentials")
            )
    return [path for path in paths if os.path.exists(path)]


def extra_var_files(extra_vars: Iterable[str]) -> list[str]:
    """The files ``-e @file`` loads."""
    return [value[1:] for value in extra_vars if value.startswith("@")]


class ActionModule(ActionBase):
    # Reads the controller only: no connection, no module on a host.
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        result["changed"] = False
        result["ansible_facts"] = {"rayfleet_converged_inputs": self.inputs(task_vars or {})}
        return result

    def inputs(self, task_vars: Mapping[str, Any]) -> str:
        """The digest of what the run reads on the controller (see the module's docstring)."""
        hostvars = task_vars["hostvars"]
        groups = {
            name: sorted(members)
            for name, members in task_vars["groups"].items()
            if not name.startswith("rayfleet_")
        }
        hosts: dict[str, Any] = {}
        named_paths: list[str] = []
        for host in sorted(task_vars["groups"].get("all", [])):
            variables = hostvars[host]
            # A spare pool host's facts: only pool.yml reads them, after this check.
            facts = (
                {}
                if spare_pool_host(host, task_vars["groups"])
                else (variables.get("ansible_facts") or {})
            )
            hosts[host] = {
                "vars": {name: variables.get(name) for name in HOST_VARIABLES},
                "facts": {key: facts.get(key) for key in FACT_KEYS},
                # The controller's address as the host sees it: the firewall's default
                # admin network.
                "controller": str((facts.get("env") or {}).get("SSH_CONNECTION", "")).split()[:1],
            }
            named_paths.extend(self._named_paths(variables))
        extra_vars = list(context.CLIARGS.get("extra_vars") or ())
        sources = inventory_paths(task_vars.get("ansible_inventory_sources") or [])
        parts = {
            "ansible": task_vars.get("ansible_version", {}).get("full"),
            "collection": file_signatures(collection_paths(COLLECTION_ROOT)),
            "inventory": file_signatures(sources + named_paths + extra_var_files(extra_vars)),
            "extra_vars": extra_vars,
            "groups": groups,
            "plan": {name: task_vars.get(name) for name in PLAN_FACTS},
            "hosts": hosts,
            "environment": {name: os.environ.get(name) for name in ("HOME", "USER")},
        }
        return digest(parts)

    def _named_paths(self, variables: Any) -> list[str]:
        """The controller's files and directories a host's rayfleet variables name."""
        paths = []
        for name in variables:
            if not PATH_VARIABLE.match(name):
                continue
            try:
                value = variables[name]
            except Exception:
                continue
            if isinstance(value, str) and os.path.isabs(value) and os.path.exists(value):
                paths.append(value)
        return paths
