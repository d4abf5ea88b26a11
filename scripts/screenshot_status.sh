#!/usr/bin/env bash
# Screenshots the sidecar's status page (`/`) in headless Chromium (Debian: apt-get install -y
# chromium), to check what an operator sees first: the verdict line naming the failing path,
# who answered, the cause, and the config finding with the lines to add.
#
#   scripts/screenshot_status.sh [OUT_DIR]     # default OUT_DIR: target/status-screenshot
#
# No nginx or network needed: it writes an nginx.conf (the incident's bare `location /ws/`,
# access_log in ws_timing) into a temp dir, fills the access log that config names with the
# failing half of fixtures/broken-then-fixed (upgrade attempts before its SPLIT time, moved to
# now), and runs `nginxlog-sidecar run --nginx-config` (nothing else about the logs) on a free
# loopback port with --from-start. Writes OUT_DIR/status.html, OUT_DIR/status.json and OUT_DIR/status.png; fails if
# Chromium is missing or writes no PNG, or if the page lacks the verdict. Runs as root too
# (--no-sandbox); the browser profile and the config live in temp dirs removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/status-screenshot}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

. scripts/lib/chromium.sh

cargo build --quiet
bin="${CARGO_TARGET_DIR:-target}/debug/nginxlog-sidecar"

work="$(mktemp -d)"

sidecar_pid=""
cleanup() {
  if [ -n "$sidecar_pid" ]; then kill "$sidecar_pid" 2>/dev/null || true; wait "$sidecar_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/logs"
cat > "$work/nginx.conf" <<CONF
events { }
http {
    log_format ws_timing '\$remote_addr - \$remote_user [\$time_local] "\$request" \$status \$body_bytes_sent '
                         '"\$http_referer" "\$http_user_agent" rt=\$request_time uct="\$upstream_connect_time" '
                         'uht="\$upstream_header_time" urt="\$upstream_response_time" upgrade="\$http_upgrade"';
    upstream app { server 127.0.0.1:8080; }
    server {
        listen 80;
        server_name chat.example.com;
        access_log $work/logs/access.log ws_timing;
        error_log $work/logs/error.log;
        # The incident: proxied without the upgrade headers.
        location /ws/ {
            proxy_pass http://app;
        }
        location / { proxy_pass http://app; }
    }
}
CONF
# The failing half: lines logged before the fixture's SPLIT (02:16:58), moved in time so the
# last one is now (the page counts attempts in the minute their line was logged).
grep -E '02:1[0-5]:[0-9]{2} |02:16:[0-5][0-7] ' fixtures/broken-then-fixed/access.log \
  | python3 -c '
import re, sys, datetime as d
lines = sys.stdin.read().splitlines()
fmt = "%d/%b/%Y:%H:%M:%S %z"
pat = re.compile(r"\[([^]]+)\]")
last = max(d.datetime.strptime(pat.search(l).group(1), fmt) for l in lines)
shift = d.datetime.now(d.timezone.utc) - last
for l in lines:
    t = d.datetime.strptime(pat.search(l).group(1), fmt) + shift
    print(pat.sub("[" + t.strftime(fmt) + "]", l, count=1))
' > "$work/logs/access.log"
: > "$work/logs/error.log"

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$bin" run --nginx-config "$work/nginx.conf" --from-start --listen "127.0.0.1:$port" \
  --log-level warn 2>"$work/sidecar.log" &
sidecar_pid=$!
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then break; fi
  sleep 0.1
done
# The lines are read within a poll interval or two.
sleep 1
curl -fsS "http://127.0.0.1:$port/" -o "$out/status.html"
curl -fsS "http://127.0.0.1:$port/status.json" -o "$out/status.json"
grep -q 'WebSocket upgrades on /ws/chat are failing' "$out/status.html" \
  || { echo "status page lacks the verdict:" >&2; cat "$work/sidecar.log" >&2; exit 1; }
grep -q 'proxy_set_header Upgrade' "$out/status.html" \
  || { echo "status page lacks the fix" >&2; exit 1; }

screenshot "http://127.0.0.1:$port/" "$out/status.png" 1280,1500
echo "$out/status.png"
