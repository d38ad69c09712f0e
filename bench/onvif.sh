#!/usr/bin/env bash
# ONVIF request rate and latency with HTTP Digest, 16 connections on loopback (wrk).
# Usage: bench/onvif.sh [seconds]   Prints a Markdown table for docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
command -v wrk >/dev/null || { echo "bench: installing wrk"; apt-get install -y -q wrk >/dev/null; }
cargo build --release -q -p babymonitor
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
rtsp=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$dir/config.toml" <<CONF
[rtsp]
port = $rtsp
[http]
port = $port
[storage]
data_dir = "$dir/data"
[onvif]
discovery = false
[[users]]
name = "admin"
password = "bench password"
role = "admin"
CONF
RUST_LOG=warn ./target/release/babymonitor --simulate --config "$dir/config.toml" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.05; done

echo "| operation | requests/s | p50 | p99 |"
echo "|---|---|---|---|"
for op in "trt:GetProfiles|<GetProfiles xmlns=\"http://www.onvif.org/ver10/media/wsdl\"/>" \
          "trt:GetStreamUri|<GetStreamUri xmlns=\"http://www.onvif.org/ver10/media/wsdl\"><StreamSetup><Stream xmlns=\"http://www.onvif.org/ver10/schema\">RTP-Unicast</Stream><Transport xmlns=\"http://www.onvif.org/ver10/schema\"><Protocol>RTSP</Protocol></Transport></StreamSetup><ProfileToken>main</ProfileToken></GetStreamUri>"; do
  name=${op%%|*}
  body="<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body>${op#*|}</s:Body></s:Envelope>"
  # One Digest answer, reused: the server's nonces are stateless and stay valid for 5 minutes.
  auth=$(python3 - "$port" <<'PY'
import hashlib, re, sys, urllib.request
port = sys.argv[1]
try:
    envelope = b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><GetProfiles xmlns="http://www.onvif.org/ver10/media/wsdl"/></s:Body></s:Envelope>'
    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/onvif/media_service", data=envelope, method="POST"))
except urllib.error.HTTPError as e:
    challenge = e.headers.get_all("WWW-Authenticate")[0]
nonce = re.search(r'nonce="([^"]+)"', challenge).group(1)
realm = re.search(r'realm="([^"]+)"', challenge).group(1)
h = lambda s: hashlib.md5(s.encode()).hexdigest()
ha1, ha2 = h(f"admin:{realm}:bench password"), h("POST:/onvif/media_service")
resp = h(f"{ha1}:{nonce}:00000001:bench:auth:{ha2}")
print(f'Digest username="admin", realm="{realm}", nonce="{nonce}", uri="/onvif/media_service", algorithm=MD5, qop=auth, nc=00000001, cnonce="bench", response="{resp}"')
PY
)
  cat > "$dir/post.lua" <<LUA
wrk.method = "POST"
wrk.body = [[$body]]
wrk.headers["Content-Type"] = "application/soap+xml; charset=utf-8"
wrk.headers["Authorization"] = [[$auth]]
done = function(summary, latency, requests)
  io.write(string.format("| $name | %.0f | %.2f ms | %.2f ms |\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000))
  if summary.errors.status > 0 then io.write(string.format("(%d non-2xx answers)\n", summary.errors.status)) end
end
LUA
  wrk -t2 -c16 -d"${seconds}s" -s "$dir/post.lua" "http://127.0.0.1:$port/onvif/media_service" | grep '^|\|^('
done
