"""Ray's venv built once on the controller and unpacked on the hosts at their venv path."""

from __future__ import annotations

import base64
import grp
import hashlib
import os
import platform
import pwd
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from modules import run_module

from ansible_collections.rayfleet.cluster.plugins.filter.wheelhouse import ray_venv_pack
from ansible_collections.rayfleet.cluster.plugins.module_utils.venv_pack import (
    PACK_SUFFIX,
    Interpreter,
    mismatch,
    pack_name,
    relocate,
    swap_command,
)

HOSTS = Interpreter("/usr/bin/python3", "3.11.2", "x86_64", 36)
TAG = "ray-X-py3.11.2-x86_64-a719a09a"


def test_each_python_path_venv_path_and_glibc_has_its_own_pack() -> None:
    names = {
        pack_name(TAG, HOSTS, "/opt/ray/venv"),
        pack_name(TAG, HOSTS, "/srv/ray/venv"),
        pack_name(
            TAG, Interpreter("/usr/local/bin/python3", "3.11.2", "x86_64", 36), "/opt/ray/venv"
        ),
        pack_name(TAG, Interpreter("/usr/bin/python3", "3.11.2", "x86_64", 31), "/opt/ray/venv"),
    }
    assert len(names) == 4
    assert all(name.startswith(TAG) and name.endswith(PACK_SUFFIX) for name in names)


@pytest.mark.parametrize(
    ("controller", "reason"),
    [
        (HOSTS, ""),
        # A newer glibc runs every wheel the hosts' older one accepts.
        (Interpreter("/usr/bin/python3", "3.11.2", "x86_64", 39), ""),
        (
            Interpreter("/usr/bin/python3", "3.11.9", "x86_64", 36),
            "Python 3.11.9, the hosts' 3.11.2",
        ),
        (Interpreter("/usr/bin/python3", "3.11.2", "aarch64", 36), "aarch64"),
        (Interpreter("/usr/bin/python3", "3.11.2", "x86_64", 31), "glibc 2.31 is older"),
    ],
)
def test_the_controller_builds_only_with_the_hosts_own_python(
    controller: Interpreter, reason: str
) -> None:
    found = mismatch(controller, HOSTS)
    assert (reason in found and found) if reason else found == ""


def test_the_filter_names_the_pack_beside_the_wheelhouse() -> None:
    pack = ray_venv_pack(
        {
            "python": "/usr/bin/python3",
            "python_version": "3.11.2",
            "architecture": "x86_64",
            "getconf_output": "glibc 2.36\n",
            "venv": "/opt/ray/venv",
        },
        "/cache",
        TAG,
    )
    assert pack["dir"] == f"/cache/{TAG}"
    assert pack["path"] == f"/cache/{pack_name(TAG, HOSTS, '/opt/ray/venv')}"
    assert pack["glibc_minor"] == 36


