"""A pool host's join in one step, where its last full join left it sealed.

A full join (playbooks/join.yml) run by the provisioner ends, on a host with one node and no
GPUs, with a seal (roles/ray/tasks/join_seal.yml): the provisioner's fingerprint, the node's
files as the join left them, and the host's facts. Leaving deletes none of them. The next
join of the host first asks rayfleet-ray-join (roles/ray/files/rayfleet_ray_join.py) over SSH
to write the new node id and the cluster's token and start the unit; it refuses, changing
nothing, unless everything the full join would decide is still the same. A refusal, or any
other failure to ask, sends the host to the full join in the same hold of the run lock.

The request (node id, fingerprint, token) goes on the helper's stdin: never in an argument
list, where every user of either host could read the token, nor in a log.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.rayfleet.cluster.plugins.module_utils.autoscaling import pool_host_vars
from ansible_collections.rayfleet.cluster.plugins.module_utils.names import JOIN_COMMAND
from ansible_collections.rayfleet.cluster.plugins.module_utils.ray_auth import (
    TokenError,
    auth_headers,
    read_token,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.ray_health import (
    NodeWaitError,
    wait_for_nodes,
)
from rayfleet.auth import NODE_TOKEN_FILE
from rayfleet.autoscaler import members_inventory, ssh
from rayfleet.autoscaler.settings import ProviderSettings

CONNECT_TIMEOUT_S = 5
# Past the helper's own limit (its RUN_LIMIT_S, 45 s from its start), so that the helper has
# ended when the provisioner stops waiting for it; and past the request's not_after, after
# which the helper starts nothing, however late sshd, sudo or Python started it.
COMMAND_TIMEOUT_S = 60
NOT_AFTER_S = 50
# The release the provisioner runs: each bundle unpacks in a directory of its own
# (roles/ray_autoscaler/tasks/provisioner.yml), which the fingerprint names.
RELEASE = Path(__file__).resolve().parent


class QuickJoinFailedError(Exception):
    """The helper may have started Ray, but the node did not show up ALIVE: the join failed."""


@dataclass(frozen=True)
class Connection:
    """How the provisioner's playbook runs reach a pool host, as root."""

    address: str
    port: int
    user: str | None
    sudo: bool

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.address}" if self.user else self.address


def fingerprint(settings: ProviderSettings) -> str:
    """What a full join renders a node from, beside the node's own facts: the provisioner's
    inventory and ansible.cfg, and the releases of this code and of the roles its runs load
    (the ansible.cfg's collections_path, a link to the current bundle)."""
    digest = hashlib.sha256(str(RELEASE).encode())
    for path in (settings.inventory, settings.ansible_config):
        digest.update(b"\0" + path.read_bytes())
    for collections in ansible_setting(settings.ansible_config, "collections_path").split(":"):
        digest.update(b"\0" + str(Path(collections).resolve()).encode())
    return digest.hexdigest()


def connection(host: str, host_vars: Mapping[str, Any]) -> Connection | None:
    """The host's connection as Ansible makes it; None where the quick join cannot follow
    (a connection other than SSH, or becoming root other than with sudo)."""
    if host_vars.get("ansible_connection", "ssh") != "ssh":
        return None
    sudo = boolean(host_vars.get("ansible_become", False), strict=False)
    if sudo and (
        host_vars.get("ansible_become_method", "sudo") != "sudo"
        or host_vars.get("ansible_become_user", "root") != "root"
    ):
        return None
    user = host_vars.get("ansible_user")
    return Connection(
        address=str(host_vars.get("ansible_host", host)),
        port=int(host_vars.get("ansible_port", 22)),
        user=str(user) if user else None,
        sudo=sudo,
    )


def ansible_setting(ansible_config: Path, name: str) -> str:
    """A [defaults] setting of the provisioner's ansible.cfg, "" where it has none."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ansible_config)
    return parser.get("defaults", name, fallback="")


def request(settings: ProviderSettings, host: str, sealed_with: str) -> dict[str, Any]:
    """What rayfleet-ray-join needs: the node id the members inventory gives the host, the
    address the provisioner knows it by, the fingerprint and the cluster's token (None on a
    cluster without one)."""
    node_id = members_inventory.joined(settings.members_file.read_text())[host][0]
    token = read_token(str(NODE_TOKEN_FILE)) if NODE_TOKEN_FILE.exists() else None
    address = {pool_host.name: pool_host.ip for pool_host in settings.pool}[host]
    return {
        "fingerprint": sealed_with,
        "node_id": node_id,
        "node_ip": address,
        "token": token,
        "not_after": time.time() + NOT_AFTER_S,
    }


def join(settings: ProviderSettings, host: str, sealed_with: str) -> str | None:
    """None once the host's node is ALIVE; else why the host takes the full join, nothing
    started by this call. QuickJoinFailedError where Ray may have started but its node did
    not show up."""
    if not settings.section.dashboard_url:
        return "the head's settings predate quick joins"
    try:
        host_vars = pool_host_vars(yaml.safe_load(settings.inventory.read_text()))[host]
        key = ansible_setting(settings.ansible_config, "private_key_file")
        asked = request(settings, host, sealed_with)
        reach = connection(host, host_vars)
        headers = auth_headers(str(NODE_TOKEN_FILE) if asked["token"] else None)
        # A node of the host's last join may still be listed ALIVE, until the GCS notices it
        # went: only a node with another id counts.
        before = wait_for_nodes(settings.section.dashboard_url, asked["node_ip"], headers)
    except (
        OSError,
        ValueError,
        LookupError,
        TypeError,
        AttributeError,
        configparser.Error,
    ) as error:
        return f"the provisioner's files or the head's dashboard do not say how ({error!r})"
    except (yaml.YAMLError, TokenError, NodeWaitError) as error:
        return f"the provisioner's files or the head's dashboard do not say how ({error})"
    if reach is None or not key:
        return "the host is reached other than over SSH as root or with sudo"
    refused = _ask(settings, reach, key, asked)
    if refused is not None:
        return refused
    try:
        wait_for_nodes(
            settings.section.dashboard_url,
            asked["node_ip"],
            headers,
            known={str(node.get("node_id")) for node in before},
            wait_timeout=settings.section.start_timeout_s,
        )
    except NodeWaitError as error:
        raise QuickJoinFailedError(str(error)) from error
    return None


def _ask(
    settings: ProviderSettings, reach: Connection, key: str, asked: Mapping[str, Any]
) -> str | None:
    """Run rayfleet-ray-join on the host: None once it started the node, else why not.

    QuickJoinFailedError where no answer came in time: the helper may have started Ray.
    """
    argv = ssh.ssh_command(
        key,
        reach.destination,
        port=reach.port,
        known_hosts=settings.known_hosts,
        connect_timeout_s=CONNECT_TIMEOUT_S,
        command=[*(["sudo", "-n"] if reach.sudo else []), JOIN_COMMAND, "join"],
    )
    try:
        result = subprocess.run(
            argv,
            input=json.dumps(asked),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise QuickJoinFailedError(
            f"rayfleet-ray-join gave no answer in {COMMAND_TIMEOUT_S} s"
        ) from error
    except OSError as error:
        return str(error)
    if result.returncode == 0:
        return None
    lines = result.stderr.strip().splitlines()
    return lines[-1] if lines else f"rayfleet-ray-join: rc {result.returncode}"
