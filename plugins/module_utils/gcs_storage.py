# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Where a Ray cluster's GCS keeps its state, and which Redis keys belong to one cluster.

Pure functions: no Ansible or Redis imports, so pytest imports them directly.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable

STORAGES = ("none", "redis", "rocksdb")
DEFAULT_REDIS_PORT = 6379
# Ray stores every GCS table of a cluster in a Redis hash named RAY<namespace>@<table>
# (ray/_private/gcs_utils.py: cleanup_redis_storage). '@' ends the prefix, so a
# namespace must not contain it; glob characters would widen a SCAN pattern.
NAMESPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_GLOB_SPECIALS = re.compile(r"([*?\[\]\\])")


def namespace_problem(namespace: str) -> str | None:
    """Why a namespace cannot be used, or None when it can."""
    if NAMESPACE.match(namespace):
        return None
    return (
        f"{namespace!r} is not a usable namespace: use letters, digits, '.', '_' and '-', "
        "starting with a letter or digit, at most 128 characters"
    )


def key_prefix(namespace: str) -> str:
    """The prefix of every Redis key of the cluster with this namespace."""
    return f"RAY{namespace}@"


def scan_pattern(namespace: str) -> str:
    """A Redis SCAN MATCH pattern for the cluster's keys and no other cluster's."""
    return _GLOB_SPECIALS.sub(r"\\\1", key_prefix(namespace)) + "*"


def cluster_keys(keys: Iterable[str | bytes], namespace: str) -> list[str]:
    """The keys, among those given, that belong to the cluster with this namespace."""
    prefix = key_prefix(namespace)
    names = (key.decode() if isinstance(key, bytes) else key for key in keys)
    return sorted(name for name in names if name.startswith(prefix))


# The Redis user the exporter reads metrics as: no key, no write.
REDIS_EXPORTER_USER = "rayfleet-exporter"
REDIS_EXPORTER_ACL = (
    "resetkeys resetchannels -@all +@connection +ping +info +config|get +client|list "
    "+slowlog|get +slowlog|len +latency|latest +cluster|info +dbsize +memory|stats"
)


def redis_user(namespace: str) -> str:
    """The Redis user a cluster's GCS connects as (namespaces are unique per Redis)."""
    return f"ray-{namespace}"


def redis_user_acl(namespace: str) -> str:
    """What a cluster's Redis user may do: Ray's GCS commands, on its own keys only.

    Every job of the cluster runs as ray, like its GCS, and Ray 2.60 puts the password on
    the GCS's and its workers' command lines: so the password may touch no other cluster's
    state. Commands without keys that reach every key (FLUSHALL, SWAPDB...) are among
    @dangerous; INFO and CLUSTER INFO, which the GCS asks at connect, are put back. ~DUMMY:
    the GCS deletes that key to tell a Redis Cluster from a plain Redis.
    """
    return (
        f"resetkeys resetchannels ~{scan_pattern(namespace)} ~DUMMY -@all +@read +@write "
        "+@keyspace +@connection +@transaction +@string +@hash +@list +@set +@sortedset "
        "-@dangerous -@scripting -@pubsub +info +cluster|info"
    )


def user_password(admin_password: str, user: str) -> str:
    """A Redis user's password, derived from the admin password (HMAC-SHA256).

    Both the redis role (which declares the user) and the ray role (whose head connects as
    it) compute it from the one password file they already share; a user's password does
    not reveal the admin password or another user's.
    """
    return hmac.new(admin_password.encode(), user.encode(), hashlib.sha256).hexdigest()


def split_address(address: str) -> tuple[str, int]:
    """Host and port of 'host:port', '[v6]:port' or a bare host (Redis's default port)."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif address.count(":") == 1:
        host, _, port = address.partition(":")
    else:
        host, port = address, ""
    if not host:
        raise ValueError(f"{address!r} has no host")
    if not port:
        return host, DEFAULT_REDIS_PORT
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{address!r} has no valid port")
    return host, int(port)


def join_address(host: str, port: int) -> str:
    """'host:port', with an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
