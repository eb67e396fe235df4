#!/usr/bin/env bash
# SIGKILL trials: kill `cryo dump -R` with SIGKILL at random moments, N times, and count how often the target
# runs on unchanged (alive, untraced, same maps and blocked signals, counting on without a gap). A broken target
# is named with the moment of the kill and replaced by a fresh one, and the trials go on.
#   scripts/sigkill-trials.sh [N=200] [MAX_DELAY_MS=0: measured from one dump]
# Needs root, a built jar (bin/cryo builds it) and fixtures-c/build/counter (make fixtures).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-200}
max_ms=${2:-0}
cryo="$root/bin/cryo"
work=$(mktemp -d /tmp/cryo-sigkill-XXXXXX)
trap 'kill -9 "$target" 2>/dev/null; rm -rf "$work"' EXIT

snapshot() { # what must not change: maps, blocked and caught signals, tracer
  grep -E '^(SigBlk|SigIgn|SigCgt|TracerPid):' "/proc/$target/status"; cat "/proc/$target/maps"
}

# the counting loop, one number every 10 ms, each written at once, not our child (a shell in between exits)
start_target() {
  [ -z "${target:-}" ] || kill -9 "$target" 2>/dev/null
  rm -f "$work/out.txt"
  target=$(cd "$work" && bash -c "for fd in \$(ls /proc/self/fd); do [ \$fd -gt 2 ] && eval \"exec \$fd>&-\"; done; exec '$root/fixtures-c/build/counter' --buffer=line --step-ms=10 > out.txt 2>&1 < /dev/null & echo \$!")
  while [ "$(wc -l < "$work/out.txt" 2>/dev/null || echo 0)" -lt 3 ]; do sleep 0.05; done
  before=$(snapshot)
}
start_target

if [ "$max_ms" -eq 0 ]; then # one whole dump's wall time (the second: the first trains the JVM's cache)
  "$cryo" dump -t "$target" -D "$work" -R -j >/dev/null 2>&1
  t0=$(date +%s%N); "$cryo" dump -t "$target" -D "$work" -R -j >/dev/null 2>&1; t1=$(date +%s%N)
  max_ms=$(( (t1 - t0) / 1000000 ))
fi
echo "target pid $target; $n trials, SIGKILL at a random moment in 0..${max_ms} ms of 'cryo dump -R'"

survived=0; broken=0; finished=0
for i in $(seq 1 "$n"); do
  rm -rf "$work/img"; mkdir "$work/img"
  "$cryo" dump -t "$target" -D "$work/img" -R -j -o dump.log -v4 >/dev/null 2>&1 &
  dumper=$!
  delay=$(( RANDOM * 32768 + RANDOM )); delay=$(( delay % (max_ms + 1) ))
  sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
  kill -9 "$dumper" 2>/dev/null || finished=$((finished + 1))
  wait "$dumper" 2>/dev/null
  # the tracer is gone: the kernel detached the target; give it a few steps to run on
  lines=$(wc -l < "$work/out.txt")
  why=""
  for _ in $(seq 1 250); do [ "$(wc -l < "$work/out.txt")" -ge $((lines + 3)) ] && break; sleep 0.02; done
  if [ ! -d "/proc/$target" ]; then why="the target is gone"
  elif [ "$(wc -l < "$work/out.txt")" -lt $((lines + 3)) ]; then
    why="the target stopped counting (state: $(awk '/^State:/ {print $2 $3}' "/proc/$target/status"), tracer: $(awk '/^TracerPid:/ {print $2}' "/proc/$target/status"))"
  elif [ "$(snapshot)" != "$before" ]; then why="its state changed: $(diff <(echo "$before") <(snapshot) | grep '^[<>]' | head -4 | tr '\n' ' ')"
  elif ! awk 'NR-1 != $1 { exit 1 }' "$work/out.txt"; then why="its count skipped or repeated"
  fi
  if [ -z "$why" ]; then survived=$((survived + 1)); else
    broken=$((broken + 1)); echo "trial $i (kill at ${delay} ms): $why; the dump's log ended with: $(tail -1 "$work/img/dump.log" 2>/dev/null)"
    start_target
  fi
  nft list tables 2>/dev/null | grep -q cryo-lock- && echo "trial $i: a cryo-lock table was left"
done
echo "SIGKILL trials: $survived of $((survived + broken)) survived unchanged ($finished dumps had finished before the kill)"
[ "$broken" -eq 0 ]
