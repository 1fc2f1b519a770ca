"""The wheelhouse a host installs from: one per Ray, Python, CPU and requirement set."""

from __future__ import annotations

import pytest

from ansible_collections.rayfleet.cluster.plugins.module_utils.wheelhouse import (
    glibc_minor,
    wheelhouse,
)

REQUIREMENTS = ["ray[default]==2.60.0", "redis==5.2.1", "async-timeout==5.0.1"]


def debian_12(requirements: list[str] = REQUIREMENTS, **facts: str) -> tuple[str, tuple[str, ...]]:
    found = wheelhouse(
        requirements,
        ray_version=facts.get("ray_version", "2.60.0"),
        python_version=facts.get("python_version", "3.11.2"),
        architecture=facts.get("architecture", "x86_64"),
        getconf_output=facts.get("getconf_output", "glibc 2.36\n"),
    )
    return found.tag, found.platforms


def test_platforms_run_from_manylinux2014_to_the_hosts_glibc() -> None:
    _, platforms = debian_12()
    assert platforms[0] == "manylinux_2_17_x86_64"
    assert platforms[-2:] == ("manylinux_2_36_x86_64", "manylinux2014_x86_64")
    assert len(platforms) == 36 - 17 + 2


def test_platforms_follow_the_architecture() -> None:
    _, platforms = debian_12(architecture="aarch64", getconf_output="glibc 2.35")
    assert platforms[-2:] == ("manylinux_2_35_aarch64", "manylinux2014_aarch64")


def test_the_tag_names_ray_python_and_cpu() -> None:
    tag, _ = debian_12()
    assert tag.startswith("ray-2.60.0-py3.11.2-x86_64-")
    assert len(tag.rsplit("-", 1)[1]) == 8


def test_the_order_of_the_requirements_does_not_matter() -> None:
    assert debian_12(list(reversed(REQUIREMENTS)))[0] == debian_12()[0]


@pytest.mark.parametrize(
    "change",
    [
        {"requirements": [*REQUIREMENTS, "ansible-core==2.19.14"]},
        {"python_version": "3.11.9"},
        {"ray_version": "2.61.0"},
        {"architecture": "aarch64"},
    ],
    ids=["requirements", "python", "ray", "cpu"],
)
def test_any_change_makes_another_wheelhouse(change: dict[str, object]) -> None:
    requirements = change.pop("requirements", REQUIREMENTS)
    assert isinstance(requirements, list)
    facts = {name: str(value) for name, value in change.items()}
    assert debian_12(requirements, **facts)[0] != debian_12()[0]


@pytest.mark.parametrize("output", ["", "musl libc 1.2", "glibc 3.0"])
def test_a_glibc_it_cannot_read_is_refused(output: str) -> None:
    with pytest.raises(ValueError, match=r"not a glibc 2\.x version"):
        glibc_minor(output)
