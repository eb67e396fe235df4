#!/bin/bash
# 1 GiB: dump (kill) to tmpfs and restore -d, N rounds, with $CRYO; prints per round: dump wall, frozen, memdump, memwrite, restore wall, restore_time
for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null; done
CRYO=${CRYO:-/work/main/bin/cryo}; MIB=${MIB:-1024}; B=/dev/shm/big
for r in $(seq ${N:-3}); do
rm -rf $B; mkdir -p $B/img
setsid ${BIG:-/tmp/perf/big} $MIB </dev/null >$B/out 2>&1 &
pid=$!
until grep -q ready $B/out 2>/dev/null; do sleep 0.05; done
s=$(date +%s%N); $CRYO dump -t $pid -D $B/img -o log -v4 || exit 1; e=$(date +%s%N)
wait $pid 2>/dev/null
s2=$(date +%s%N); $CRYO restore -d -D $B/img -o rlog -v4 || exit 1; e2=$(date +%s%N)
st=$(/work/main/bin/cryo decode -i $B/img/stats-dump | tr -d ' \n'); rs=$(/work/main/bin/cryo decode -i $B/img/stats-restore | tr -d ' \n')
f=$(echo $st | grep -o '"frozen_time":[0-9]*' | cut -d: -f2); md=$(echo $st | grep -o '"memdump_time":[0-9]*' | cut -d: -f2); mw=$(echo $st | grep -o '"memwrite_time":[0-9]*' | cut -d: -f2); rt=$(echo $rs | grep -o '"restore_time":[0-9]*' | cut -d: -f2)
kill -0 $pid && grep -q "^\s*[0-9]" /proc/$pid/status 2>/dev/null; alive=$([ -d /proc/$pid ] && echo alive || echo DEAD)
echo "dump_wall $(( (e-s)/1000000 )) frozen $((f/1000)) memdump $((md/1000)) memwrite $((mw/1000)) restore_wall $(( (e2-s2)/1000000 )) restore_time $((rt/1000)) $alive"
kill -9 $pid 2>/dev/null
done
rm -rf $B
