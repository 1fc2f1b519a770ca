"""Which secrets a run of playbooks/rotate.yml makes anew."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.rayfleet.cluster.plugins.filter.rotation import rotated_secrets


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
        AnsibleFilterError, match="tokn is not a secret.*token, redis, provisioner_keys"
    ):
        rotated_secrets("tokn,redis")
