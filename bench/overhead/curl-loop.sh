#!/bin/sh
# bench/overhead's curl workload: HTTPS requests made as a shell script
# makes them, one curl process each (its own TLS handshake through the
# system libssl), CONC loops side by side, for SECS seconds.
#   curl-loop.sh <port> <ca.pem> <secs> <conc> <servername> [get-path]
# Prints {"requests":N,"secs":S,"rate":N/S,"errors":E}.
port=$1 ca=$2 secs=$3 conc=$4 name=$5 get=$6
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# milliseconds: mawk's printf %d stops at 2^31, and nanoseconds since 1970 need 61 bits
start=$(date +%s%3N)
end=$((start + $(awk -v s="$secs" 'BEGIN { printf "%d", s * 1000 }')))
i=0
while [ "$i" -lt "$conc" ]; do
  (
    ok=0 bad=0
    while [ "$(date +%s%3N)" -lt "$end" ]; do
      if [ -n "$get" ]; then
        curl -s -o /dev/null --http1.1 --cacert "$ca" --resolve "$name:$port:127.0.0.1" "https://$name:$port$get" && ok=$((ok + 1)) || bad=$((bad + 1))
      else
        curl -s -o /dev/null --http1.1 --cacert "$ca" --resolve "$name:$port:127.0.0.1" -H 'content-type: application/json' \
          -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}' "https://$name:$port/v1/chat/completions" && ok=$((ok + 1)) || bad=$((bad + 1))
      fi
    done
    echo "$ok $bad" > "$dir/$i"
  ) &
  i=$((i + 1))
done
wait
now=$(date +%s%3N)
cat "$dir"/* | awk -v ms=$((now - start)) '{ok += $1; bad += $2} END {s = ms / 1000; printf "{\"requests\":%d,\"secs\":%.4f,\"rate\":%.1f,\"errors\":%d}\n", ok, s, ok / s, bad}'
