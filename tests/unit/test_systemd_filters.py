"""Unit tests of the systemd quoting filters used by the ray role's unit and environment file."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ansible_collections.rayfleet.cluster.plugins.filter.systemd import (
    FilterModule,
    systemd_env_quote,
    systemd_exec_quote,
)

SAFE_ARGS = [
    "--head",
    "--port=6379",
    "--node-ip-address=10.89.90.10",
    "--temp-dir=/var/lib/ray/tmp",
    "/opt/ray/2.60.0/bin/ray",
    "--address=10.89.90.10:6379",
    "--labels-file=/etc/ray/labels.yaml",
    "user@host,a+b",
]


def test_filters_are_registered() -> None:
    assert FilterModule().filters() == {
        "systemd_exec_quote": systemd_exec_quote,
        "systemd_env_quote": systemd_env_quote,
    }


# --- systemd_exec_quote -----------------------------------------------------------------------


@pytest.mark.parametrize("arg", SAFE_ARGS)
def test_exec_quote_leaves_safe_args(arg: str) -> None:
    assert systemd_exec_quote(arg) == arg


@pytest.mark.parametrize(
    ("arg", "quoted"),
    [
        ('--resources={"a":1}', '"--resources={\\"a\\":1}"'),
        (
            '--resources={"cpu_workers":100,"GPU_x":0.5}',
            '"--resources={\\"cpu_workers\\":100,\\"GPU_x\\":0.5}"',
        ),
        ("--resources={}", '"--resources={}"'),
        ("two words", '"two words"'),
        ("back\\slash", '"back\\\\slash"'),
        ("it's", '"it\'s"'),
        ("", '""'),
    ],
)
def test_exec_quote_quotes_and_escapes(arg: str, quoted: str) -> None:
    assert systemd_exec_quote(arg) == quoted


@pytest.mark.parametrize(
    ("arg", "quoted"),
    [
        ("50%", '"50%%"'),
        ("%h/ray", '"%%h/ray"'),
        ("$HOME", '"$$HOME"'),
        ("${RAY_ADDRESS}", '"$${RAY_ADDRESS}"'),
        ("a%b$c", '"a%%b$$c"'),
        ('{"x":"$y%"}', '"{\\"x\\":\\"$$y%%\\"}"'),
    ],
)
def test_exec_quote_doubles_percent_and_dollar(arg: str, quoted: str) -> None:
    assert systemd_exec_quote(arg) == quoted


def test_exec_quote_stringifies() -> None:
    assert systemd_exec_quote(6379) == "6379"  # type: ignore[arg-type]


# --- systemd_env_quote ------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1", "10.89.90.10:6379", "/opt/ray", "cpu_workers", "a=b"])
def test_env_quote_leaves_safe_values(value: str) -> None:
    assert systemd_env_quote(value) == value


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("two words", '"two words"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("$HOME", '"\\$HOME"'),
        ("`id`", '"\\`id\\`"'),
        ('a"b\\c$d`e', '"a\\"b\\\\c\\$d\\`e"'),
        ("50%", '"50%"'),
        ("", '""'),
    ],
)
def test_env_quote_quotes_and_escapes(value: str, quoted: str) -> None:
    assert systemd_env_quote(value) == quoted


ROUND_TRIP_VALUES = [
    "plain",
    "two words",
    "  leading and trailing  ",
    'say "hi"',
    "it's",
    "back\\slash",
    "trailing\\",
    "\\\\double",
    "$HOME",
    "${HOME}x",
    "$(id)",
    "`id`",
    "50% off; rm -rf / & echo | cat > x < y",
    '{"a": 1, "b": "c d"}',
    "*?[a-z]~#!",
    'a"b\\c$d`e',
    "",
]


@pytest.mark.parametrize("value", ROUND_TRIP_VALUES)
def test_env_quote_round_trips_through_a_shell(tmp_path: Path, value: str) -> None:
    env_file = tmp_path / "ray.env"
    env_file.write_text(f"KEY={systemd_env_quote(value)}\n")
    printed = subprocess.run(
        ["bash", "-c", 'set -a; . "$1"; printf %s "$KEY"', "bash", str(env_file)],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent-home"},
    )
    assert printed.stderr == ""
    assert printed.stdout == value
