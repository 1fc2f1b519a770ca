# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Inventory plugin: the pool hosts an autoscaling head has in its cluster now."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin

from ansible_collections.rayfleet.cluster.plugins.module_utils.names import (
    NODE_ID_VAR,
    POOL_GROUP,
    POOL_MEMBERS_GROUP,
    POOL_STATUS_VAR,
)

# The statuses of a pool host that is in the cluster (rayfleet.autoscaler.state).
MEMBER_STATUSES = ("launching", "running")

DOCUMENTATION = r"""
name: pool_members
short_description: The pool hosts an autoscaling head has in its cluster now
description:
  - Reads the members inventory that rayfleet's node provider writes on the head at every
    change of the pool, over SSH (paramiko) or from a local copy, and adds its groups,
    C(ray_pool_members) and each node type's group, with each member's
    C(rayfleet_node_id).
  - Use it after the cluster's own inventory, so that C(site.yml) reaches autoscaled hosts, as in
    C(ansible-playbook -i inventories/prod -i inventories/prod/members.rayfleet.yml ...).
  - The file is written on the head by a process that runs as C(ray), like every Ray job, so the
    plugin trusts nothing in it. It keeps only hosts that the inventory sources before it list in
    a child group of C(ray_pool), each with a node id of the provider's form and a member's status,
    in C(ray_pool_members) and in that host's own node type group. It drops everything else - other
    hosts, groups and variables - with a warning.
  - The configuration file's name must end in C(.rayfleet.yml) or C(.rayfleet.yaml).
options:
  plugin:
    description: The name of this plugin.
    required: true
    choices: [rayfleet.cluster.pool_members]
  head:
    description: Address of the head to read the file from over SSH; empty reads O(path) locally.
    type: str
    default: ""
  port:
    description: SSH port of the head.
    type: int
    default: 22
  user:
    description: SSH user on the head (it must be able to read O(path)).
    type: str
    default: root
  private_key_file:
    description: SSH private key; unset uses the SSH agent and the default keys.
    type: path
  host_key_checking:
    description:
      - Refuse a head whose host key is not in the user's known_hosts.
      - Turn it off only for throwaway hosts such as the lab's.
    type: bool
    default: true
  path:
    description: The members inventory on the head (or here, when O(head) is empty).
    type: str
    default: /var/lib/rayfleet/autoscaler/members.yml
"""

EXAMPLES = r"""
# inventories/prod/members.rayfleet.yml
plugin: rayfleet.cluster.pool_members
head: 192.0.2.10
user: deploy
private_key_file: ~/.ssh/id_ed25519
"""


def member_groups(document: Mapping[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """Group name to host name to host variables, from a members inventory document."""
    children = (document.get("all") or {}).get("children") or {}
    groups: dict[str, dict[str, dict[str, Any]]] = {}
    for group, body in children.items():
        hosts = (body or {}).get("hosts") or {}
        groups[str(group)] = {str(host): dict(variables or {}) for host, variables in hosts.items()}
    return groups


def trusted_members(
    groups: Mapping[str, Mapping[str, Mapping[str, Any]]],
    pool_types: Mapping[str, str],
) -> tuple[dict[str, dict[str, Any]], dict[str, str], list[str]]:
    """What the controller takes from a members file: members, their node types, warnings.

    The file is written on the head by a process that runs as ray, like every job, so
    nothing in it is trusted: only hosts of the inventory's pool (``pool_types``: host to
    its node type) in POOL_MEMBERS_GROUP or their own type's group, with a node id of the
    provider's form and a member's status, are kept; anything else is dropped with a
    warning.
    """
    warnings: list[str] = []
    members: dict[str, dict[str, Any]] = {}
    for host, variables in groups.get(POOL_MEMBERS_GROUP, {}).items():
        if host not in pool_types:
            warnings.append(f"{host} is not a pool host of this inventory")
            continue
        node_id = str(variables.get(NODE_ID_VAR, ""))
        status = variables.get(POOL_STATUS_VAR)
        # A count of allocations; one restarted from a rebuilt state starts at the epoch's
        # seconds (10 digits), never below an id given before.
        if not re.fullmatch(re.escape(host) + r"-\d{1,12}", node_id):
            warnings.append(f"{host}: {NODE_ID_VAR} {node_id!r} is not {host}-<number>")
            continue
        if status not in MEMBER_STATUSES:
            warnings.append(f"{host}: {POOL_STATUS_VAR} {status!r} is not a member's")
            continue
        members[host] = {NODE_ID_VAR: node_id, POOL_STATUS_VAR: status}
        extra = sorted(set(variables) - set(members[host]))
        if extra:
            warnings.append(f"{host}: variables {', '.join(extra)} ignored")
    for group, hosts in sorted(groups.items()):
        if group == POOL_MEMBERS_GROUP:
            continue
        for host in sorted(hosts):
            if pool_types.get(host) != group:
                warnings.append(f"{host} is not a pool host of type {group}; group ignored")
            elif host not in members:
                warnings.append(f"{host} is in {group} but not a member; ignored")
    types = {host: pool_types[host] for host in members}
    return members, types, warnings


class InventoryModule(BaseInventoryPlugin):
    NAME = "rayfleet.cluster.pool_members"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and path.endswith((".rayfleet.yml", ".rayfleet.yaml"))

    def parse(self, inventory: Any, loader: Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        try:
            document = yaml.safe_load(self._read_members()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise AnsibleParserError(f"rayfleet members inventory: {error}") from error
        members, types, warnings = trusted_members(member_groups(document), self._pool_types())
        for warning in warnings:
            self.display.warning(f"rayfleet members inventory {path}: {warning}")
        self.inventory.add_group(POOL_MEMBERS_GROUP)
        for host, variables in members.items():
            self.inventory.add_host(host, group=POOL_MEMBERS_GROUP)
            self.inventory.add_host(host, group=types[host])
            for name, value in variables.items():
                self.inventory.set_variable(host, name, value)

    def _pool_types(self) -> dict[str, str]:
        """Each pool host the inventory sources before this one list, to its node type."""
        pool = self.inventory.groups.get(POOL_GROUP)
        if pool is None:
            return {}
        return {host.name: child.name for child in pool.child_groups for host in child.get_hosts()}

    def _read_members(self) -> str:
        head = self.get_option("head")
        if not head:
            return Path(self.get_option("path")).read_text()
        # Imported here: only a remote read needs it.
        import paramiko  # noqa: PLC0415

        with paramiko.SSHClient() as client:
            client.load_system_host_keys()
            if not self.get_option("host_key_checking"):
                client.set_missing_host_key_policy(paramiko.WarningPolicy())
            client.connect(
                head,
                port=self.get_option("port"),
                username=self.get_option("user"),
                key_filename=self.get_option("private_key_file"),
                timeout=10,
            )
            with client.open_sftp() as sftp, sftp.open(self.get_option("path")) as remote:
                return str(remote.read().decode())
