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

. scripts/lib/chromium.sh

cargo build --quiet
f=fixtures/broken-then-fixed
./target/debug/nginxlog-sidecar compare --format ws_timing \
  --access-log "$f/access.log" --error-log "$f/error.log" --split "@$f/SPLIT" \
  --report-format html --output "$out/report.html"

if grep -qiE '<script|https?://[^"]*\.(js|css)|<link ' "$out/report.html"; then
  echo "report.html is not self-contained" >&2; exit 1
fi

screenshot "file://$out/report.html" "$out/report.png" 1200,1600
echo "$out/report.png"
