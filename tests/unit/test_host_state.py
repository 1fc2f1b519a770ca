"""host_state: the packages and running services the roles skip installing and starting."""

from __future__ import annotations

from ansible_collections.rayfleet.cluster.plugins.filter.host_state import host_state

# As the role's command prints them on a Debian host: dpkg-query, find, systemctl.
LISTING = """\
ii adduser
hi nftables
rc redis-server
un prometheus
iU half-configured
ii libc6
redis-server.service enabled
ssh.service enabled
rayfleet-firewall.service enabled
prometheus.service enabled
ray.service enabled
rayfleet-firewall.service loaded active exited  rayfleet's firewall
ssh.service               loaded active running OpenBSD Secure Shell server
prometheus.service        loaded active running Monitoring system
node_exporter.service     loaded active running Prometheus exporter
"""


def test_installed_packages_are_those_dpkg_has_installed() -> None:
    # Held (hi) is installed; removed with its configuration left (rc), unknown (un) and
    # unpacked but not configured (iU) are not.
    assert host_state(LISTING)["packages"] == ["adduser", "nftables", "libc6"]


def test_running_services_are_enabled_and_active() -> None:
    # ray is enabled but not active, node_exporter active but not enabled.
    assert host_state(LISTING)["running_services"] == ["rayfleet-firewall", "ssh", "prometheus"]


def test_nothing_listed_is_nothing_there() -> None:
    assert host_state("") == {"packages": [], "running_services": []}
