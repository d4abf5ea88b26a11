#!/usr/bin/env bash
# Renders the `compare` HTML report of the broken-then-fixed fixtures and screenshots it with
# headless Chromium (Debian: apt-get install -y chromium), to check that the self-contained page
# and its inline SVG charts render without network access.
#
#   scripts/screenshot_report.sh [OUT_DIR]     # default OUT_DIR: target/report-screenshot
#
# Writes OUT_DIR/report.html and OUT_DIR/report.png, and fails if Chromium is missing, exits
# non-zero, or writes no PNG. Runs as root too (--no-sandbox); the profile lives in a temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/report-screenshot}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

chromium_bin="${CHROMIUM:-}"
if [ -z "$chromium_bin" ]; then
  for c in chromium chromium-browser google-chrome; do
    if command -v "$c" >/dev/null 2>&1; then chromium_bin="$(command -v "$c")"; break; fi
  done
fi
[ -n "$chromium_bin" ] || { echo "chromium not found: apt-get install -y chromium (or set CHROMIUM=)" >&2; exit 1; }

cargo build --quiet
f=fixtures/broken-then-fixed
./target/debug/nginxlog-sidecar compare --format ws_timing \
  --access-log "$f/access.log" --error-log "$f/error.log" --split "@$f/SPLIT" \
  --report-format html --output "$out/report.html"

if grep -qiE '<script|https?://[^"]*\.(js|css)|<link ' "$out/report.html"; then
  echo "report.html is not self-contained" >&2; exit 1
fi

profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
rm -f "$out/report.png"
timeout 60 "$chromium_bin" --headless --no-sandbox --disable-gpu --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --screenshot="$out/report.png" --window-size=1200,1600 \
  "file://$out/report.html" >/dev/null 2>&1
[ -s "$out/report.png" ] || { echo "chromium wrote no screenshot" >&2; exit 1; }
echo "$out/report.png"
