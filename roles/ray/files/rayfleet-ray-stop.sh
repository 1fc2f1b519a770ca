#!/bin/sh
# ExecStop of rayfleet's Ray units, run as root: rayfleet-ray-stop TIMEOUT_S
#
# What systemd's KillMode=mixed does, done here so that the stop ends when the unit's processes
# are gone: SIGTERM to `ray start --block` (a worker drains first), a wait of up to TIMEOUT_S
# for it, then SIGKILL to whatever is left in this unit's cgroup (Ray's dashboard modules can
# outlive `ray start`), until the cgroup holds only this script. systemd would wait for the
# cgroup to report itself empty, which systemd in a container on cgroup v1 never hears: every
# stop would take TimeoutStopSec. After a crash (no MAINPID) only the kill is left to do.
set -u
timeout_s=${1:?usage: rayfleet-ray-stop TIMEOUT_S}
self=$$

# This unit's cgroup: the unified hierarchy's (cgroup v2), else systemd's own (v1, hybrid).
cgroup=$(sed -n 's/^0:://p' /proc/self/cgroup)
procs=/sys/fs/cgroup$cgroup/cgroup.procs
if [ -z "$cgroup" ] || [ ! -r "$procs" ]; then
    cgroup=$(sed -n 's/^[0-9]*:name=systemd://p' /proc/self/cgroup)
    procs=/sys/fs/cgroup/systemd$cgroup/cgroup.procs
fi
# Never the root cgroup: that would be every process of the host.
case $cgroup in
    */*.service) ;;
    *) echo "rayfleet-ray-stop: not in a service's cgroup ($cgroup)" >&2; exit 1 ;;
esac

if [ -n "${MAINPID:-}" ]; then
    kill -TERM "$MAINPID" 2>/dev/null
    ticks=$((timeout_s * 5))
    while kill -0 "$MAINPID" 2>/dev/null && [ "$ticks" -gt 0 ]; do
        sleep 0.2
        ticks=$((ticks - 1))
    done
fi

# Each pass kills what it finds (a process forked meanwhile is found by the next pass); done
# once a pass finds nothing but this script. `read` is a builtin: no child of ours is listed
# but an exited one, which kill no longer finds.
ticks=50
while [ "$ticks" -gt 0 ]; do
    found=0
    while read -r pid; do
        if [ "$pid" != "$self" ] && kill -KILL "$pid" 2>/dev/null; then
            found=1
        fi
    done < "$procs"
    [ "$found" -eq 0 ] && exit 0
    sleep 0.2
    ticks=$((ticks - 1))
done
echo "rayfleet-ray-stop: processes left in $cgroup after 10 s" >&2
exit 1
