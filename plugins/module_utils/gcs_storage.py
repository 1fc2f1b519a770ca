# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Where a Ray cluster's GCS keeps its state, and which Redis keys belong to one cluster.

Pure functions: no Ansible or Redis imports, so pytest imports them directly.
"""

from __future__ import annotations

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
