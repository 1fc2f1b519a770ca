# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Filter that reads which secrets a run of playbooks/rotate.yml changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: rotated_secrets
short_description: The secrets C(rayfleet_rotate) names, checked
description:
  - Reads C(rayfleet_rotate), a comma-separated list (or a list) of the secrets that
    C(playbooks/rotate.yml) makes anew - C(token) (each cluster's Ray token), C(redis) (the
    Redis passwords of the C(redis) group) and C(provisioner_keys) (the autoscaler's SSH keys).
  - Fails naming a secret it does not know. Unset or empty is no secret.
options:
  _input:
    description: The value of C(rayfleet_rotate).
    type: raw
    required: true
"""

SECRETS = ("token", "redis", "provisioner_keys")


def rotated_secrets(value: Any) -> list[str]:
    names = str(value).split(",") if isinstance(value, str) else list(value or [])
    chosen = [str(name).strip() for name in names if str(name).strip()]
    unknown = sorted(set(chosen) - set(SECRETS))
    if unknown:
        raise AnsibleFilterError(
            f"rayfleet_rotate: {', '.join(unknown)} is not a secret rayfleet rotates. "
            f"Fix: name some of {', '.join(SECRETS)}, separated by commas"
        )
    return [name for name in SECRETS if name in chosen]


class FilterModule:
    def filters(self) -> dict[str, Callable[[Any], list[str]]]:
        return {"rotated_secrets": rotated_secrets}
