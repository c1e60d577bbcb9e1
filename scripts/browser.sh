#!/usr/bin/env bash
# Makes a headless-capable Chromium available for the browser checks and prints its path.
# Uses $CHROMIUM_PATH when set, else an installed chromium / google-chrome, else installs Debian's
# `chromium` package. Progress goes to stderr; only the path goes to stdout.
set -euo pipefail

for candidate in "${CHROMIUM_PATH:-}" /usr/bin/chromium /usr/bin/chromium-browser /usr/bin/google-chrome /usr/bin/google-chrome-stable; do
  if [[ -n "$candidate" && -x "$candidate" ]]; then
    echo "$candidate"
    exit 0
  fi
done

if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "browser.sh: no Chromium found and cannot install one here; set CHROMIUM_PATH" >&2
  exit 1
fi

echo "browser.sh: installing Debian's chromium package" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends chromium >&2
echo /usr/bin/chromium
