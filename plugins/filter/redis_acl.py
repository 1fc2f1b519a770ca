# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Filters for Redis's ACL users: one per cluster whose GCS it keeps, one for the exporter."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ansible_collections.rayfleet.cluster.plugins.module_utils.gcs_storage import (
    REDIS_EXPORTER_ACL,
    REDIS_EXPORTER_USER,
    redis_user,
    redis_user_acl,
    user_password,
)

DOCUMENTATION = r"""
name: redis_users
short_description: Redis ACL users for the clusters a Redis serves and for its exporter
description:
  - One user per namespace, C(ray-<namespace>), limited to Ray's GCS commands on the keys
    C(RAY<namespace>@*); with O(exporter), the user C(rayfleet-exporter), which reads metrics only.
  - Each password is derived from the admin password (HMAC-SHA256), so the ray role computes the
    same one with P(rayfleet.cluster.redis_user_password#filter).
options:
  _input:
    description: The admin password (the default user's).
    type: str
    required: true
  namespaces:
    description: The GCS namespaces of the clusters that keep their state in this Redis.
    type: list
    elements: str
    required: true
  exporter:
    description: Add the exporter's user.
    type: bool
    default: false
"""


def redis_users(
    admin_password: str, namespaces: Iterable[str], exporter: bool = False
) -> list[dict[str, Any]]:
    users = [
        {
            "name": redis_user(namespace),
            "password": user_password(admin_password, redis_user(namespace)),
            "acl": redis_user_acl(namespace),
            "exporter": False,
        }
        for namespace in sorted(set(namespaces))
    ]
    if exporter:
        users.append(
            {
                "name": REDIS_EXPORTER_USER,
                "password": user_password(admin_password, REDIS_EXPORTER_USER),
                "acl": REDIS_EXPORTER_ACL,
                "exporter": True,
            }
        )
    return users


def redis_user_password(admin_password: str, user: str) -> str:
    return user_password(admin_password, user)


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"redis_users": redis_users, "redis_user_password": redis_user_password}
