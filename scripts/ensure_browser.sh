#!/usr/bin/env bash
# Chromium for the browser test (tests/e2e/test_ui_browser.py): Debian's package, driven through
# Playwright. Playwright's own browser download needs open internet access, so `make test`
# installs the distribution's chromium when it is missing (as root, with apt-get), and otherwise
# stops with how to get it. VISS_R1_CHROMIUM names another binary.
set -euo pipefail

CHROMIUM="${VISS_R1_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if [ -n "${VISS_R1_CHROMIUM:-}" ]; then
    echo "error: VISS_R1_CHROMIUM=$CHROMIUM is not an executable file" >&2
    exit 1
fi
source "$(dirname "$0")/apt_install.sh"
if apt_install chromium; then
    [ -x "$CHROMIUM" ] || { echo "error: apt-get installed chromium but $CHROMIUM is missing" >&2; exit 1; }
    "$CHROMIUM" --version 2>/dev/null | head -n 1
    exit 0
fi
cat >&2 <<MSG
error: the browser test needs Chromium at $CHROMIUM and none is there.
  Debian/Ubuntu:  sudo apt-get install chromium     (then rerun: make test)
  elsewhere:      install Chromium and set VISS_R1_CHROMIUM=/path/to/chromium
Playwright's own browser download ('playwright install') needs open internet access; it is not used.
MSG
exit 1
