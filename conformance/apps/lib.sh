# Shared by the apps' scripts (POSIX sh: the docker sandbox has only the host's /usr).
# The harness runs each script inside the sandbox with WORK (the case's writable directory), LOCAL (a directory of
# the case's own on the sandbox's own file system, for unix sockets and a database's files: WORK itself but in the
# VM, which sees WORK over 9p), APP (the app's own directory) and REPO set. A script that fails prints why on its last line and exits non-zero.
# Every script runs in WORK: a program started from it has its working directory inside the sandbox's own
# mounts (nsenter --wd would leave it on a directory of the host's mount namespace, which no engine finds).
cd "$WORK" || exit 1

fail() {
  echo "$*" >&2
  exit 1
}

# need PROGRAM PACKAGE: a missing program fails the case (it is not skipped); .ci/provision installs it
need() {
  command -v "$1" >/dev/null 2>&1 || fail "$1 is not installed (Debian package $2; .ci/provision installs it)"
}

# wait_for SECONDS WHAT COMMAND...: polls COMMAND every 50 ms until it succeeds; fails after SECONDS
wait_for() {
  bound=$1 what=$2
  shift 2
  end=$(( $(date +%s) + bound ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || fail "$what: not within $bound s"
    sleep 0.05
  done
}

# children PID: the pids of PID's child processes
children() {
  cat /proc/"$1"/task/*/children 2>/dev/null
}

# load_running: the load the harness started (pid in $WORK/load.pid) is still running
load_running() {
  [ -s "$WORK/load.pid" ] && kill -0 "$(cat "$WORK/load.pid")" 2>/dev/null
}
