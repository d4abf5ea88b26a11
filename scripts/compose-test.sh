#!/usr/bin/env bash
# Runs deploy/compose/docker-compose.yml, unchanged, with podman-compose on local stand-ins for
# its images, and checks the stack end to end: WebSockets through nginx, the sidecar's exact
# counts, Prometheus scraping the sidecar with the repository's rules loaded, Alertmanager known
# to Prometheus. Grafana does not run: grafana/grafana is not in Debian and no container
# registry is reachable here, so there is nothing to stand in for it with.
#
# Run after scripts/container-test.sh (which builds the base stand-ins); root. Stand-ins, built
# from the Debian 12 builder stand-in with Debian's packages (older versions than the pinned
# images, same roles):
#   nginx:1.27                  nginx-light 1.22, user nginx, `nginx -g 'daemon off;'`
#   node:22-alpine              nodejs 18
#   prom/prometheus:v2.55.1     prometheus 2.42, entrypoint prometheus, data in /prometheus
#   prom/alertmanager:v0.27.0   prometheus-alertmanager 0.25
# The stack runs from a generated copy of docker-compose.yml whose only change (checked with
# diff) is that every published port is bound to 127.0.0.1 on a free port instead of all
# interfaces on the fixed one; project name nginxlog-ct-<pid>, so nothing of another run or of
# a real deployment of the demo is touched. The four service stand-ins carry the upstream
# names (see scripts/container-test.sh) and are removed again on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
start_all=$SECONDS
say() { printf '== %s\n' "$*"; }
ok() { printf 'ok: %s\n' "$*"; passed+=("$*"); }
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
passed=()
[ "$(id -u)" = 0 ] || die "run as root"

need=()
command -v podman-compose >/dev/null 2>&1 || need+=(podman-compose)
# Service names resolve inside a podman (CNI) network only with the dnsname plugin.
[ -x /usr/lib/cni/dnsname ] || need+=(golang-github-containernetworking-plugin-dnsname)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  . scripts/lib/apt_install.sh
  apt_install "${need[@]}"
fi

