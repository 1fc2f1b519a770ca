"""rayfleet-fence, the one command the provisioner's fence key runs as root on a host."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from role_files import load_role_file

from ansible_collections.rayfleet.cluster.plugins.module_utils.firewall import FENCE_COMMAND

FIREWALL_ROLE = Path(__file__).resolve().parents[2] / "roles" / "firewall"


fence = load_role_file("firewall", "rayfleet_fence")


def test_over_ssh_the_forced_command_reads_what_the_client_asked() -> None:
    # sshd runs rayfleet-fence with no arguments and the client's command in the environment.
    assert fence.parse_command([], "sync 10.0.0.21 10.0.0.22") == (
        "sync",
        ["10.0.0.21", "10.0.0.22"],
    )
    assert fence.parse_command(["load"], None) == ("load", [])
    assert fence.parse_command(["sync"], None) == ("sync", [])


@pytest.mark.parametrize(
    "command", ["", "bash", "sh -c id", "load", "load 10.0.0.21", "sync; id", "nft flush ruleset"]
)
def test_over_ssh_nothing_but_sync_runs(command: str) -> None:
    with pytest.raises(fence.FenceError):
        fence.parse_command([], command)


def test_only_the_clusters_pool_hosts_get_in() -> None:
    allowed, bad = fence.addresses_in("# pool\n10.0.0.21\n10.0.0.22  # small-2\n\n2001:db8::21\n")
    assert bad == []
    assert fence.split_requested(["10.0.0.22", "2001:db8:0::21", "10.0.0.22"], set(allowed)) == (
        ["10.0.0.22", "2001:db8::21"],
        [],
    )
    # The others are refused one by one; the rest still gets in (or out).
    requested = ["10.0.0.21", "10.0.0.99", "0.0.0.0/0", "10.0.0.21,10.0.0.99", "x", "fe80::1%eth0"]
    assert fence.split_requested(requested, set(allowed)) == (["10.0.0.21"], requested[1:])


def test_a_damaged_list_keeps_its_good_lines() -> None:
    assert fence.addresses_in("10.0.0.21\n10.0.0.\n2001:DB8::21\n") == (
        ["10.0.0.21", "2001:db8::21"],
        ["10.0.0."],
    )


def test_the_sets_are_replaced_whole_in_one_transaction() -> None:
    assert fence.set_commands(["10.0.0.21", "10.0.0.22", "2001:db8::21"]) == (
        "flush set inet rayfleet joined_ip\n"
        "add element inet rayfleet joined_ip { 10.0.0.21, 10.0.0.22 }\n"
        "flush set inet rayfleet joined_ip6\n"
        "add element inet rayfleet joined_ip6 { 2001:db8::21 }\n"
    )
    # Nobody joined: both sets are emptied.
    assert fence.set_commands([]) == (
        "flush set inet rayfleet joined_ip\nflush set inet rayfleet joined_ip6\n"
    )


def test_the_role_puts_its_files_where_the_command_reads_them() -> None:
    internal = yaml.safe_load((FIREWALL_ROLE / "vars" / "main.yml").read_text())
    assert Path(internal["_firewall_rules_file"]) == fence.RULES_FILE
    assert Path(internal["_firewall_pool_file"]) == fence.ALLOWED_FILE
    assert Path(internal["_firewall_joined_file"]) == fence.JOINED_FILE
    assert f"inet {internal['_firewall_table']}" == fence.TABLE
    template = (FIREWALL_ROLE / "templates" / "rayfleet.nft.j2").read_text()
    assert re.search(r"set joined_\{\{ family \}\}", template)
    assert sorted(fence.SETS.values()) == ["joined_ip", "joined_ip6"]
    assert FENCE_COMMAND.startswith("/usr/local/sbin/")
