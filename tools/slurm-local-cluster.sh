#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for tests/test_slurm.py and for trying the
# `slurm` profile without a cluster: Debian's slurmctld + slurmd + munge, no systemd, no
# cgroups, no accounting (job states come from squeue; see slurm/config.yaml).
#
#   tools/slurm-local-cluster.sh install         # apt-get the packages (root, Debian)
#   tools/slurm-local-cluster.sh start STATE     # spool, logs and pid files under STATE
#   tools/slurm-local-cluster.sh stop STATE      # stops the daemons by their pid files
#
# The configuration goes to /etc/slurm/slurm.conf, where every SLURM command looks, jobs
# included (Snakemake's job step clears SLURM_* variables such as SLURM_CONF before it runs
# srun). A slurm.conf this script did not write is never replaced; `stop` removes its own.
set -euo pipefail

command=${1:?usage: $0 install | start STATE | stop STATE}
conf=/etc/slurm/slurm.conf
marker="# written by aecompress tools/slurm-local-cluster.sh"

pid_of() { [[ -s "$1" ]] && cat "$1"; }

stop_by_pidfile() {
    local pidfile=$1 pid
    pid=$(pid_of "$pidfile") || return 0
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
}

case "$command" in
install)
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
        exit 0
    fi
    if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null; then
        echo "slurm-local-cluster: needs root on Debian to install slurmctld slurmd slurm-client munge" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
    ;;
start)
    state=$(realpath -m "${2:?usage: $0 start STATE}")
    mkdir -p "$state"/{spool,ctld,log}
    host=$(hostname -s)
    # CPUs and memory as slurmd sees them, leaving 1 GB to the system.
    read -r cpus memory < <(slurmd -C | awk '/^NodeName/ {
        for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } print v["CPUs"], v["RealMemory"] }')
    if [[ -e "$conf" ]] && ! grep -qF "$marker" "$conf"; then
        echo "slurm-local-cluster: $conf exists and was not written by this script; not replacing it" >&2
        exit 1
    fi
    mkdir -p "$(dirname "$conf")"
    cat >"$state/slurm.conf" <<CONF
$marker (state in $state)
ClusterName=aecompress-local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
MinJobAge=300
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$((memory - 1024)) State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    # munge: one key for this machine, daemon as user munge (its pid file under STATE).
    if [[ ! -s /etc/munge/munge.key ]]; then
        runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
    fi
    mkdir -p /run/munge && chown munge:munge /run/munge
    if ! runuser -u munge -- munge -n </dev/null >/dev/null 2>&1; then
        # munged runs as user munge, which cannot enter STATE: its pid file lives in /run/munge,
        # and STATE records where.
        munge_pid="/run/munge/aecompress-$(printf %s "$state" | md5sum | cut -c1-8).pid"
        runuser -u munge -- munged --pid-file="$munge_pid" --force
        echo "$munge_pid" >"$state/munged.pidfile"
    fi
    cp "$state/slurm.conf" "$conf"
    slurmctld -c
    slurmd
    for _ in $(seq 100); do
        [[ "$(sinfo -h -o %T 2>/dev/null)" == idle ]] && { echo "slurm-local-cluster: up ($conf)"; exit 0; }
        sleep 0.3
    done
    echo "slurm-local-cluster: the node did not become idle; logs in $state/log" >&2
    sinfo >&2 || true
    exit 1
    ;;
stop)
    state=$(realpath -m "${2:?usage: $0 stop STATE}")
    stop_by_pidfile "$state/slurmd.pid"
    stop_by_pidfile "$state/slurmctld.pid"
    if [[ -s "$state/munged.pidfile" ]]; then
        stop_by_pidfile "$(cat "$state/munged.pidfile")"
        rm -f "$state/munged.pidfile"
    fi
    if [[ -e "$conf" ]] && grep -qF "$marker (state in $state)" "$conf"; then
        rm -f "$conf"
    fi
    ;;
*)
    echo "usage: $0 install | start STATE | stop STATE" >&2
    exit 2
    ;;
esac
