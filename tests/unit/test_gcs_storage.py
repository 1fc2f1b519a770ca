"""Which Redis keys belong to one Ray cluster, and how its Redis address is read."""

from __future__ import annotations

import fnmatch

import pytest

from ansible_collections.rayfleet.cluster.plugins.filter.address import FilterModule
from ansible_collections.rayfleet.cluster.plugins.module_utils.gcs_storage import (
    cluster_keys,
    join_address,
    key_prefix,
    namespace_problem,
    scan_pattern,
    split_address,
)

# Keys as Ray 2.60's GCS writes them (seen in the lab's Redis), two clusters and a stranger.
KEYS = [
    "RAYlab@ACTOR",
    "RAYlab@KV",
    "RAYlab@NODE",
    "RAYlab-2@ACTOR",
    "RAYlab-2@NODE",
    "RAYla@JOB",
    "lab@NODE",
    "session:1234",
]


def redis_glob(pattern: str, key: str) -> bool:
    """Redis's MATCH for the subset scan_pattern uses: '*' and backslash escapes."""
    return fnmatch.fnmatchcase(key, pattern.replace("\\", ""))


def test_a_clusters_keys_are_its_own_and_no_one_elses() -> None:
    assert cluster_keys(KEYS, "lab") == ["RAYlab@ACTOR", "RAYlab@KV", "RAYlab@NODE"]
    assert cluster_keys(KEYS, "lab-2") == ["RAYlab-2@ACTOR", "RAYlab-2@NODE"]
    assert cluster_keys(KEYS, "la") == ["RAYla@JOB"]


def test_keys_from_redis_may_be_bytes() -> None:
    assert cluster_keys([b"RAYlab@NODE", b"RAYother@NODE"], "lab") == ["RAYlab@NODE"]


def test_scan_pattern_matches_exactly_the_clusters_keys() -> None:
    pattern = scan_pattern("lab")
    assert pattern == "RAYlab@*"
    assert [key for key in KEYS if redis_glob(pattern, key)] == cluster_keys(KEYS, "lab")


def test_scan_pattern_escapes_glob_characters() -> None:
    assert scan_pattern("a*b") == "RAYa\\*b@*"
    assert scan_pattern("x[1]") == "RAYx\\[1\\]@*"


def test_key_prefix_ends_at_the_at_sign() -> None:
    assert key_prefix("prod") == "RAYprod@"


@pytest.mark.parametrize("namespace", ["lab", "ml-prod", "team_a.cluster-1", "0"])
def test_usable_namespaces(namespace: str) -> None:
    assert namespace_problem(namespace) is None


@pytest.mark.parametrize("namespace", ["", "a@b", "a*", "a b", ".hidden", "x" * 129])
def test_unusable_namespaces(namespace: str) -> None:
    problem = namespace_problem(namespace)
    assert problem is not None
    assert repr(namespace) in problem


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("10.0.0.5:6380", ("10.0.0.5", 6380)),
        ("redis.example.com", ("redis.example.com", 6379)),
        ("[fd00::5]:6390", ("fd00::5", 6390)),
        ("[fd00::5]", ("fd00::5", 6379)),
        ("fd00::5", ("fd00::5", 6379)),
    ],
)
def test_split_address(address: str, expected: tuple[str, int]) -> None:
    assert split_address(address) == expected


@pytest.mark.parametrize("address", [":6379", "host:port", "host:0", "host:70000"])
def test_split_address_rejects(address: str) -> None:
    with pytest.raises(ValueError, match=r"host|port"):
        split_address(address)


def test_join_address_round_trips() -> None:
    for host, port in [("10.0.0.5", 6379), ("fd00::5", 6390), ("redis.example.com", 1)]:
        assert split_address(join_address(host, port)) == (host, port)


def test_split_address_filter_serves_the_validate_play() -> None:
    split = FilterModule().filters()["split_address"]
    assert split("[fd00::5]:6390") == ["fd00::5", 6390]
    assert split("10.0.0.5") == ["10.0.0.5", 6379]