work=$(mktemp -d /var/tmp/nginxlog-compose-test.XXXXXX)
project="nginxlog-ct-$$"
# podman-compose 1.0 resolves relative paths from the first file's directory (and has no
# --project-directory), so the generated copy sits next to the original; removed on exit.
compose_copy=".compose-test-$$.yml"
service_standins=()
cat > "$work/containers.conf" <<'EOF'
[containers]
default_ulimits = []
[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF="$work/containers.conf"
compose_files=(-f "$compose_copy")
compose() { (cd deploy/compose && podman-compose -p "$project" "${compose_files[@]}" "$@"); }
cleanup() {
  local rc=$?
  [ -f "deploy/compose/$compose_copy" ] && { compose down -v >/dev/null 2>&1 || true; }
  # podman-compose 1.0 leaves the project network behind: this project's only (by its label).
  for n in $(podman network ls -q --filter "label=io.podman.compose.project=$project"); do
    podman network rm -f "$n" >/dev/null 2>&1 || true
  done
  for i in "${service_standins[@]}"; do podman rmi "$i" >/dev/null 2>&1 || true; done
  rm -f "deploy/compose/$compose_copy"
  rm -rf "$work"
  [ "$rc" = 0 ] || echo "compose test FAILED (exit $rc)" >&2
}
trap cleanup EXIT
traffic() { /usr/bin/python3 "$repo/scripts/container_traffic.py" "$@"; }

base=$(sed -n 's/^ARG RUST_VERSION=//p' Dockerfile)
base="docker.io/library/rust:$base-slim-bookworm"
podman image exists "$base" || die "$base (the stand-in) is missing: run scripts/container-test.sh first"

# The copy: each published "HOST:CONTAINER" becomes "127.0.0.1:FREE:CONTAINER"; FREE ports
# (printed as HOST=FREE) are what the checks below use.
port_map=$(/usr/bin/python3 - deploy/compose/docker-compose.yml "deploy/compose/$compose_copy" <<'PY'
import re, socket, sys
src, dst = sys.argv[1], sys.argv[2]
out, socks = [], []
for line in open(src):
    m = re.fullmatch(r'(\s+- )"(\d+):(\d+)"\n', line)
    if m:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        free = s.getsockname()[1]
        print(f"{m.group(2)}={free}")
        line = f'{m.group(1)}"127.0.0.1:{free}:{m.group(3)}"\n'
    out.append(line)
open(dst, "w").write("".join(out))
PY
) || die "could not write the compose copy"
changed=$(diff deploy/compose/docker-compose.yml "deploy/compose/$compose_copy" | grep '^[<>]' || true)
unexpected=$(grep -v -E '^< +- "[0-9]+:[0-9]+"$|^> +- "127\.0\.0\.1:[0-9]+:[0-9]+"$' <<<"$changed" || true)
[ -z "$unexpected" ] || die "the compose copy differs in more than published ports: $unexpected"
# And no published port left that is not on loopback (another spelling, or in the override).
/usr/bin/python3 - "deploy/compose/$compose_copy" deploy/compose/docker-compose.syslog.yml <<'PY' ||
import sys, yaml
bad = [f"{f}: {name}: {p}" for f in sys.argv[1:]
       for name, svc in (yaml.safe_load(open(f)).get("services") or {}).items()
       for p in (svc or {}).get("ports", []) if not str(p).startswith("127.0.0.1:")]
sys.exit("\n".join(bad) if bad else 0)
PY
  die "a published port is not bound to 127.0.0.1"
host_port() { sed -n "s/^$1=//p" <<<"$port_map"; }
p_nginx=$(host_port 8080) p_sidecar=$(host_port 9680) p_prom=$(host_port 9090) p_am=$(host_port 9093)
[ -n "$p_nginx" ] && [ -n "$p_sidecar" ] && [ -n "$p_prom" ] && [ -n "$p_am" ] ||
  die "docker-compose.yml no longer publishes 8080, 9680, 9090 and 9093: $port_map"
[ "$(grep -c . <<<"$changed")" = $((2 * $(grep -c . <<<"$port_map"))) ] || die "compose copy: unexpected diff: $changed"
ok "compose copy: only the published ports changed, to 127.0.0.1 ($(tr '\n' ' ' <<<"$port_map"| sed 's/ $//'))"

say "stand-ins for nginx, node, prometheus, alertmanager (Debian packages on $base)"
t=$SECONDS
key="v1 $(podman image inspect --format '{{.Id}}' "$base")"
if [ "$(podman image inspect --format '{{index .Labels "org.nginxlog.standin"}}' localhost/nginxlog-standin-services 2>/dev/null)" != "$key" ]; then
  cat > "$work/Containerfile" <<EOF
FROM $base
RUN apt-get update -qq \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \\
      nginx-light nodejs prometheus prometheus-alertmanager >/dev/null \\
 && rm -rf /var/lib/apt/lists/* \\
 && useradd --system --no-create-home --shell /usr/sbin/nologin nginx \\
 && mkdir -p /usr/share/nginx/html /prometheus /alertmanager \\
 && chown nobody:nogroup /prometheus /alertmanager
LABEL org.nginxlog.standin="$key"
EOF
  podman build --pull=never -q -t localhost/nginxlog-standin-services -f "$work/Containerfile" "$work" >"$work/build.log" 2>&1 ||
    { tail -n 20 "$work/build.log" >&2; die "building the services stand-in failed"; }
fi
standin() { # tag, then Containerfile lines
  local tag=$1; shift
  # Never replace a real image of that name (a stand-in has the label).
  if podman image exists "$tag" &&
    [ -z "$(podman image inspect --format '{{index .Labels "org.nginxlog.standin"}}' "$tag" 2>/dev/null)" ]; then
    die "$tag is a real image here; the stand-in would take its name: remove it or run elsewhere"
  fi
  service_standins+=("$tag")
  printf 'FROM localhost/nginxlog-standin-services\n%s\n' "$@" > "$work/Containerfile.$$"
  podman build --pull=never --format docker -q -t "$tag" -f "$work/Containerfile.$$" "$work" >/dev/null
}
img() { sed -n "/^  $1:/,/^  [a-z]/s/^    image: //p" deploy/compose/docker-compose.yml | head -n1; }
standin "docker.io/library/$(img nginx)" 'CMD ["nginx", "-g", "daemon off;"]'
standin "docker.io/library/$(img ws-backend)" 'CMD ["node"]'
standin "docker.io/$(img prometheus)" 'USER nobody' 'WORKDIR /prometheus' 'ENTRYPOINT ["/usr/bin/prometheus"]'
standin "docker.io/$(img alertmanager)" 'USER nobody' 'WORKDIR /alertmanager' 'ENTRYPOINT ["/usr/bin/prometheus-alertmanager"]'
ok "stand-ins for $(img nginx), $(img ws-backend), $(img prometheus), $(img alertmanager) ($((SECONDS - t)) s)"

say "podman-compose up (every service but grafana)"
t=$SECONDS
compose build nginxlog-sidecar >"$work/compose-build.log" 2>&1 ||
  { tail -n 20 "$work/compose-build.log" >&2; die "podman-compose build failed"; }
compose up -d nginx ws-backend nginxlog-sidecar prometheus alertmanager >"$work/up.log" 2>&1 ||
  { tail -n 20 "$work/up.log" >&2; die "podman-compose up failed"; }
traffic up "http://127.0.0.1:$p_sidecar/readyz" 30 || die "sidecar not ready: $(compose logs nginxlog-sidecar 2>&1 | tail -n 5)"
traffic up "http://127.0.0.1:$p_nginx/" 30 || die "nginx not answering: $(compose logs nginx 2>&1 | tail -n 5)"
traffic up "http://127.0.0.1:$p_prom/-/ready" 60 || die "prometheus not ready: $(compose logs prometheus 2>&1 | tail -n 5)"
traffic up "http://127.0.0.1:$p_am/-/ready" 60 || die "alertmanager not ready: $(compose logs alertmanager 2>&1 | tail -n 5)"
ok "nginx, ws-backend, nginxlog-sidecar, prometheus, alertmanager up from docker-compose.yml ($((SECONDS - t)) s)"

expect() { grep -qx "$3" <<<"$2" || die "$1: want $3, got: $(tr '\n' ' ' <<<"$2")"; }
expect "demo page" "$(traffic get "http://127.0.0.1:$p_nginx/" 1)" "STATUS 200 1"
expect "good token" "$(traffic ws "ws://127.0.0.1:$p_nginx/ws/chat?token=good" 3)" "STATUS 101 3"
expect "bad token" "$(traffic ws "ws://127.0.0.1:$p_nginx/ws/chat?token=bad" 2)" "STATUS 403 2"
m="http://127.0.0.1:$p_sidecar/metrics"
traffic wait "$m" 'nginxlog_ws_upgrade_requests_total{path="/ws/chat",status="101",answered_by="upstream"}' 3
traffic wait "$m" 'nginxlog_ws_upgrade_requests_total{path="/ws/chat",status="403",answered_by="upstream"}' 2
# GET / twice: the wait for nginx above and the demo page.
traffic wait "$m" 'nginxlog_http_requests_total{path="/",method="GET",status="200"}' 2
traffic same "$m" 'nginxlog_ws_upgrade_requests_total{path="/ws/chat",status="101",answered_by="upstream"}' 3 2
traffic same "$m" 'nginxlog_http_requests_total{path="/",method="GET",status="200"}' 2 0.5
ok "through the compose nginx (the shared nginx-logs volume): 3 upgrades 101, 2 refused 403 by the demo app, 2 page loads, counted exactly"

# Prometheus: the sidecar target up, the repository's rule file loaded, the counts scraped.
prom() { /usr/bin/python3 -c '
import json, sys, urllib.parse, urllib.request
print(json.dumps(json.load(urllib.request.urlopen(sys.argv[2] + sys.argv[1], timeout=10))["data"]))' "$1" "http://127.0.0.1:$p_prom"; }
deadline=$((SECONDS + 60))
until prom /api/v1/targets | /usr/bin/python3 -c '
import json, sys
t = [a for a in json.load(sys.stdin)["activeTargets"] if a["labels"]["job"] == "nginxlog-sidecar"]
sys.exit(0 if t and t[0]["health"] == "up" else 1)'; do
  [ $SECONDS -lt $deadline ] || die "prometheus: target nginxlog-sidecar:9680 not up: $(prom /api/v1/targets)"
  sleep 2
done
ok "prometheus scrapes nginxlog-sidecar:9680 (target up)"
# Every rule of the file, each evaluated at least once with health ok (unknown = not yet).
want_rules=$(/usr/bin/python3 -c '
import yaml
g = yaml.safe_load(open("alerts/nginxlog-rules.yml"))["groups"]
print(len(g), sum(len(x["rules"]) for x in g))')
deadline=$((SECONDS + 90))
while :; do
  rules=$(prom /api/v1/rules | /usr/bin/python3 -c '
import json, sys
g = json.load(sys.stdin)["groups"]
notok = [r["name"] + "=" + str(r.get("health")) for x in g for r in x["rules"] if r.get("health") != "ok"]
files = {x["file"] for x in g}
print(len(g), sum(len(x["rules"]) for x in g), ",".join(sorted(files)) or "-", ",".join(notok))')
  read -r n_groups n_rules rule_files not_ok <<<"$rules"
  [ "$rule_files" = /etc/prometheus/rules/nginxlog-rules.yml ] || die "prometheus rule files: $rule_files"
  [ "$n_groups $n_rules" = "$want_rules" ] || die "prometheus has $n_groups groups, $n_rules rules; alerts/nginxlog-rules.yml has $want_rules"
  [ -z "${not_ok:-}" ] && break
  [ $SECONDS -lt $deadline ] || die "prometheus rules not all healthy after 90 s: $not_ok"
  sleep 3
done
ok "prometheus loaded alerts/nginxlog-rules.yml (mounted): all $n_groups groups, $n_rules rules, every one evaluated with health ok"
q='sum(nginxlog_ws_upgrade_requests_total{status="101"})'
deadline=$((SECONDS + 45))
until [ "$(prom "/api/v1/query?query=$(/usr/bin/python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$q")" |
  /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin)["result"]; print(r[0]["value"][1] if r else "none")')" = 3 ]; do
  [ $SECONDS -lt $deadline ] || die "prometheus: $q is not 3"
  sleep 3
done
ok "prometheus has the sidecar's numbers: $q = 3"
deadline=$((SECONDS + 30))
until prom /api/v1/alertmanagers | /usr/bin/python3 -c '
import json, sys
a = [x["url"] for x in json.load(sys.stdin)["activeAlertmanagers"]]
sys.exit(0 if any("//alertmanager:9093/" in u for u in a) else 1)'; do
  [ $SECONDS -lt $deadline ] || die "prometheus has no active alertmanager:9093: $(prom /api/v1/alertmanagers)"
  sleep 2
done
ok "prometheus sends alerts to alertmanager:9093 (active alertmanager, which answers /-/ready)"

# The syslog variant: nginx-syslog.conf sends both logs to the sidecar over UDP.
say "podman-compose -f docker-compose.yml -f docker-compose.syslog.yml up nginx ws-backend nginxlog-sidecar"
compose down -v >/dev/null 2>&1
compose_files=(-f "$compose_copy" -f docker-compose.syslog.yml)
compose up -d nginx ws-backend nginxlog-sidecar >"$work/up-syslog.log" 2>&1 ||
  { tail -n 20 "$work/up-syslog.log" >&2; die "podman-compose up (syslog) failed"; }
traffic up "http://127.0.0.1:$p_sidecar/readyz" 30 || die "sidecar not ready: $(compose logs nginxlog-sidecar 2>&1 | tail -n 5)"
traffic up "http://127.0.0.1:$p_nginx/" 30 || die "nginx not answering: $(compose logs nginx 2>&1 | tail -n 5)"
expect "good token (syslog)" "$(traffic ws "ws://127.0.0.1:$p_nginx/ws/chat?token=good" 2)" "STATUS 101 2"
expect "bad token (syslog)" "$(traffic ws "ws://127.0.0.1:$p_nginx/ws/chat?token=bad" 1)" "STATUS 403 1"
traffic wait "$m" 'nginxlog_ws_upgrade_requests_total{path="/ws/chat",status="101",answered_by="upstream"}' 2
traffic wait "$m" 'nginxlog_ws_upgrade_requests_total{path="/ws/chat",status="403",answered_by="upstream"}' 1
traffic wait "$m" 'nginxlog_http_requests_total{path="/",method="GET",status="200"}' 1
traffic same "$m" 'nginxlog_ws_upgrade_requests_total{path="/ws/chat",status="101",answered_by="upstream"}' 2 2
traffic same "$m" 'nginxlog_http_requests_total{path="/",method="GET",status="200"}' 1 0.5
ok "the syslog override: nginx-syslog.conf over UDP to nginxlog-sidecar:5514/5515, 2 upgrades 101, 1 refused 403, 1 page, counted exactly"

echo
echo "compose test passed in $((SECONDS - start_all)) s (grafana not run: no image, not in Debian):"
printf '  - %s\n' "${passed[@]}"
