"""The lab: systemd containers reachable over SSH that stand in for real hosts."""
