#!/usr/bin/env bash
# SIGKILL trials: kill `cryo dump -R` with SIGKILL at random moments, N times, and count how often the target
# runs on unchanged (alive, untraced, same maps and blocked signals, counting on without a gap).
#   scripts/sigkill-trials.sh [N=200] [MAX_DELAY_MS=0: measured from one dump]
# Needs root, a built jar (bin/cryo builds it) and fixtures-c/build/counter (make fixtures).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-200}
max_ms=${2:-0}
cryo="$root/bin/cryo"
work=$(mktemp -d /tmp/cryo-sigkill-XXXXXX)
trap 'kill -9 "$target" 2>/dev/null; rm -rf "$work"' EXIT

# the counting loop, one number every 10 ms, each written at once, not our child (a shell in between exits)
target=$(cd "$work" && bash -c "for fd in \$(ls /proc/self/fd); do [ \$fd -gt 2 ] && eval \"exec \$fd>&-\"; done; exec '$root/fixtures-c/build/counter' --buffer=line --step-ms=10 > out.txt 2>&1 < /dev/null & echo \$!")
while [ "$(wc -l < "$work/out.txt")" -lt 3 ]; do sleep 0.05; done

snapshot() { # what must not change: maps, blocked and caught signals, tracer
  grep -E '^(SigBlk|SigIgn|SigCgt|TracerPid):' "/proc/$target/status"; cat "/proc/$target/maps"
}
before=$(snapshot)

if [ "$max_ms" -eq 0 ]; then # one whole dump's wall time: kills land anywhere in it
  t0=$(date +%s%N); "$cryo" dump -t "$target" -D "$work" -R -j >/dev/null 2>&1; t1=$(date +%s%N)
  max_ms=$(( (t1 - t0) / 1000000 ))
fi
echo "target pid $target; $n trials, SIGKILL at a random moment in 0..${max_ms} ms of 'cryo dump -R'"

survived=0; broken=0; finished=0
for i in $(seq 1 "$n"); do
  rm -rf "$work/img"; mkdir "$work/img"
  "$cryo" dump -t "$target" -D "$work/img" -R -j >/dev/null 2>&1 &
  dumper=$!
  delay=$(( RANDOM * 32768 + RANDOM )); delay=$(( delay % (max_ms + 1) ))
  sleep "$(printf '0.%03d' "$delay" | sed 's/^0\.\([0-9]\{4,\}\)/\1/')" 2>/dev/null || sleep "$((delay / 1000))"
  kill -9 "$dumper" 2>/dev/null || finished=$((finished + 1))
  wait "$dumper" 2>/dev/null
  # the tracer is gone: the kernel detached the target; give it a few steps to run on
  lines=$(wc -l < "$work/out.txt")
  ok=1
  for _ in $(seq 1 100); do [ "$(wc -l < "$work/out.txt")" -ge $((lines + 3)) ] && break; sleep 0.02; done
  [ -d "/proc/$target" ] || ok=0
  [ "$ok" = 1 ] && [ "$(wc -l < "$work/out.txt")" -ge $((lines + 3)) ] || ok=0
  [ "$ok" = 1 ] && [ "$(snapshot)" = "$before" ] || ok=0
  # the count never skips nor repeats
  [ "$ok" = 1 ] && awk 'NR-1 != $1 { exit 1 }' "$work/out.txt" || ok=0
  if [ "$ok" = 1 ]; then survived=$((survived + 1)); else
    broken=$((broken + 1)); echo "trial $i (kill at ${delay} ms): target changed or gone"; break
  fi
  nft list tables 2>/dev/null | grep -q cryo-lock- && echo "trial $i: a cryo-lock table was left"
done
echo "SIGKILL trials: $survived of $((survived + broken)) survived unchanged ($finished dumps had finished before the kill)"
[ "$broken" -eq 0 ]
