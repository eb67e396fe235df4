#!/usr/bin/env bash
# SIGKILL trials: kill `cryo dump -R` with SIGKILL at random moments, N times, and count how often the target
# runs on unchanged (alive, untraced, same maps and blocked signals, counting on without a gap). A broken target
# is named with the moment of the kill and replaced by a fresh one, and the trials go on.
# Odd trials kill anywhere in the dump's wall time; even ones wait until the target is traced (its TracerPid, read
# in a loop of shell builtins) and kill at a random moment of the frozen window as long as a calibration dump's
# -v4 log shows it (from the step 'freeze' to 'Resumed'): a kill before the freeze (the JVM's start, the
# rehearsal) cannot harm the target, and would otherwise be most of the trials. Each kill is tallied by the dump's
# last step in its log.
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

ms() { awk -v t="$1" 'BEGIN { sub(/^\(/, "", t); sub(/\)$/, "", t); split(t, p, "."); printf "%d", p[1] * 1000 + p[2] / 1000 }'; }
# a calibration dump (the second: the first trains the JVM's cache): its wall, and where its frozen window lies
"$cryo" dump -t "$target" -D "$work" -R -j >/dev/null 2>&1
t0=$(date +%s%N); "$cryo" dump -t "$target" -D "$work" -R -j -o cal.log -v4 >/dev/null 2>&1; t1=$(date +%s%N)
wall_ms=$(( (t1 - t0) / 1000000 ))
[ "$max_ms" -eq 0 ] && max_ms=$wall_ms
log_end=$(ms "$(tail -1 "$work/cal.log" | awk '{print $1}')")
freeze_at=$(ms "$(awk '/ step freeze$/ {print $1; exit}' "$work/cal.log")")
resumed_at=$(ms "$(awk '/Resumed the tree/ {print $1; exit}' "$work/cal.log")")
frozen_ms=$(( resumed_at - freeze_at + 1 ))
echo "target pid $target; $n trials, SIGKILL at a random moment of 'cryo dump -R': odd trials in 0..${max_ms} ms," \
  "even ones 0..${frozen_ms} ms after the target is traced (calibration dump: ${wall_ms} ms wall, log ${log_end} ms)"

traced() { # until the dump's tracer holds the target, or the dump is gone
  local k v
  while kill -0 "$dumper" 2>/dev/null; do
    while read -r k v; do [ "$k" = TracerPid: ] && { [ "$v" != 0 ] && return 0; break; }; done < "/proc/$target/status"
  done
  return 1
}

declare -A at_step
survived=0; broken=0; finished=0
for i in $(seq 1 "$n"); do
  rm -rf "$work/img"; mkdir "$work/img"
  "$cryo" dump -t "$target" -D "$work/img" -R -j -o dump.log -v4 >/dev/null 2>&1 &
  dumper=$!
  delay=$(( RANDOM * 32768 + RANDOM ))
  if [ $((i % 2)) -eq 1 ]; then
    delay=$(( delay % (max_ms + 1) )); when="${delay} ms after the start"
    sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
  else
    delay=$(( delay % (frozen_ms + 1) )); when="${delay} ms after the target was traced"
    traced && [ "$delay" -gt 0 ] && sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
  fi
  if kill -9 "$dumper" 2>/dev/null; then
    wait "$dumper" 2>/dev/null
    step=$(awk '/ step [a-z ]+$/ { sub(/^[^ ]+ step /, ""); s = $0 } END { print s ? s : "before the freeze" }' \
      "$work/img/dump.log" 2>/dev/null)
    [ -n "$step" ] || step="before the log's first line"
    # the dump holds its log lines while the target is frozen and writes them when it runs again: a log that ends
    # at the line before the hold was killed inside the frozen window
    tail -1 "$work/img/dump.log" 2>/dev/null | grep -q 'static images and tracers' && step="the frozen window"
    grep -q 'Resumed the tree' "$work/img/dump.log" 2>/dev/null && step="after the resume"
  else
    wait "$dumper" 2>/dev/null; finished=$((finished + 1)); step="finished before the kill"
  fi
  at_step[$step]=$(( ${at_step[$step]:-0} + 1 ))
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
    broken=$((broken + 1)); echo "trial $i (kill at ${when}): $why; the dump's log ended with: $(tail -1 "$work/img/dump.log" 2>/dev/null)"
    start_target
  fi
  nft list tables 2>/dev/null | grep -q cryo-lock- && echo "trial $i: a cryo-lock table was left"
done
for k in "${!at_step[@]}"; do echo "  killed at '$k': ${at_step[$k]}"; done | sort
echo "SIGKILL trials: $survived of $((survived + broken)) survived unchanged ($finished dumps had finished before the kill)"
[ "$broken" -eq 0 ]
