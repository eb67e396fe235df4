#!/bin/bash
# Incremental A/B: a 1 GiB process (big.c), pre-dump, 1% of its pages written, final dump --prev-images-dir;
# the configurations take turns, so load changes hit them alike. Prints one line per pair of dumps:
# the pre-dump's and the final dump's frozen_time (us) and the final dump's pages and pagemap sizes.
# usage: inc-ab.sh N name=/path/to/bin/cryo ...   (build big first: gcc -O2 -o /tmp/perf/big engine/docs/perf/big.c)
for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null; done
N=$1; shift
MIB=${MIB:-1024}; BASE=${BASE:-/dev/shm/cryo-inc-ab}; BIG=${BIG:-/tmp/perf/big}
DEC=${DEC:-$(dirname "$(readlink -f "$0")")/../../../bin/cryo}
for r in $(seq "$N"); do
 for cfg in "$@"; do
  name=${cfg%%=*}; cryo=${cfg#*=}
  rm -rf "$BASE"; mkdir -p "$BASE/pre" "$BASE/final"
  setsid "$BIG" "$MIB" </dev/null >"$BASE/out" 2>&1 &
  pid=$!
  until grep -q ready "$BASE/out" 2>/dev/null; do sleep 0.05; done
  "$cryo" pre-dump -t $pid -D "$BASE/pre" -o log -v4 || { kill -9 $pid; exit 1; }
  kill -USR1 $pid; until grep -q "wrote 1" "$BASE/out"; do sleep 0.02; done
  "$cryo" dump -t $pid -D "$BASE/final" -o log -v4 --prev-images-dir ../pre || { kill -9 $pid; exit 1; }
  pre=$("$DEC" decode -i "$BASE/pre/stats-dump" | grep -o '"frozen_time": *[0-9]*' | grep -o '[0-9]*$')
  fin=$("$DEC" decode -i "$BASE/final/stats-dump" | grep -o '"frozen_time": *[0-9]*' | grep -o '[0-9]*$')
  bytes=$(stat -c %s "$BASE/final/pages-1.img")
  pmb=$(stat -c %s "$BASE/final/pagemap-$pid.img")
  echo "$name pre_us=$pre final_us=$fin pages_bytes=$bytes pagemap_bytes=$pmb load=$(cut -d' ' -f1 /proc/loadavg)"
  kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
 done
done
rm -rf "$BASE"
