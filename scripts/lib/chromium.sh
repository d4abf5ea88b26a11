# shellcheck shell=bash
# Sourced by the screenshot scripts: `screenshot URL PNG WIDTH,HEIGHT` renders a page with
# headless Chromium (CHROMIUM= overrides the lookup) in a throwaway profile and fails if it exits
# non-zero or writes no PNG. The background-networking flags keep it from dialling out on a closed network.
screenshot() {
  local url=$1 png=$2 size=$3 bin="${CHROMIUM:-}" c profile
  if [ -z "$bin" ]; then
    for c in chromium chromium-browser google-chrome; do
      if command -v "$c" >/dev/null 2>&1; then bin="$(command -v "$c")"; break; fi
    done
  fi
  [ -n "$bin" ] || { echo "chromium not found: apt-get install -y chromium (or set CHROMIUM=)" >&2; return 1; }
  profile="$(mktemp -d)"
  rm -f "$png"
  timeout 60 "$bin" --headless --no-sandbox --disable-gpu --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --screenshot="$png" --window-size="$size" "$url" >/dev/null 2>&1 ||
    { rm -rf "$profile"; echo "chromium failed on $url" >&2; return 1; }
  rm -rf "$profile"
  [ -s "$png" ] || { echo "chromium wrote no screenshot" >&2; return 1; }
}
