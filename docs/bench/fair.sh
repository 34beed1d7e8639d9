#!/bin/bash
# usage: fair.sh WORKERS CONNECTIONS DURATION  — per-worker connections and CPU
B=${MAYFLY:-target/release/mayfly}   # run from the repository root after cargo build --release
W=$1; C=$2; D=$3
$B serve echo --addr 127.0.0.1:0 --workers $W --grace 1s > /tmp/fair.out 2>/tmp/fair.err &
SUP=$!
for i in $(seq 50); do grep -q listening /tmp/fair.out && break; sleep 0.1; done
ADDR=$(sed -n 's/listening on //p' /tmp/fair.out)
if [ "$W" = 1 ]; then KIDS=$SUP; else KIDS=$(cat /proc/$SUP/task/*/children); fi
declare -A FD0 CPU0 WC0
for k in $KIDS; do FD0[$k]=$(ls /proc/$k/fd | wc -l); CPU0[$k]=$(awk '{print $14+$15}' /proc/$k/stat); WC0[$k]=$(awk '/wchar/{print $2}' /proc/$k/io); done
$B stress --addr $ADDR --mode coroutine --connections $C --duration $D --json > /tmp/fair.json 2>/tmp/fair.stress.err &
ST=$!
sleep $(( ${D%s} / 2 + 1 ))
for k in $KIDS; do echo "worker $k connections $(( $(ls /proc/$k/fd | wc -l) - ${FD0[$k]} ))"; done
wait $ST
for k in $KIDS; do echo "worker $k cpu_ticks $(( $(awk '{print $14+$15}' /proc/$k/stat) - ${CPU0[$k]} ))"; done
python3 -c "import json;d=json.load(open('/tmp/fair.json'));print({k:d[k] for k in d if not isinstance(d[k],(dict,list))})"
kill -TERM $SUP; wait $SUP; echo "supervisor exit $?"
