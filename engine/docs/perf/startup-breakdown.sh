#!/bin/bash
# Where a short cryo run's time goes (issue 18): medians of N runs (N=11) of each step, wall and CPU (user+sys),
# from the wrapper alone to a dump -R of the counting loop, cold (with and without the rehearsal) and, with
# RES=DIR naming a running `cryo service --resident --dir DIR`, through the resident service.
# Run as root from anywhere after a build and `make fixtures`; JDK 25 at /usr/lib/jvm/temurin-25-jdk-amd64 (JAVA25=).
set -u
R="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
N=${N:-11}
J=${JAVA25:-/usr/lib/jvm/temurin-25-jdk-amd64/bin/java}
T=$(mktemp -d)
trap 'rm -rf "$T" "$R/bin/.cryo-noexec" "$R/bin/.cryo-cmd"; [ -z "${P:-}" ] || kill "$P" 2>/dev/null' EXIT
export CRYO_RESIDENT=0

# median wall and CPU in ms of N runs of a command
measure() {
  local label=$1 i t0 t1; shift
  for ((i = 0; i < N; i++)); do
    t0=$EPOCHREALTIME
    /usr/bin/time -f "%U %S" -o "$T/time" "$@" >/dev/null 2>&1
    t1=$EPOCHREALTIME
    echo "$(( (${t1/./} - ${t0/./}) / 1000 )) $(awk '{printf "%d", ($1 + $2) * 1000}' "$T/time")"
  done > "$T/runs"
  printf '%-40s wall %5d ms  cpu %5d ms\n' "$label" \
    "$(awk '{print $1}' "$T/runs" | sort -n | sed -n "$(( (N + 1) / 2 ))p")" \
    "$(awk '{print $2}' "$T/runs" | sort -n | sed -n "$(( (N + 1) / 2 ))p")"
}

printf 'public class H { public static void main(String[] a) { System.out.println("hi"); } }\n' > "$T/H.java"
"${J%/java}/javac" -d "$T" "$T/H.java"
sed 's/^exec "\$java_bin".*/exit 0/' "$R/bin/cryo" > "$R/bin/.cryo-noexec"
sed 's/^exec "\$java_bin".*/printf "%q " "$java_bin" "${flags[@]}"/' "$R/bin/cryo" > "$R/bin/.cryo-cmd"
chmod +x "$R/bin/.cryo-noexec" "$R/bin/.cryo-cmd"
JC=$("$R/bin/.cryo-cmd" check)
JCNOAOT=$(echo "$JC" | sed 's/ -XX:AOTCache=[^ ]*//')
uptime
measure "bash -c exit" /bin/bash -c 'exit 0'
measure "wrapper up to exec java" "$R/bin/.cryo-noexec" check
measure "java hello, same flags, JDK CDS" "$J" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:-UsePerfData -Xshare:auto -cp "$T" H
eval "measure 'cryo.jar --version, AOT cache' $JC -jar $R/engine/target/cryo.jar --version"
eval "measure 'cryo.jar --version, no AOT cache' $JCNOAOT -jar $R/engine/target/cryo.jar --version"
eval "measure 'cryo.jar --version, AOT, reloc=0' $JC -XX:+UnlockDiagnosticVMOptions -XX:ArchiveRelocationMode=0 -jar $R/engine/target/cryo.jar --version"
measure "bin/cryo --version" "$R/bin/cryo" --version
measure "bin/cryo check --feature rseq" "$R/bin/cryo" check --feature rseq
eval "measure 'check rseq, AOT, reloc=0' $JC -XX:+UnlockDiagnosticVMOptions -XX:ArchiveRelocationMode=0 -jar $R/engine/target/cryo.jar check --feature rseq"
eval "measure 'check rseq, no AOT cache' $JCNOAOT -jar $R/engine/target/cryo.jar check --feature rseq"
[ -z "${RES:-}" ] || CRYO_RESIDENT=1 CRYO_RESIDENT_DIR=$RES measure "resident: check --feature rseq" "$R/bin/cryo" check --feature rseq

# dumps of the counting loop, left running (-R): the wall, the CPU, the time inside the -v4 log, the frozen time
cd "$T"
setsid "$R/fixtures-c/build/counter" --step-ms=100 --buffer=line > "$T/counter.out" 2>&1 < /dev/null & P=$!
until [ -s "$T/counter.out" ]; do sleep 0.1; done # the fixture's first line: it runs
dumps() {
  local label=$1 i t0 t1 w c inside frozen; shift
  for ((i = 0; i < N; i++)); do
    rm -rf img; mkdir img
    t0=$EPOCHREALTIME
    /usr/bin/time -f "%U %S" -o "$T/time" env "$@" "$R/bin/cryo" dump -R -t "$P" -D img -o dump.log -v4 >/dev/null 2>&1
    t1=$EPOCHREALTIME
    w=$(( (${t1/./} - ${t0/./}) / 1000 )); c=$(awk '{printf "%d", ($1 + $2) * 1000}' "$T/time")
    inside=$(tail -1 img/dump.log | sed 's/^(\([0-9.]*\)).*/\1/')
    frozen=$(grep -o 'frozen for [0-9]*' img/dump.log | grep -o '[0-9]*$')
    echo "$w $c $(awk -v x="$inside" 'BEGIN{printf "%d", x * 1000}') $((frozen / 1000))"
  done | sort -n | awk -v l="$label" '{w[NR]=$1; c[NR]=$2; i[NR]=$3; f[NR]=$4}
      END{m=int((NR+1)/2); printf "%-40s wall %5d ms  cpu %5d ms  in-log %4d ms  frozen %3d ms (the median run by wall)\n", l, w[m], c[m], i[m], f[m]}'
}
dumps "dump -R counter, cold" CRYO_RESIDENT=0
dumps "dump -R counter, cold, no rehearsal" CRYO_RESIDENT=0 CRYO_JAVA_OPTS=-Dcryo.warmup=false
[ -z "${RES:-}" ] || dumps "dump -R counter, resident" CRYO_RESIDENT=1 CRYO_RESIDENT_DIR="$RES"
uptime
