"""Redis's users: one per cluster with a password of its own, derived the same on both sides.

Whether Redis lets each user reach only its own keys is shown on real hosts (molecule
gcs_ft: a job of one cluster against another cluster's keys in the shared Redis).
"""

from __future__ import annotations

from ansible_collections.rayfleet.cluster.plugins.filter.redis_acl import redis_users
from ansible_collections.rayfleet.cluster.plugins.module_utils.gcs_storage import (
    REDIS_EXPORTER_USER,
    redis_user,
    user_password,
)

ADMIN = "admin-password"


def test_each_users_password_is_its_own_and_does_not_reveal_the_admins() -> None:
    passwords = {
        user: user_password(ADMIN, user) for user in ("ray-a", "ray-b", REDIS_EXPORTER_USER)
    }
    assert len(set(passwords.values())) == 3
    assert all(ADMIN not in password for password in passwords.values())
    assert user_password("another-admin", "ray-a") != passwords["ray-a"]


def test_the_redis_role_declares_the_user_and_password_the_head_connects_with() -> None:
    users = {user["name"]: user for user in redis_users(ADMIN, ["b", "a", "a"], exporter=True)}
    assert list(users) == ["ray-a", "ray-b", REDIS_EXPORTER_USER]
    assert users[redis_user("a")]["password"] == user_password(ADMIN, redis_user("a"))
    assert users["ray-a"]["acl"].startswith("resetkeys resetchannels ~RAYa@* ~DUMMY -@all ")
    assert "-@dangerous" in users["ray-a"]["acl"]
    assert users[REDIS_EXPORTER_USER]["acl"].startswith("resetkeys resetchannels -@all ")
    assert [user["exporter"] for user in users.values()] == [False, False, True]
    assert REDIS_EXPORTER_USER not in {user["name"] for user in redis_users(ADMIN, ["a"])}
