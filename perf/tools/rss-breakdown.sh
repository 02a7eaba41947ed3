#!/usr/bin/env bash
# Where Postern's RSS goes with perf's 10,000-route corpus (perf/FINDINGS.md §10).
#   perf/tools/rss-breakdown.sh WORK JAR OUT [JVM flags...]
# WORK: a work directory kept by `perf/run --scenarios routes --keep` (its postern-10k/, bootstrap-10k.yaml and
# upstream/); JAR: proxy-core/target/postern.jar (with its lib/ beside it); OUT: where the figures go.
# Runs Postern pinned to CPU 0 with the harness flags ($BASEFLAGS overrides them) plus NMT and the given flags,
# then: VmRSS 2 s after ready, NMT summary and heap info, 16 s + 8 s of wrk on the bench listener (CPU 1), VmRSS,
# NMT, smaps, and last GC.class_histogram (a full GC).
set -u
W=$1 JAR=$2 OUT=$3; shift 3
J=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin
FLAGS="${BASEFLAGS:--XX:+UseSerialGC -Xms64m -Xmx256m --enable-native-access=ALL-UNNAMED}"
ADMIN=$(sed -n 's/.*port: \([0-9]*\).*/\1/p' "$W/bootstrap-10k.yaml" | head -n1)
BENCH=$(sed -n 's/^ *port: \([0-9]*\)$/\1/p' "$W/postern-10k/gateway.yaml" | head -n1)
mkdir -p "$OUT"
taskset -c 1 nginx -p "$W/upstream" -c "$W/upstream/nginx.conf" >/dev/null 2>&1 &
NG=$!
sleep 0.5
t0=$(date +%s.%N)
# shellcheck disable=SC2086
taskset -c 0 "$J/java" $FLAGS -XX:NativeMemoryTracking=summary "$@" -Xlog:gc:file="$OUT/gc.log" -jar "$JAR" \
  run "$W/postern-10k" --bootstrap "$W/bootstrap-10k.yaml" > "$OUT/postern.log" 2>&1 &
P=$!
for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$ADMIN/ready" >/dev/null && break; sleep 0.1; done
echo "ready $(echo "$(date +%s.%N) - $t0" | bc) s" | tee "$OUT/summary"
sleep 2
rss() { awk '/VmRSS/ {print $2 / 1024 " MiB"}' "/proc/$P/status"; }
echo "rss idle: $(rss), threads: $(ls "/proc/$P/task" | wc -l)" | tee -a "$OUT/summary"
"$J/jcmd" $P VM.native_memory summary > "$OUT/nmt-idle.txt"
"$J/jcmd" $P GC.heap_info > "$OUT/heap-idle.txt"
taskset -c 1 wrk -t1 -c64 -d16s "http://127.0.0.1:$BENCH/" > /dev/null
taskset -c 1 wrk -t1 -c64 -d8s --latency "http://127.0.0.1:$BENCH/" > "$OUT/wrk.txt"
echo "rss after load: $(rss), threads: $(ls "/proc/$P/task" | wc -l)" | tee -a "$OUT/summary"
grep Requests/sec "$OUT/wrk.txt" | tee -a "$OUT/summary"
"$J/jcmd" $P VM.native_memory summary > "$OUT/nmt-load.txt"
"$J/jcmd" $P GC.heap_info > "$OUT/heap-load.txt"
cat "/proc/$P/smaps" > "$OUT/smaps.txt"
"$J/jcmd" $P GC.class_histogram > "$OUT/histo.txt"
kill $P; wait $P 2>/dev/null
kill $NG; wait $NG 2>/dev/null
