#!/usr/bin/env bash
# A throwaway single-node SLURM cluster on this machine, for tests/test_slurm.py and for
# trying `hydra/launcher=submitit_slurm` without a real cluster.
#
#   scripts/slurm_cluster.sh start    # install slurm-wlm + munge if missing, start, wait for an idle node
#   scripts/slurm_cluster.sh status   # sinfo / squeue
#   scripts/slurm_cluster.sh stop     # stop the three daemons this script started
#
# Needs root (apt-get, daemons, /etc/slurm). Debian's packages (slurm-wlm, slurmdbd, munge,
# mariadb-server). One node (this host, on loopback) with the machine's CPUs and memory,
# partition `debug` (the default), no cgroups (proctrack/linuxproc, task/none): jobs are not
# confined, so the app takes its threads from SLURM_CPUS_PER_TASK.
# Job accounting (slurmdbd on a private MariaDB, TCP 127.0.0.1:$DB_PORT) is on, because
# submitit learns that a job ended without a result (scancel, out of memory, node failure)
# only from `sacct`: without it the submitting process waits for such a job forever.
# State, logs and pid files live under $SLURM_CLUSTER_DIR (default /var/lib/mnist-hydra-slurm),
# the database too (its own data folder; a system MariaDB is not touched).
# An existing /etc/slurm/slurm.conf or slurmdbd.conf that this script did not write is
# left alone (error).
set -euo pipefail

STATE_DIR="${SLURM_CLUSTER_DIR:-/var/lib/mnist-hydra-slurm}"
CONF_DIR=/etc/slurm
CONF="$CONF_DIR/slurm.conf"
DBD_CONF="$CONF_DIR/slurmdbd.conf"
DB_PORT="${SLURM_DB_PORT:-3399}"
DB_RUN="$STATE_DIR/mariadb-run"  # socket, pid and log; owned by the mysql user
DB_SOCK="$DB_RUN/mariadb.sock"
MARK="# written by mnist-hydra scripts/slurm_cluster.sh"
PARTITION="${SLURM_PARTITION:-debug}"
NODE="$(hostname -s)"
WAIT_S="${SLURM_WAIT_S:-60}"

say() { echo "slurm_cluster: $*" >&2; }
die() { say "error: $*"; exit 1; }

need_root() { [ "$(id -u)" = 0 ] || die "must run as root (apt-get, daemons, $CONF_DIR)"; }

