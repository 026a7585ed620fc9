#!/bin/sh
# Make sure Debian's Chromium is at /usr/bin/chromium for the browser tests
# (tests/browser). Installs it with apt-get when missing and we are root; otherwise
# prints why and exits 0: the browser tests then skip (or fail when CI is set).
# Never downloads browsers from elsewhere (no `playwright install`).
set -u

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: $CHROMIUM is missing and apt-get is not available;" \
         "install Chromium yourself to run the browser tests (they skip without it, or fail when CI is set)." >&2
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-chromium: $CHROMIUM is missing; run 'sudo apt-get install -y chromium'" \
         "to run the browser tests (they skip without it, or fail when CI is set)." >&2
    exit 0
fi

echo "ensure-chromium: installing Debian's chromium package..." >&2
export DEBIAN_FRONTEND=noninteractive
if apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; then
    if [ -x "$CHROMIUM" ]; then
        echo "ensure-chromium: installed $CHROMIUM" >&2
        exit 0
    fi
fi
echo "ensure-chromium: could not install chromium with apt-get;" \
     "the browser tests will be skipped (or fail when CI is set)." >&2
exit 0
