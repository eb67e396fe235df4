#!/usr/bin/env bash
# Docker's checkpoint/restore with Cryo as CRIU, from scratch (engine/docs/containers.md, section Docker):
# starts a private dockerd in experimental mode (its own socket, data-root, exec-root and managed containerd; no
# bridge, no iptables; the shared daemon is never touched), with a directory holding `criu` (a symlink to bin/cryo,
# or to --criu PATH) first on its PATH: containerd's runc shim runs runc, which runs `criu` from that PATH. Then:
# an image `docker import`ed from a tar of a root filesystem holding fixtures-c's counter-static, a container of it
# (--network=none) counting every 100 ms, `docker checkpoint create --leave-running` (it runs on, same pid),
# `docker checkpoint create` (it exits), `docker start --checkpoint` (pid 1 again under a new host pid), and the
# container's log must read 0, 1, 2, ... with nothing missing or repeated. Prints each step and the outcome.
# Always cleans up on exit: its containers and image, its dockerd and containerd (and their shims), their mounts,
# cgroups, data-root, exec-root, socket and temporary directory.
#   scripts/docker-checkpoint-try.sh [--criu PATH]     (default: this clone's bin/cryo)
# Each docker checkpoint/start is given CRYO_TRY_STEP_TIMEOUT seconds (180): a step that hangs fails, its log printed.
# Exit status: 0 all steps passed, 1 a step failed (its error and Cryo's/CRIU's log printed), 2 cannot run here
# (not root, or docker.io's dockerd/containerd/runc missing: the reason printed).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
criu="$root/bin/cryo"
while [ $# -gt 0 ]; do
  case "$1" in
    --criu) criu=$(readlink -f "$2"); shift 2 ;;
    *) echo "usage: $0 [--criu PATH]" >&2; exit 2 ;;
  esac
done

[ "$EUID" = 0 ] || { echo "SKIP: needs root (a dockerd of its own)"; exit 2; }
for b in dockerd containerd containerd-shim-runc-v2 runc docker; do
  command -v "$b" >/dev/null || { echo "SKIP: $b is not installed (docker.io, containerd, runc)"; exit 2; }
done
[ -x "$criu" ] || { echo "SKIP: $criu is not executable"; exit 2; }

name=cryo-docker-try-$$
sock=/run/$name.sock
data=/var/lib/$name
exec_root=/run/$name
pidfile=/run/$name.pid
work=$(mktemp -d "/var/tmp/$name.XXXXXX")
export DOCKER_HOST=unix://$sock
container=$name-c
image=$name:latest
dockerd_pid=""
step_timeout=${CRYO_TRY_STEP_TIMEOUT:-180}

