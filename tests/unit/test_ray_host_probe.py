"""ray_host_probe: what the ray role reads of a host before changing it, in one call."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest
from modules import run_module

from ansible_collections.rayfleet.cluster.plugins.modules import ray_host_probe


def test_it_reads_python_packages_manifest_and_shm(tmp_path: Path) -> None:
    manifest = tmp_path / "rayfleet-requirements.txt"
    manifest.write_text("ray[default]==X\n")
    result, _ = run_module(
        "ray_host_probe",
        python=sys.executable,
        # dpkg is on every Debian host; the other package is on none.
        packages=["dpkg", "rayfleet-no-such-package"],
        manifest=str(manifest),
    )
    assert not result["changed"]
    assert result["python_version"] == platform.python_version() and result["python_error"] == ""
    assert result["missing_packages"] == ["rayfleet-no-such-package"]
    assert result["manifest"] == "ray[default]==X\n"
    assert result["shm_bytes"] > 0


def test_the_user_as_it_is_home_included() -> None:
    result, _ = run_module(
        "ray_host_probe", python=sys.executable, manifest="/nonexistent", user="root"
    )
    assert result["user"] == {
        "home": "/root",
        "shell": result["user"]["shell"],
        "group": "root",
        "home_exists": True,
    }
    nobody, _ = run_module(
        "ray_host_probe",
        python=sys.executable,
        manifest="/nonexistent",
        user="rayfleet-no-such-user",
    )
    assert nobody["user"] is None


def test_a_python_that_does_not_run_and_a_venv_never_built(tmp_path: Path) -> None:
    result, _ = run_module(
        "ray_host_probe", python=str(tmp_path / "python3"), manifest=str(tmp_path / "none")
    )
    assert result["python_version"] == "" and "No such file" in result["python_error"]
    assert result["manifest"] is None


def test_unit_files_are_those_of_rays_nodes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (
        "ray.service",
        "ray-1.service",
        "ray-gpu.timer",
        "rayfleet-fence.service",
        "redis.service",
    ):
        (tmp_path / name).write_text("")
    # A masked unit is a link to /dev/null: no node of the host.
    (tmp_path / "ray-2.service").symlink_to("/dev/null")
    monkeypatch.setattr(ray_host_probe, "UNIT_DIR", str(tmp_path))
    assert ray_host_probe.unit_files(["ray.service", "ray-*.service"]) == [
        {"path": f"{tmp_path}/ray-1.service"},
        {"path": f"{tmp_path}/ray.service"},
    ]


def test_it_names_the_c_library_as_getconf_does(tmp_path: Path) -> None:
    result, _ = run_module("ray_host_probe", python=sys.executable, manifest=str(tmp_path / "none"))
    getconf = subprocess.run(
        ["getconf", "GNU_LIBC_VERSION"], capture_output=True, text=True, check=True
    )
    assert result["libc_version"] == getconf.stdout.strip()
