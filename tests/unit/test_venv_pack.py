"""Ray's venv built once on the controller and unpacked on the hosts at their venv path."""

from __future__ import annotations

import base64
import grp
import hashlib
import json
import os
import platform
import pwd
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest
from modules import run_module

from ansible_collections.rayfleet.cluster.plugins.action.venv_unpack import pack_sha256
from ansible_collections.rayfleet.cluster.plugins.filter.wheelhouse import ray_venv_pack
from ansible_collections.rayfleet.cluster.plugins.module_utils.venv_pack import (
    PACK_SUFFIX,
    Interpreter,
    failure_line,
    mismatch,
    pack_name,
    relocate,
    swap_command,
)

REPO = Path(__file__).resolve().parents[2]
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


def unpack(venv: Path, pack: Path, sha256: str | None = None) -> subprocess.CompletedProcess[str]:
    """The venv_unpack action's command on a copy of ``pack`` in a transfer directory (the
    task's temporary one), as this process's user and group."""
    owner, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    transferred = pack.parent / "transfer" / pack.name
    transferred.parent.mkdir(exist_ok=True)
    shutil.copyfile(pack, transferred)
    digest = sha256 or hashlib.sha256(pack.read_bytes()).hexdigest()
    return subprocess.run(
        swap_command(str(venv), str(transferred), digest, owner, group),
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
    # What a copy of the pack that an earlier rayfleet release made there and left.
    (venv.parent / "2.60.0.tar.gz").write_text("left by a failed run")

    done = unpack(venv, small_pack(tmp_path, "new"))

    assert done.returncode == 0, done.stderr
    assert (venv / "bin" / "marker").read_text() == "new"
    assert not (venv / "bin" / "left-by-pip").exists()
    assert (site / "rayfleet.pth").read_text() == "/opt/rayfleet/provider\n"
    assert sorted(path.name for path in venv.parent.iterdir()) == ["2.60.0"]
    # The pack left the transfer directory (the connecting user's) for good.
    assert not list((tmp_path / "transfer").iterdir())


def test_the_venvs_parent_is_made_open_to_read_whatever_the_umask(tmp_path: Path) -> None:
    venv = tmp_path / "opt" / "ray" / "2.60.0"
    umask = os.umask(0o077)
    try:
        done = unpack(venv, small_pack(tmp_path, "new"))
    finally:
        os.umask(umask)
    assert done.returncode == 0, done.stderr
    for directory in (venv.parent.parent, venv.parent, venv):
        assert (directory.stat().st_mode & 0o777) == 0o755, directory
    assert (venv.parent.stat().st_uid, venv.parent.stat().st_gid) == (os.getuid(), os.getgid())


def test_a_broken_pack_leaves_the_old_venv_and_no_half_unpacked_one(tmp_path: Path) -> None:
    venv = tmp_path / "opt" / "ray" / "2.60.0"
    assert unpack(venv, small_pack(tmp_path, "old")).returncode == 0
    broken = tmp_path / f"broken{PACK_SUFFIX}"
    broken.write_bytes(small_pack(tmp_path, "new").read_bytes()[:200])

    done = unpack(venv, broken)

    assert done.returncode != 0
    assert (venv / "bin" / "marker").read_text() == "old"
    assert sorted(path.name for path in venv.parent.iterdir()) == ["2.60.0"]


def test_a_pack_changed_on_the_host_is_not_unpacked(tmp_path: Path) -> None:
    venv = tmp_path / "opt" / "ray" / "2.60.0"
    assert unpack(venv, small_pack(tmp_path, "old")).returncode == 0
    controllers = hashlib.sha256(small_pack(tmp_path, "new").read_bytes()).hexdigest()

    done = unpack(venv, small_pack(tmp_path, "other"), sha256=controllers)

    assert done.returncode != 0
    assert "not the controller's" in done.stderr
    assert (venv / "bin" / "marker").read_text() == "old"
    assert sorted(path.name for path in venv.parent.iterdir()) == ["2.60.0"]


def test_a_failure_over_ssh_names_the_error_not_the_connection() -> None:
    # With become, ssh runs the command on a terminal (-tt): its errors arrive on stdout.
    stdout = "tar: Unexpected EOF in archive\r\ntar: Error is not recoverable: exiting now\r\n"
    stderr = "Shared connection to 10.89.91.11 closed.\r\n"
    assert failure_line(stdout, stderr) == "tar: Error is not recoverable: exiting now"
    assert failure_line("", "tar: child returned status 1\n") == "tar: child returned status 1"
    assert failure_line("", stderr) == "no message"


def playbook(tmp_path: Path, task: Mapping[str, object], *options: str) -> str:
    """``task`` run by ansible-playbook on this machine (local connection); its output."""
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    (tmp_path / "play.yml").write_text(
        json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": [task]}])
    )
    environment = {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".ansible" / "collections"),
        "ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg"),
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_REMOTE_TMP": str(tmp_path / "remote-tmp"),
        "ANSIBLE_NOCOLOR": "1",
    }
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("ansible-playbook")),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            *options,
            str(tmp_path / "play.yml"),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env=environment,
    )
    return done.stdout + done.stderr


