#!/bin/bash
# pre-dump + 1% written + final dump of a MIB process, images in $BASE; prints frozen times. Logs kept.
for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null; done
MIB=${MIB:-1024}; BASE=${BASE:-/dev/shm/inc}; N=${N:-3}
for r in $(seq $N); do
rm -rf $BASE; mkdir -p $BASE/pre $BASE/final
setsid ${BIG:-/tmp/perf/big} $MIB </dev/null >$BASE/out 2>&1 &
pid=$!
until grep -q ready $BASE/out 2>/dev/null; do sleep 0.05; done
${CRYO:-/work/main/bin/cryo} pre-dump -t $pid -D $BASE/pre -o log -v4 || exit 1
kill -USR1 $pid; until grep -q "wrote 1" $BASE/out; do sleep 0.02; done
sync
${CRYO:-/work/main/bin/cryo} dump -t $pid -D $BASE/final -o log -v4 --prev-images-dir ../pre || exit 1
echo "pre $(/work/main/bin/cryo decode -i $BASE/pre/stats-dump | grep -o '"frozen_time": *[0-9]*') final $(/work/main/bin/cryo decode -i $BASE/final/stats-dump | grep -o '"frozen_time": *[0-9]*')"
kill -9 $pid; wait $pid 2>/dev/null
done
