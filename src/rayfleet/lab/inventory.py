"""Reads the lab's hosts and network from an Ansible inventory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ansible_collections.rayfleet.cluster.plugins.module_utils.names import HEAD_GROUP
from rayfleet.auth import controller_token_file
from rayfleet.inventory import list_inventory
from rayfleet.lab.hosts import LabHost, LabNetwork


@dataclass(frozen=True)
class LabInventory:
    network: LabNetwork
    hosts: list[LabHost]
    head: LabHost
    # The cluster's token on this machine, which lab jobs are submitted with.
    token_file: Path


def read_lab_inventory(inventory: Path) -> LabInventory:
    """Hosts with their ansible_host, and lab_network/lab_subnet from the inventory."""
    listing = list_inventory(inventory)
    hostvars: dict[str, dict[str, str]] = listing["_meta"]["hostvars"]
    hosts = [LabHost(name, str(vars_["ansible_host"])) for name, vars_ in sorted(hostvars.items())]
    any_vars = next(iter(hostvars.values()))
    network = LabNetwork(any_vars["lab_network"], any_vars["lab_subnet"])
    head_name = listing[HEAD_GROUP]["hosts"][0]
    head = next(host for host in hosts if host.name == head_name)
    cluster = str(hostvars[head_name]["ray_cluster_name"])
    return LabInventory(
        network=network,
        hosts=hosts,
        head=head,
        token_file=controller_token_file(inventory.resolve(), cluster),
    )
