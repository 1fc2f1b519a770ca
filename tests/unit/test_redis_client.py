"""How rayfleet's own Redis clients (ray_health, redis_namespace) connect: TLS when given a CA."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import redis

from ansible_collections.rayfleet.cluster.plugins.module_utils import redis_client


class RecordingRedis:
    """Stands in for redis.Redis: records how it was made; a plain Redis, not a Sentinel."""

    made: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, **options: Any) -> None:
        self.made.append(options)

    def info(self, section: str) -> dict[str, Any]:
        return {}


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    RecordingRedis.made = []
    monkeypatch.setattr(redis, "Redis", RecordingRedis)
    return RecordingRedis.made


def test_a_ca_file_means_tls_checked_against_that_ca(made: list[dict[str, Any]]) -> None:
    redis_client.connect("10.0.0.20:6379", "ray-lab", "secret", 2.0, "/etc/ray/redis-ca.crt")
    [options] = made
    assert (options["host"], options["port"]) == ("10.0.0.20", 6379)
    assert (options["username"], options["password"]) == ("ray-lab", "secret")
    assert options["ssl"] is True
    assert options["ssl_ca_certs"] == "/etc/ray/redis-ca.crt"
    # redis-py's default, which the comment in connect() relies on: the CA must have signed it.
    assert options.get("ssl_cert_reqs", "required") == "required"


def test_without_a_ca_file_plain_tcp(made: list[dict[str, Any]]) -> None:
    redis_client.connect("[fd00::20]:6380", "", "", 2.0)
    [options] = made
    assert (options["host"], options["port"]) == ("fd00::20", 6380)
    assert (options["username"], options["password"], options["ssl"]) == (None, None, False)
