"""Which secrets a run of playbooks/rotate.yml makes anew."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from plans import cluster, node

from ansible_collections.rayfleet.cluster.plugins.filter.rotation import (
    rotated_secrets,
    rotation_gaps,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.plan import Plan


@pytest.mark.parametrize(
    ("value", "secrets"),
    [
        ("", []),
        (None, []),
        ("token", ["token"]),
        ("redis, token", ["token", "redis"]),
        (["provisioner_keys", "token"], ["token", "provisioner_keys"]),
    ],
)
def test_the_secrets_named_are_read_in_one_order(value: object, secrets: list[str]) -> None:
    assert rotated_secrets(value) == secrets


def test_an_unknown_secret_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(
        AnsibleFilterError, match=r"tokn is not a secret.*token, redis, provisioner_keys"
    ):
        rotated_secrets("tokn,redis")


PLAN = Plan(
    clusters={
        "ft": cluster("head", gcs_storage="redis"),
        "other": cluster("other", gcs_storage="redis"),
        "plain": cluster("plain-head"),
        "scale": cluster("scale-head", autoscaling=True),
    },
    nodes={
        "head": node("head", "ft", "head", "head", "10.0.0.1"),
        "worker": node("worker", "ft", "worker", "cpu", "10.0.0.2"),
        "other": node("other", "other", "head", "head", "10.0.0.3"),
        "plain-head": node("plain-head", "plain", "head", "head", "10.0.0.4"),
        "scale-head": node("scale-head", "scale", "head", "head", "10.0.0.5"),
        "pool-1": node("pool-1", "scale", "worker", "pool", "10.0.0.6", pool=True, spare=True),
    },
).to_dict()


def gaps(hosts: list[str], secrets: list[str]) -> list[str]:
    return [gap.split(":")[0] for gap in rotation_gaps(PLAN, hosts, secrets, ["redis-1"])]


def test_a_rotation_reaches_every_host_that_uses_the_secret() -> None:
    # A token lives on every node of its cluster; a head with it in the run needs them all.
    assert gaps(["head"], ["token"]) == ["worker"]
    assert gaps(["head", "worker"], ["token"]) == []
    # The Redis password: every head that keeps its state there.
    assert gaps(["redis-1", "head", "worker"], ["redis"]) == ["other"]
    assert gaps(["redis-1", "head", "other"], ["redis"]) == []
    # The provisioner's keys: the autoscaling cluster's pool hosts too.
    assert gaps(["scale-head"], ["provisioner_keys"]) == ["pool-1"]
    # A run that reaches none of a secret's users rotates nothing of it.
    assert gaps(["plain-head"], ["token", "redis", "provisioner_keys"]) == []


def test_a_gap_names_the_host_the_variable_and_the_fix() -> None:
    [gap] = rotation_gaps(PLAN, ["head"], ["token"], [])
    assert gap.startswith("worker: rayfleet_rotate: token changes for cluster ft")
    assert "Fix: add it to --limit" in gap