cleanup() {
  local pids p c i m f
  # a criu (Cryo) still running under our runc (a step that timed out): killed, and our containers' freezer cgroups
  # thawed (containerd pauses a container around a checkpoint), so that the removals below can end them
  for p in $(ps -eo pid=,args= | awk -v r="$exec_root/" 'index($0, r) && $2 ~ /runc$/ {print $1}'); do
    for c in $(ps -o pid= --ppid "$p"); do kill -9 "$c" 2>/dev/null; done
  done
  for f in /sys/fs/cgroup/freezer/"$name"/*/freezer.state; do [ -f "$f" ] && echo THAWED > "$f" 2>/dev/null; done
  if [ -n "$dockerd_pid" ] && kill -0 "$dockerd_pid" 2>/dev/null; then
    docker rm -f "$container" >/dev/null 2>&1
    docker rmi -f "$image" >/dev/null 2>&1
    kill "$dockerd_pid" 2>/dev/null # it stops its managed containerd
    for i in $(seq 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$dockerd_pid" 2>/dev/null
  fi
  # whatever of ours is left, by pid: a containerd or shim whose arguments name our exec-root
  pids=$(ps -eo pid=,args= | awk -v r="$exec_root/" 'index($0, r) && !/awk/ {print $1}')
  for p in $pids; do kill -9 "$p" 2>/dev/null; done
  # mounts under our roots (overlays, shm, netns), deepest first
  for m in $(awk -v d="$data" -v e="$exec_root" 'index($5, d"/") == 1 || index($5, e"/") == 1 {print $5}' \
             /proc/self/mountinfo | sort -r); do
    umount -l "$m" 2>/dev/null
  done
  # the cgroup parent dockerd made for its containers (runc removed the containers' own)
  for c in /sys/fs/cgroup/*/"$name" /sys/fs/cgroup/"$name"; do
    [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  rm -rf "$data" "$exec_root" "$work" "$sock" "$pidfile"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
  echo "FAIL: $*"
  local f
  # Cryo's (CRIU's) logs: runc copies a failed dump's log to the bundle; restores log into the checkpoint's work dir
  for f in $(find "$exec_root/containerd" "$data/containers" -name 'criu-dump.log' -o -name 'dump.log' \
             -o -name 'restore.log' -o -name 'criu-restore.log' 2>/dev/null); do
    echo "---- $f (last lines)"; tail -n 15 "$f"
  done
  echo "---- dockerd (last lines)"; tail -n 10 "$work/dockerd.log"
  exit 1
}

# criu first on the daemon's PATH: dockerd -> containerd -> runc shim -> runc -> criu inherit it
mkdir -p "$work/bin" "$work/tmp" && ln -s "$criu" "$work/bin/criu"
echo '{}' > "$work/daemon.json" # no /etc/docker/daemon.json settings
t0=$(date +%s)
# TMPDIR: dockerd leaves a ctrd-checkpoint* directory in its temporary directory for every checkpoint; in $work it goes
# with the rest
TMPDIR="$work/tmp" PATH="$work/bin:$PATH" setsid dockerd --experimental -H "unix://$sock" --data-root "$data" --exec-root "$exec_root" \
  --pidfile "$pidfile" --config-file "$work/daemon.json" --bridge=none --iptables=false --ip6tables=false \
  --cgroup-parent="$name" > "$work/dockerd.log" 2>&1 < /dev/null &
dockerd_pid=$!
for i in $(seq 300); do docker info > /dev/null 2>&1 && break; kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
[ "$(docker info --format '{{.ExperimentalBuild}}' 2>/dev/null)" = true ] || fail "the private dockerd did not come up in experimental mode"
echo "dockerd: up (experimental, $sock, criu = $criu)"

# the image: a root filesystem holding the static counter and the directories runc mounts on
[ -x "$root/fixtures-c/build/counter-static" ] || make -s -C "$root/fixtures-c" build/counter-static >/dev/null \
  || fail "cannot build fixtures-c/build/counter-static"
mkdir -p "$work/rootfs"/{proc,dev,sys,tmp,etc,run}
cp "$root/fixtures-c/build/counter-static" "$work/rootfs/counter"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" . && docker import "$work/rootfs.tar" "$image" > /dev/null \
  || fail "docker import"

count() { docker logs "$container" 2>/dev/null | wc -l; }
await_lines() { # N: wait (at most 60 s) until the log has N lines
  local i
  for i in $(seq 600); do [ "$(count)" -ge "$1" ] && return 0; sleep 0.1; done
  fail "the container's log did not reach $1 lines (it has $(count))"
}
host_pid() { docker inspect -f '{{.State.Pid}}' "$container"; }
status() { docker inspect -f '{{.State.Status}}' "$container"; }

docker run -d --name "$container" --network=none "$image" /counter --buffer=line --step-ms=100 > /dev/null \
  || fail "docker run"
await_lines 5
pid=$(host_pid)
echo "run: container counting, host pid $pid"

out=$(timeout "$step_timeout" docker checkpoint create --leave-running "$container" cp1 2>&1) || fail "docker checkpoint create --leave-running: ${out:-no answer within $step_timeout s}"
[ "$(status)" = running ] && [ "$(host_pid)" = "$pid" ] \
  || fail "after checkpoint --leave-running the container is $(status), host pid $(host_pid) (was $pid)"
n=$(count); await_lines $((n + 3))
echo "checkpoint --leave-running cp1: ok, still running as host pid $pid, counting on ($(count) lines)"

out=$(timeout "$step_timeout" docker checkpoint create "$container" cp2 2>&1) || fail "docker checkpoint create: ${out:-no answer within $step_timeout s}"
for i in $(seq 100); do [ "$(status)" = exited ] && break; sleep 0.1; done
[ "$(status)" = exited ] || fail "after checkpoint without --leave-running the container is $(status)"
last=$(docker logs "$container" 2>/dev/null | tail -n 1)
echo "checkpoint cp2: ok, the container exited (last line $last)"

# dockerd uploads the checkpoint to containerd's content store before runc (and so the engine) is called; right after
# the checkpoint was made that upload may fail with "content sha256:...: already exists" (moby/moby#42900, a race in
# dockerd, not in the engine): then start again, up to three times, saying so
for attempt in 1 2 3; do
  started=0
  out=$(timeout "$step_timeout" docker start --checkpoint cp2 "$container" 2>&1) && { started=1; break; }
  case $out in
    *"failed to upload checkpoint to containerd"*"already exists"*) [ "$attempt" = 3 ] ||
      echo "docker start --checkpoint cp2: dockerd's upload race (moby/moby#42900), starting again: $out" ;;
    *) break ;;
  esac
  sleep 1
done
[ $started = 1 ] || fail "docker start --checkpoint cp2: ${out:-no answer within $step_timeout s}"
[ "$(status)" = running ] || fail "after start --checkpoint the container is $(status)"
new=$(host_pid)
nspid=$(awk '/^NSpid:/ {print $NF}' "/proc/$new/status" 2>/dev/null)
[ "$nspid" = 1 ] || fail "the restored init (host pid $new) is pid '$nspid' in its namespace, not 1"
n=$(count); await_lines $((n + 5))
bad=$(docker logs "$container" 2>/dev/null | awk 'NR == 1 && $1 != 0 {print "line 1 is " $1} NR > 1 && $1 != p + 1 {print "after " p " comes " $1} {p = $1}')
[ -z "$bad" ] || fail "the count did not go on: $bad"
lines=$(docker logs "$container" 2>/dev/null)
echo "start --checkpoint cp2: ok, pid 1 (host pid $new), counting on from $last: $(wc -l <<< "$lines") lines, 0..$(tail -n 1 <<< "$lines"), nothing missing or repeated"
echo "PASS in $(( $(date +%s) - t0 )) s"