def wheel(directory: Path) -> Path:
    """A wheel with one module and a console script, as pip would find it in a wheelhouse."""
    name = "hello_rayfleet-1.0-py3-none-any.whl"
    info = "hello_rayfleet-1.0.dist-info"
    files = {
        "hello_rayfleet.py": b"def main():\n    print('hello from', __file__)\n",
        f"{info}/METADATA": b"Metadata-Version: 2.1\nName: hello-rayfleet\nVersion: 1.0\n",
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/entry_points.txt": b"[console_scripts]\nhello-rayfleet = hello_rayfleet:main\n",
    }
    record = [
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"
        for path, data in files.items()
    ]
    record.append("hello_rayfleet-1.0.dist-info/RECORD,,")
    with zipfile.ZipFile(directory / name, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
        archive.writestr("hello_rayfleet-1.0.dist-info/RECORD", "\n".join(record) + "\n")
    return directory / name


def controller_glibc_minor() -> int:
    return int(platform.libc_ver()[1].split(".")[1])


def test_the_pack_runs_where_the_hosts_keep_their_venv(tmp_path: Path) -> None:
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    wheel(wheelhouse)
    hosts_venv = tmp_path / "host" / "opt" / "ray" / "venv"
    dest = tmp_path / "pack.venv.tar.gz"
    args = {
        "wheelhouse": str(wheelhouse),
        "requirements": ["hello-rayfleet==1.0"],
        "python": sys.executable,
        "python_version": platform.python_version(),
        "architecture": platform.machine(),
        "glibc_minor": controller_glibc_minor(),
        "venv": str(hosts_venv),
        "dest": str(dest),
    }
    result, _ = run_module("venv_pack", **args)
    assert result["changed"] and result["packed"], result
    again, _ = run_module("venv_pack", **args)
    assert not again["changed"] and again["packed"]

    with tarfile.open(dest) as pack:
        assert all(member.uid == 0 for member in pack.getmembers())
    # What the venv_unpack action runs on a host, where no venv was before.
    unpack(hosts_venv, dest)
    assert (hosts_venv.stat().st_mode & 0o777) == 0o755
    assert (hosts_venv.parent.stat().st_mode & 0o777) == 0o755
    script = hosts_venv / "bin" / "hello-rayfleet"
    assert script.read_text().splitlines()[0] == f"#!{hosts_venv}/bin/python"
    assert subprocess.run(
        [str(script)], capture_output=True, text=True, check=True
    ).stdout.startswith(f"hello from {hosts_venv}/lib/")
    # Compiled under the hosts' path, pip's own modules too: tracebacks name the files there.
    compiled = next((hosts_venv / "lib").rglob("hello_rayfleet*.pyc"))
    assert str(hosts_venv).encode() in compiled.read_bytes()
    assert not [path for path in hosts_venv.rglob("*.pyc") if b"/.venv-" in path.read_bytes()]
    # Nothing in it that anyone but root may change: the venv's Python also runs as root.
    assert not [
        path
        for path in hosts_venv.rglob("*")
        if path.lstat().st_mode & 0o022 and not path.is_symlink()
    ]


def unpack(venv: Path, pack: Path) -> subprocess.CompletedProcess[str]:
    """The venv_unpack action's command, as this process's user and group."""
    owner, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    return subprocess.run(
        swap_command(str(venv), str(pack), owner, group),
        shell=True,
        capture_output=True,
        text=True,
        check=False,
    )


def small_pack(tmp_path: Path, marker: str) -> Path:
    """A pack of a venv holding bin/marker and the site-packages it has."""
    tree = tmp_path / f"tree-{marker}"
    (tree / "bin").mkdir(parents=True)
    (tree / "bin" / "marker").write_text(marker)
    (tree / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
    pack = tmp_path / f"{marker}{PACK_SUFFIX}"
    with tarfile.open(pack, "w:gz") as archive:
        for path in sorted(tree.rglob("*")):
            archive.add(path, str(path.relative_to(tree)), recursive=False)
    return pack


def test_the_unpack_swaps_the_venv_whole_and_keeps_the_autoscalers_path(tmp_path: Path) -> None:
    venv = tmp_path / "opt" / "ray" / "2.60.0"
    assert unpack(venv, small_pack(tmp_path, "old")).returncode == 0
    site = venv / "lib" / "python3.11" / "site-packages"
    (site / "rayfleet.pth").write_text("/opt/rayfleet/provider\n")
    (venv / "bin" / "left-by-pip").write_text("stale")

    done = unpack(venv, small_pack(tmp_path, "new"))

    assert done.returncode == 0, done.stderr
    assert (venv / "bin" / "marker").read_text() == "new"
    assert not (venv / "bin" / "left-by-pip").exists()
    assert (site / "rayfleet.pth").read_text() == "/opt/rayfleet/provider\n"
    assert sorted(path.name for path in venv.parent.iterdir()) == ["2.60.0"]


def test_a_broken_pack_leaves_the_old_venv_and_no_half_unpacked_one(tmp_path: Path) -> None:
    venv = tmp_path / "opt" / "ray" / "2.60.0"
    assert unpack(venv, small_pack(tmp_path, "old")).returncode == 0
    broken = tmp_path / f"broken{PACK_SUFFIX}"
    broken.write_bytes(small_pack(tmp_path, "new").read_bytes()[:200])

    done = unpack(venv, broken)

    assert done.returncode != 0
    assert (venv / "bin" / "marker").read_text() == "old"
    assert sorted(path.name for path in venv.parent.iterdir()) == ["2.60.0"]


def test_another_python_packs_nothing_and_says_why(tmp_path: Path) -> None:
    result, _ = run_module(
        "venv_pack",
        wheelhouse=str(tmp_path),
        requirements=["ray"],
        python=sys.executable,
        python_version="3.9.0",
        architecture=platform.machine(),
        glibc_minor=controller_glibc_minor(),
        venv="/opt/ray/venv",
        dest=str(tmp_path / "pack.venv.tar.gz"),
    )
    assert not result["changed"] and not result["packed"]
    assert f"is Python {platform.python_version()}, the hosts' 3.9.0" in result["reason"]
    assert not (tmp_path / "pack.venv.tar.gz").exists()


def test_relocate_rewrites_the_scripts_and_pyvenv_cfg_and_leaves_binaries(tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(staging)], check=True)
    binary = staging / "bin" / "tool"
    binary.write_bytes(b"\x7fELF" + str(staging).encode())
    rewritten = relocate(staging, str(staging), "/opt/ray/venv")
    assert staging / "pyvenv.cfg" in rewritten and binary not in rewritten
    assert str(staging) not in (staging / "bin" / "activate").read_text()
    assert binary.read_bytes() == b"\x7fELF" + str(staging).encode()


def test_a_failed_build_packs_nothing_so_the_hosts_run_pip(tmp_path: Path) -> None:
    empty_wheelhouse = tmp_path / "wheelhouse"
    empty_wheelhouse.mkdir()
    result, _ = run_module(
        "venv_pack",
        wheelhouse=str(empty_wheelhouse),
        requirements=["hello-rayfleet==1.0"],
        python=sys.executable,
        python_version=platform.python_version(),
        architecture=platform.machine(),
        glibc_minor=controller_glibc_minor(),
        venv="/opt/ray/venv",
        dest=str(tmp_path / f"pack{PACK_SUFFIX}"),
    )
    assert not result.get("failed") and not result["changed"] and not result["packed"]
    assert "pip install" in result["reason"] and "hello-rayfleet" in result["reason"]
    assert list(tmp_path.iterdir()) == [empty_wheelhouse]