def test_the_action_unpacks_through_ansible_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    venv = tmp_path / "opt" / "ray" / "2.60.0"
    task = {
        "rayfleet.cluster.venv_unpack": {
            "pack": str(small_pack(tmp_path, "new")),
            "venv": f"{venv}/",
            "owner": pwd.getpwuid(os.getuid()).pw_name,
            "group": grp.getgrgid(os.getgid()).gr_name,
        }
    }

    checked = playbook(tmp_path, task, "--check")
    assert "changed=1" in checked and not venv.exists(), checked
    assert not list((tmp_path / "remote-tmp").iterdir())

    output = playbook(tmp_path, task)
    assert "changed=1" in output and "failed=0" in output, output
    assert (venv / "bin" / "marker").read_text() == "new"
    assert not list((tmp_path / "remote-tmp").iterdir())


def test_the_action_fails_naming_the_venv_and_keeps_it(tmp_path: Path) -> None:
    venv = tmp_path / "opt" / "ray" / "2.60.0"
    assert unpack(venv, small_pack(tmp_path, "old")).returncode == 0
    broken = tmp_path / f"broken{PACK_SUFFIX}"
    broken.write_bytes(b"not a pack")
    task = {
        "rayfleet.cluster.venv_unpack": {
            "pack": str(broken),
            "venv": str(venv),
            "owner": pwd.getpwuid(os.getuid()).pw_name,
            "group": grp.getgrgid(os.getgid()).gr_name,
        }
    }

    output = playbook(tmp_path, task)

    assert "failed=1" in output, output
    assert f"{venv} was left as it was: unpacking broken{PACK_SUFFIX} failed: " in output
    assert (venv / "bin" / "marker").read_text() == "old"
    assert not list((tmp_path / "remote-tmp").iterdir())


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


def test_the_controller_reads_the_pack_once_until_it_changes(tmp_path: Path) -> None:
    pack = small_pack(tmp_path, "new")
    digest = hashlib.sha256(pack.read_bytes()).hexdigest()
    assert pack_sha256(str(pack)) == digest
    note = Path(f"{pack}.sha256")
    stamp = note.read_text().split(" ", 1)[1]
    # Read from the note while the pack's size and time are those it names.
    note.write_text(f"{'0' * 64} {stamp}")
    assert pack_sha256(str(pack)) == "0" * 64
    pack.write_bytes(small_pack(tmp_path, "other").read_bytes())
    assert pack_sha256(str(pack)) == hashlib.sha256(pack.read_bytes()).hexdigest() != digest


def test_a_note_that_cannot_be_written_still_gives_the_digest(tmp_path: Path) -> None:
    pack = small_pack(tmp_path, "new")
    Path(f"{pack}.sha256").mkdir()
    assert pack_sha256(str(pack)) == hashlib.sha256(pack.read_bytes()).hexdigest()
    assert sorted(path.name for path in tmp_path.glob("new*")) == [
        pack.name,
        f"{pack.name}.sha256",
    ]
