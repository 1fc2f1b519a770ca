# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Action plugin: the digest of a run's inputs, computed once on the controller.

The converged module compares it with, or records it in, each host's record of the last full
run (plugins/module_utils/converged.py). What a run of rayfleet's playbooks reads
on the controller: the collection itself, the playbooks on the command line and the
group_vars and host_vars beside them, the inventory sources with their own and their
credentials, every file or directory a rayfleet variable names, the extra variables (with
the files they load), the groups and every variable the inventory sets (a dynamic
inventory's too), the facts the roles read of every host, the controller's address towards
each, and ansible-core's release.

Two digests: what the run itself may write (the credentials, the files the variables name:
secrets, certificates, the venv pack) and the rest, which must be the same at the run's end
as at its start (``since``): a run that saw its inputs edited while it ran records no host.
"""

from __future__ import annotations

import os
import re
import socket
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
    """Each file under the roots (or the root itself) with its size and modification time,
    through links to directories as Ansible reads them (once each)."""
    found: list[list[Any]] = []
    for root in sorted(set(roots)):
        if os.path.isfile(root):
            info = os.stat(root)
            found.append([root, info.st_size, info.st_mtime_ns])
            continue
        seen: set[str] = set()
        for top, dirs, files in os.walk(root, followlinks=True):
            real = os.path.realpath(top)
            if real in seen:
                dirs[:] = []
                continue
            seen.add(real)
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


# Beside an inventory file: what Ansible reads with it, and the credentials rayfleet keeps there.
VARS_DIRS = ("group_vars", "host_vars")
CREDENTIALS_DIR = ".credentials"


def inventory_paths(sources: Iterable[str], playbooks: Iterable[str] = ()) -> list[str]:
    """The inventory sources, and the variables' directories beside each inventory file and
    beside each playbook given on the command line (which Ansible reads with them)."""
    paths: list[str] = []
    for source in sources:
        paths.append(source)
        if os.path.isfile(source):
            paths.extend(os.path.join(os.path.dirname(source), name) for name in VARS_DIRS)
    for playbook in playbooks:
        paths.extend(os.path.join(os.path.dirname(playbook), name) for name in VARS_DIRS)
    return [path for path in paths if os.path.exists(path)]


def credential_paths(sources: Iterable[str]) -> list[str]:
    """The credentials beside each inventory file or in each inventory directory, which a
    run generates."""
    found = []
    for source in sources:
        path = os.path.join(
            source if os.path.isdir(source) else os.path.dirname(source), CREDENTIALS_DIR
        )
        if os.path.exists(path):
            found.append(path)
    return found


def outside(signatures: list[list[Any]], roots: Iterable[str]) -> list[list[Any]]:
    """The file signatures of paths under none of ``roots``."""
    prefixes = tuple(os.path.join(root, "") for root in roots)
    return [signature for signature in signatures if not str(signature[0]).startswith(prefixes)]


def source_address(host: str, port: Any) -> str:
    """The controller's address towards ``host``, as its routes choose it (no packet sent):
    it changes where the controller's address does. Only for a host given by address: a
    name would cost each run a DNS lookup per host, and its timeout."""
    try:
        family, kind, _proto, _name, address = socket.getaddrinfo(
            host, int(port), type=socket.SOCK_DGRAM, flags=socket.AI_NUMERICHOST
        )[0]
        with socket.socket(family, kind) as probe:
            probe.connect(address)
            return str(probe.getsockname()[0])
    except (OSError, IndexError, ValueError, UnicodeError):
        return ""


def plain_value(value: Any) -> Any:
    """A value for the digest: a vaulted one by its ciphertext (text from ansible-core 2.19,
    bytes before), never decrypted."""
    ciphertext = getattr(value, "_ciphertext", None)
    if isinstance(ciphertext, bytes):
        return ciphertext.decode("ascii", "replace")
    return ciphertext if isinstance(ciphertext, str) else str(value)


def extra_var_files(extra_vars: Iterable[str]) -> list[str]:
    """The files ``-e @file`` loads."""
    return [value[1:] for value in extra_vars if value.startswith("@")]


def inputs_facts(stable: str, written: str, since: str | None) -> dict[str, str]:
    """The facts of the run's inputs: none where they could not be digested, or where what
    the run does not write changed since it began (``since``, its digest then)."""
    kept = stable if since is None or stable == since else ""
    return {
        "rayfleet_converged_inputs": digest([kept, written]) if kept else "",
        "rayfleet_converged_inputs_stable": kept,
    }


class ActionModule(ActionBase):
    # Reads the controller only: no connection, no module on a host.
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        result["changed"] = False
        since = (self._task.args or {}).get("since")
        try:
            stable, written = self.inputs(task_vars or {})
        # Never a failure: the run holds its lock. No digest matches no record, and records none.
        except Exception as error:
            self._display.warning(f"rayfleet: the run's inputs could not be digested: {error}")
            stable, written = "", ""
        if since and stable and stable != since:
            self._display.warning(
                "rayfleet: the playbooks, inventory or variables changed while this run went on: "
                "no host is recorded as converged, and the next run takes every host"
            )
        result["ansible_facts"] = inputs_facts(stable, written, since)
        return result

    def inputs(self, task_vars: Mapping[str, Any]) -> tuple[str, str]:
        """The digests of what the run reads on the controller (see the module's docstring):
        what the run does not write, and what it may."""
        hostvars = task_vars["hostvars"]
        inventory = hostvars._inventory
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
                # What the inventory sets, whatever its source: files, scripts, plugins.
                "inventory": inventory.get_host(host).vars,
                "vars": {name: variables.get(name) for name in HOST_VARIABLES},
                "facts": {key: facts.get(key) for key in FACT_KEYS},
                # The controller's address as the host sees it (the firewall's default admin
                # network; sudo hides it from facts) and as its routes choose it.
                "controller": [
                    *str((facts.get("env") or {}).get("SSH_CONNECTION", "")).split()[:1],
                    source_address(
                        str(variables.get("ansible_host") or host),
                        variables.get("ansible_port") or 22,
                    ),
                ],
            }
            named_paths.extend(self._named_paths(variables))
        extra_vars = list(context.CLIARGS.get("extra_vars") or ())
        sources = list(task_vars.get("ansible_inventory_sources") or [])
        playbooks = [
            os.path.abspath(path)
            for path in context.CLIARGS.get("args") or ()
            if os.path.isfile(path)
        ]
        # What the run writes, wherever it is (an inventory directory holds its credentials).
        written_roots = credential_paths(sources) + named_paths
        stable = {
            "ansible": task_vars.get("ansible_version", {}).get("full"),
            "collection": file_signatures(collection_paths(COLLECTION_ROOT)),
            "inventory": outside(
                file_signatures(
                    inventory_paths(sources, playbooks) + extra_var_files(extra_vars) + playbooks
                ),
                written_roots,
            ),
            "extra_vars": extra_vars,
            "groups": groups,
            "group_vars": {
                name: group.vars
                for name, group in inventory.groups.items()
                if not name.startswith("rayfleet_")
            },
            "plan": {name: task_vars.get(name) for name in PLAN_FACTS},
            "hosts": hosts,
            "environment": {name: os.environ.get(name) for name in ("HOME", "USER")},
        }
        written = file_signatures(written_roots)
        return digest(stable, plain_value), digest(written, plain_value)

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
