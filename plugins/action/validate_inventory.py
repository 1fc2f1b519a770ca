# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Action plugin: validate the whole inventory on the controller before any host is changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from ansible.errors import AnsibleError, AnsibleUndefinedVariable
from ansible.inventory.manager import InventoryManager
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.rayfleet.cluster.plugins.module_utils.inventory_checks import (
    HEAD_GROUP,
    VAR_PREFIX,
    WORKERS_GROUP,
    HostInput,
    Problem,
    check_inventory,
    cluster_layout,
)

COLLECTION_ROOT = Path(__file__).resolve().parents[2]
ROLES_WITH_RAY_VARS = ("ray",)


def role_argument_spec(role: str) -> dict[str, Any]:
    """The options of a role's main entry point, from its meta/argument_specs.yml."""
    spec_file = COLLECTION_ROOT / "roles" / role / "meta" / "argument_specs.yml"
    options: dict[str, Any] = yaml.safe_load(spec_file.read_text())["argument_specs"]["main"][
        "options"
    ]
    return options


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS: frozenset[str] = frozenset()

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        spec: dict[str, Any] = {}
        for role in ROLES_WITH_RAY_VARS:
            spec.update(role_argument_spec(role))
        defaults = {name: option.get("default") for name, option in spec.items()}

        worker_groups = self._worker_group_names(task_vars)
        groups = task_vars["groups"]
        hosts: list[HostInput] = []
        problems: list[Problem] = []
        for name in sorted(set(groups.get(HEAD_GROUP, [])) | set(groups.get(WORKERS_GROUP, []))):
            host, host_problems = self._host_input(name, task_vars, spec, worker_groups)
            hosts.append(host)
            problems += host_problems
        inventory_problems, warnings = check_inventory(hosts, defaults)
        problems += inventory_problems
        for warning in warnings:
            self._display.warning(warning)
        if problems:
            result["failed"] = True
            result["problems"] = [str(problem) for problem in problems]
            result["msg"] = "The inventory has {} problem(s); nothing was changed:\n{}".format(
                len(problems), "\n".join(result["problems"])
            )
            return result
        result["changed"] = False
        result["ansible_facts"] = {"rayfleet_nodes": cluster_layout(hosts, defaults)}
        return result

    def _worker_group_names(self, task_vars: dict[str, Any]) -> set[str]:
        """Names of the child groups of ray_workers.

        Play variables hold group membership but not the group tree, so the
        inventory sources are read again for it.
        """
        inventory = InventoryManager(
            loader=self._loader, sources=task_vars["ansible_inventory_sources"]
        )
        workers = inventory.groups.get(WORKERS_GROUP)
        return {group.name for group in workers.child_groups} if workers else set()

    def _host_input(
        self, name: str, task_vars: dict[str, Any], spec: dict[str, Any], worker_groups: set[str]
    ) -> tuple[HostInput, list[Problem]]:
        hostvars = task_vars["hostvars"][name]
        user_vars: dict[str, Any] = {}
        for var in hostvars:
            if not var.startswith(VAR_PREFIX):
                continue
            try:
                user_vars[var] = self._templar.template(hostvars[var])
            except (AnsibleUndefinedVariable, AnsibleError):
                # Needs facts or other hosts' state that this run does not have yet; the
                # role's own argument validation sees it once it is defined.
                continue
        known = {var: value for var, value in user_vars.items() if var in spec}
        checked = ArgumentSpecValidator(spec).validate(known)
        problems = [
            Problem(
                name, _variable_of(str(error)), str(error), "give it a value of the documented type"
            )
            for error in checked.error_messages
        ]
        # A variable of the wrong type falls back to its default so the host's
        # other problems are still found in this run.
        wrong = {problem.variable for problem in problems}
        valid = {var: checked.validated_parameters[var] for var in known if var not in wrong}
        facts = hostvars.get("ansible_facts", {})
        host = HostInput(
            name=name,
            is_head=name in task_vars["groups"].get(HEAD_GROUP, []),
            in_workers=name in task_vars["groups"].get(WORKERS_GROUP, []),
            worker_groups=tuple(sorted(set(hostvars.get("group_names", [])) & worker_groups)),
            user_vars={
                **{var: value for var, value in user_vars.items() if var not in spec},
                **valid,
            },
            address=str(
                user_vars.get("ray_node_ip")
                or facts.get("default_ipv4", {}).get("address")
                or hostvars.get("ansible_host", name)
            ),
            memtotal_mb=facts.get("memtotal_mb"),
        )
        return host, problems


def _variable_of(message: str) -> str:
    """The variable an ArgumentSpecValidator message is about."""
    for word in message.replace("'", " ").split():
        if word.startswith(VAR_PREFIX):
            return word
    return "variables"
