#!/usr/bin/env bash
# Soak: N dump/restore cycles of the counting loop, one after another. Checks that the output stays continuous
# (0, 1, 2, ... without a gap or a repeat) and that nothing leaks: the target's fds, memory and pid, files left
# in /tmp, nftables tables of Cryo's.
#   scripts/soak.sh [N=1000]
# Needs root, a built jar (bin/cryo builds it) and fixtures-c/build/counter (make fixtures).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-1000}

# The dump kills the target and the restore needs its pid free again. On a busy machine (pid_max 32768, builds
# starting threads) another process can take that pid in between, and the restore rightly refuses. So the soak
# runs in a pid namespace of its own, whose pid 1 (fixtures-c's cryo-init) reaps every orphan.
if [ -z "${CRYO_SOAK_IN_NS:-}" ] && [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && command -v nsenter >/dev/null; then
  ready=$(mktemp -u /tmp/cryo-soak-init-XXXXXX)
  unshare --pid --fork --mount-proc "$root/fixtures-c/build/cryo-init" "$ready" &
  unshared=$!
  for _ in $(seq 1 200); do [ -s "$ready" ] && break; sleep 0.05; done
  init=$(pgrep -P "$unshared" | head -1)
  [ -n "$init" ] || { echo "soak: the pid namespace's init did not start"; kill "$unshared"; exit 1; }
  rc=0
  nsenter -t "$init" -p -m env CRYO_SOAK_IN_NS=1 "$root/scripts/$(basename "$0")" "$@" || rc=$?
  kill -TERM "$init" 2>/dev/null || true
  wait "$unshared" 2>/dev/null || true
  rm -f "$ready"
  exit $rc
fi
cryo="$root/bin/cryo"
work=$(mktemp -d /tmp/cryo-soak-XXXXXX)
pid=$(cd "$work" && bash -c "for fd in \$(ls /proc/self/fd); do [ \$fd -gt 2 ] && eval \"exec \$fd>&-\"; done; exec '$root/fixtures-c/build/counter' --buffer=line --step-ms=10 > out.txt 2>&1 < /dev/null & echo \$!")
trap 'kill -9 "$pid" 2>/dev/null; rm -rf "$work"' EXIT
while [ "$(wc -l < "$work/out.txt")" -lt 3 ]; do sleep 0.05; done

fds() { ls "/proc/$pid/fd" | wc -l; }
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$pid/status"; }
tmpcount() { find /tmp -maxdepth 1 -newer "$work" ! -path "$work" | grep -c . || true; }
fds0=$(fds); rss0=$(rss); tmp0=$(tmpcount)
t0=$(date +%s)
for i in $(seq 1 "$n"); do
  rm -rf "$work/img"; mkdir "$work/img"
  "$cryo" dump -t "$pid" -D "$work/img" -j >/dev/null 2>"$work/err" || { echo "cycle $i: dump failed: $(cat "$work/err")"; exit 1; }
  "$cryo" restore -D "$work/img" -d -j >/dev/null 2>"$work/err" || { echo "cycle $i: restore failed: $(cat "$work/err")"; exit 1; }
  [ -d "/proc/$pid" ] || { echo "cycle $i: pid $pid is not back"; exit 1; }
  [ "$(fds)" = "$fds0" ] || { echo "cycle $i: the target has $(fds) fds, had $fds0"; exit 1; }
  if [ $((i % 50)) = 0 ]; then echo "cycle $i: rss $(rss) kB (was $rss0), $(wc -l < "$work/out.txt") lines"; fi
done
lines=$(wc -l < "$work/out.txt")
for _ in $(seq 1 100); do [ "$(wc -l < "$work/out.txt")" -gt "$lines" ] && break; sleep 0.02; done
awk 'NR-1 != $1 { print "output not continuous at line " NR ": " $0; exit 1 }' "$work/out.txt"
tables=$(nft list tables 2>/dev/null | grep -c cryo-lock- || true)
echo "soak: $n cycles in $(( $(date +%s) - t0 )) s; pid $pid kept; fds $fds0 -> $(fds); rss $rss0 -> $(rss) kB;" \
  "$(wc -l < "$work/out.txt") lines continuous; new /tmp entries: $(( $(tmpcount) - tmp0 )); cryo nft tables: $tables"
