#!/bin/bash
# usage: fair2.sh WORKERS CONNECTIONS DURATION — per-worker accepted connections and requests from the supervisor's /stats
B=${MAYFLY:-target/release/mayfly}   # run from the repository root after cargo build --release
W=$1; C=$2; D=$3
$B serve echo --addr 127.0.0.1:0 --workers $W --stats-addr 127.0.0.1:0 --grace 1s > /tmp/fair2.out 2>/tmp/fair2.err &
SUP=$!
for i in $(seq 50); do grep -q "stats on" /tmp/fair2.out && break; sleep 0.1; done
ADDR=$(sed -n 's/listening on //p' /tmp/fair2.out); S=$(sed -n 's/stats on //p' /tmp/fair2.out)
$B stress --addr $ADDR --mode coroutine --connections $C --duration $D --json > /tmp/fair2.json 2>/dev/null
curl -s http://$S/stats | python3 -c "
import json,sys;d=json.load(sys.stdin)
print('sum accepted',d['connections']['accepted'],'requests',d['requests'],'cpu',d['cpu_seconds'])
for w in d['per_worker']: s=w['stats'];print(' worker',w['worker'],'accepted',s['connections']['accepted'],'requests',s['requests'],'share %.3f'%(s['requests']/d['requests']),'cpu_s',s['cpu_seconds'])"
python3 -c "import json;d=json.load(open('/tmp/fair2.json'));print('client rps',d['rps'],'ok',d['ok'],'fairness',d.get('fairness',{}).get('jain') if isinstance(d.get('fairness'),dict) else d.get('fairness'))"
kill -TERM $SUP; wait $SUP; echo "supervisor exit $?"
