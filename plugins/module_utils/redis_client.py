# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""A client of the Redis that keeps a Ray cluster's GCS state, as Ray's GCS reaches it.

Needs the redis Python client (the ray role installs it in Ray's venv on the head): modules
that import this run with that venv's interpreter and report REDIS_IMPORT_ERROR otherwise.
"""

from __future__ import annotations

import traceback
from typing import Any

from ansible_collections.rayfleet.cluster.plugins.module_utils.gcs_storage import split_address

try:
    import redis

    REDIS_IMPORT_ERROR = None
    RedisError: type[Exception] = redis.RedisError
except ImportError:
    REDIS_IMPORT_ERROR = traceback.format_exc()
    RedisError = Exception


def connect(address: str, username: str, password: str, timeout_s: float, ca_file: str = "") -> Any:
    """A client of the Redis primary at address, or of the primary a Sentinel there names.

    With ca_file, over TLS only, trusting only the certificates that CA signed (as Ray's
    GCS does with RAY_REDIS_CA_CERT).
    """

    def client(host: str, port: int) -> Any:
        return redis.Redis(
            host=host,
            port=port,
            username=username or None,
            password=password or None,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            # The client's default is to require a certificate that the CA signed.
            ssl=bool(ca_file),
            ssl_ca_certs=ca_file or None,
        )

    found = client(*split_address(address))
    if not found.info("sentinel"):
        return found
    masters = found.sentinel_masters()
    if len(masters) != 1:
        raise ValueError(f"the Sentinel at {address} monitors {len(masters)} primaries, not one")
    primary = next(iter(masters.values()))
    return client(primary["ip"], int(primary["port"]))