install_packages() {
    local missing=()
    command -v slurmctld >/dev/null || missing+=(slurmctld)
    command -v slurmd >/dev/null || missing+=(slurmd)
    command -v sinfo >/dev/null || missing+=(slurm-client)
    command -v munged >/dev/null || missing+=(munge)
    command -v slurmdbd >/dev/null || missing+=(slurmdbd)
    command -v mariadbd >/dev/null || missing+=(mariadb-server)
    [ ${#missing[@]} -eq 0 ] && return
    command -v apt-get >/dev/null || die "no apt-get: install ${missing[*]} (slurm-wlm, munge) yourself"
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # slurm-wlm is the meta package of slurmctld + slurmd + slurm-client.
    apt-get install -y -qq --no-install-recommends slurm-wlm slurmdbd munge mariadb-server >/dev/null
}

pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_munge() {
    mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge
    if [ ! -s /etc/munge/munge.key ]; then
        say "generating a munge key"
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    local user=root
    id munge >/dev/null 2>&1 && user=munge
    chown -R "$user": /etc/munge /var/lib/munge /var/log/munge /run/munge
    chmod 0700 /etc/munge /var/lib/munge /var/log/munge
    chmod 0755 /run/munge
    chmod 0400 /etc/munge/munge.key
    if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
        return  # already running (ours or the system's)
    fi
    say "starting munged"
    if [ "$user" = munge ]; then
        runuser -u munge -- munged --pid-file=/run/munge/munged.pid --force
    else
        munged --pid-file=/run/munge/munged.pid --force
    fi
    touch "$STATE_DIR/munged.ours"  # `stop` ends only a munged this script started
    for _ in $(seq 50); do
        munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && return
        sleep 0.1
    done
    die "munged does not answer (see /var/log/munge/munged.log)"
}

db() { mariadb --socket="$DB_SOCK" -u root "$@"; }

start_database() {
    local data="$STATE_DIR/mariadb"
    if [ ! -d "$data/mysql" ]; then
        say "creating the accounting database in $data"
        mkdir -p "$data"
        chown mysql: "$data"
        mariadb-install-db --user=mysql --datadir="$data" --auth-root-authentication-method=socket \
            >"$STATE_DIR/mariadb-install.log" 2>&1 || die "mariadb-install-db failed (see $STATE_DIR/mariadb-install.log)"
    fi
    mkdir -p "$DB_RUN"
    chown mysql: "$DB_RUN"
    if ! db -e 'SELECT 1' >/dev/null 2>&1; then
        say "starting mariadbd (127.0.0.1:$DB_PORT)"
        # Small buffers: a test cluster's accounting is tiny, and the machine is shared.
        # setsid: its own session, like the slurm daemons, so that ending the shell (or the
        # process group) that started the cluster does not take the database down with it.
        setsid mariadbd --user=mysql --datadir="$data" --socket="$DB_SOCK" --port="$DB_PORT" \
            --bind-address=127.0.0.1 --pid-file="$DB_RUN/mariadbd.pid" \
            --log-error="$DB_RUN/mariadbd.log" --innodb-buffer-pool-size=32M \
            --performance-schema=OFF </dev/null >/dev/null 2>&1 &
        for _ in $(seq 150); do db -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.2; done
        db -e 'SELECT 1' >/dev/null 2>&1 || die "mariadbd does not answer (see $DB_RUN/mariadbd.log)"
    fi
    [ -s "$STATE_DIR/db.pass" ] || (umask 077; od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$STATE_DIR/db.pass")
    local pass
    pass="$(cat "$STATE_DIR/db.pass")"
    db -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
           CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
           CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$pass';
           GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
           GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
}

write_dbd_conf() {
    if [ -e "$DBD_CONF" ] && ! grep -qF "$MARK" "$DBD_CONF"; then
        die "$DBD_CONF exists and was not written by this script; not touching it"
    fi
    mkdir -p "$CONF_DIR"
    local pass
    pass="$(cat "$STATE_DIR/db.pass")"
    (umask 077; printf '%s\n' "$MARK" "AuthType=auth/munge" "DbdHost=$NODE" "DbdAddr=127.0.0.1" \
        "DbdPort=6819" "SlurmUser=root" "LogFile=$STATE_DIR/slurmdbd.log" "PidFile=$STATE_DIR/slurmdbd.pid" \
        "StorageType=accounting_storage/mysql" "StorageHost=127.0.0.1" "StoragePort=$DB_PORT" \
        "StorageUser=slurm" "StoragePass=$pass" "StorageLoc=slurm_acct_db" >"$DBD_CONF")
    chmod 0600 "$DBD_CONF"  # slurmdbd refuses a conf others can read: it holds the password
}

start_slurmdbd() {
    if ! pid_alive "$STATE_DIR/slurmdbd.pid"; then
        say "starting slurmdbd"
        slurmdbd
    fi
    for _ in $(seq 150); do sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 0.2; done
    sacctmgr -n list cluster >/dev/null 2>&1 || die "slurmdbd does not answer (see $STATE_DIR/slurmdbd.log)"
    if ! sacctmgr -n -P list cluster format=cluster | grep -qx mnisthydra; then
        sacctmgr -i add cluster mnisthydra >/dev/null
    fi
}

write_conf() {
    if [ -e "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
        die "$CONF exists and was not written by this script; not touching it"
    fi
    local cpus mem_mb
    cpus="$(nproc --all)"
    # RealMemory a little under the total, as slurmd reports it (MB).
    mem_mb="$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.95)}' /proc/meminfo)"
    mkdir -p "$CONF_DIR" "$STATE_DIR/ctld" "$STATE_DIR/d"
    cat >"$CONF" <<EOF
$MARK
ClusterName=mnisthydra
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
ReturnToService=2
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
StateSaveLocation=$STATE_DIR/ctld
SlurmdSpoolDir=$STATE_DIR/d
SlurmctldPidFile=$STATE_DIR/slurmctld.pid
SlurmdPidFile=$STATE_DIR/slurmd.pid
SlurmctldLogFile=$STATE_DIR/slurmctld.log
SlurmdLogFile=$STATE_DIR/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
KillWait=5
# A job's tasks take the nice value of the srun that starts them: a batch script that lowers its
# own CPU priority (`renice`, tests/test_slurm.py's time-limit job) lowers its job's too.
PropagatePrioProcess=1
MinJobAge=300
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
}

node_idle() { sinfo -h -N -n "$NODE" -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; }

start() {
    need_root
    install_packages
    mkdir -p "$STATE_DIR"
    start_munge
    start_database
    write_dbd_conf
    write_conf
    start_slurmdbd
    if ! pid_alive "$STATE_DIR/slurmctld.pid"; then
        say "starting slurmctld"
        slurmctld -i   # -i: ignore state left by an earlier cluster
    fi
    if ! pid_alive "$STATE_DIR/slurmd.pid"; then
        say "starting slurmd"
        slurmd -N "$NODE"
    fi
    local deadline=$((SECONDS + WAIT_S))
    until node_idle; do
        if [ $SECONDS -ge $deadline ]; then
            sinfo -N -l >&2 || true
            tail -n 20 "$STATE_DIR/slurmctld.log" "$STATE_DIR/slurmd.log" >&2 || true
            die "node $NODE not idle after ${WAIT_S}s (logs in $STATE_DIR)"
        fi
        sleep 0.5
    done
    say "ready: partition $PARTITION, node $NODE ($(sinfo -h -N -n "$NODE" -o '%c CPUs, %m MB, %t'))"
}

stop() {
    need_root
    local name pidfile pid
    for name in slurmd slurmctld slurmdbd mariadbd munged; do
        pidfile="$STATE_DIR/$name.pid"
        [ "$name" = mariadbd ] && pidfile="$DB_RUN/mariadbd.pid"
        if [ "$name" = munged ]; then
            [ -e "$STATE_DIR/munged.ours" ] || continue
            pidfile=/run/munge/munged.pid
            rm -f "$STATE_DIR/munged.ours"
        fi
        if pid_alive "$pidfile"; then
            pid="$(cat "$pidfile")"
            say "stopping $name ($pid)"
            kill "$pid"
            for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        fi
        [ "$name" = munged ] || rm -f "$pidfile"
    done
}

status() {
    command -v sinfo >/dev/null || die "sinfo not installed (run: $0 start)"
    sinfo -N -l
    squeue
    # Exit non-zero unless every part answers: a cluster without its accounting database
    # runs jobs, but submitit then never learns that a cancelled job ended.
    sacct -X -n -o JobID >/dev/null || die "accounting (slurmdbd/mariadbd) does not answer (run: $0 start)"
    sacct -X -o JobID,JobName,State,Elapsed | tail -n 20
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    restart) stop; start ;;
    *) echo "usage: $0 start|stop|status|restart" >&2; exit 2 ;;
esac
