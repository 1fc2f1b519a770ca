"""The rayfleet command line."""

from __future__ import annotations

import argparse
import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import yaml

from rayfleet.lab.hosts import LabHost, LabNetwork
from rayfleet.lab.session import lab_down, lab_up, start_hosts, stop_hosts
from rayfleet.paths import collection_root
from rayfleet.runner import deploy, health


def _host(spec: str) -> LabHost:
    name, _, address = spec.partition("=")
    if not address:
        raise argparse.ArgumentTypeError(f"{spec!r}: write NAME=ADDRESS")
    return LabHost(name, address)


def _version() -> str:
    """The installed wheel's version, which is the collection's; from galaxy.yml without one."""
    try:
        return version("rayfleet")
    except PackageNotFoundError:
        galaxy = yaml.safe_load((collection_root() / "galaxy.yml").read_text())
        return str(galaxy["version"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rayfleet", description=__doc__)
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", required=True)

    deploy_cmd = commands.add_parser(
        "deploy", help="validate the inventory and deploy its clusters"
    )
    deploy_cmd.add_argument("-i", "--inventory", required=True, type=Path)
    deploy_cmd.add_argument("--limit")
    deploy_cmd.add_argument("--check", action="store_true", help="change nothing, show what would")
    deploy_cmd.add_argument("--diff", action="store_true")

    health_cmd = commands.add_parser(
        "health", help="one line per node: GCS, raylets, dashboard API, event loop, Redis"
    )
    health_cmd.add_argument("-i", "--inventory", required=True, type=Path, action="append")
    lab = commands.add_parser("lab", help="lab hosts on this machine").add_subparsers(
        dest="lab_command", required=True
    )
    # A checkout's lab inventory (the wheel has none: the lab keeps its secrets beside it).
    lab_inventory = collection_root() / "inventories" / "lab"
    for name, text in (("up", "start the lab, deploy, run a sample job"), ("down", "remove it")):
        sub = lab.add_parser(name, help=text)
        if lab_inventory.is_dir():
            sub.add_argument("-i", "--inventory", type=Path, default=lab_inventory)
        else:
            sub.add_argument("-i", "--inventory", type=Path, required=True)
    create = lab.add_parser("create", help="start hosts on a network (used by molecule)")
    create.add_argument("--network", required=True)
    create.add_argument("--subnet", required=True)
    create.add_argument("hosts", nargs="+", type=_host, metavar="NAME=ADDRESS")
    destroy = lab.add_parser("destroy", help="remove every host of a network (used by molecule)")
    destroy.add_argument("--network", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "deploy":
        return deploy(args.inventory, limit=args.limit, check=args.check, diff=args.diff).rc
    if args.command == "health":
        report = health(args.inventory)
        print("\n".join(report.lines))
        return report.rc
    if args.lab_command == "up":
        return lab_up(args.inventory)
    if args.lab_command == "down":
        return lab_down(args.inventory)
    if args.lab_command == "create":
        start_hosts(LabNetwork(args.network, args.subnet), args.hosts)
        print(json.dumps([{"name": h.name, "address": h.address} for h in args.hosts]))
        return 0
    print(json.dumps(stop_hosts(args.network)))
    return 0
