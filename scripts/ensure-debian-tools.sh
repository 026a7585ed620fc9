#!/bin/sh
# Make sure the Debian tools that the tests use are installed:
#   chromium  (/usr/bin/chromium)  the browser tests in tests/browser (Playwright drives it)
#   faketime  (/usr/bin/faketime)  `make test-yearend`: the suite under a shifted clock
#   poppler-utils (/usr/bin/pdftotext)  the receipt PDF's text, extracted in tests/web/test_receipts.py
#   fonts-dejavu-core (/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf)  the receipt PDF's
#             fallback font when the PyPI package fontpkg-noto-sans is not installed
# Installs what is missing with apt-get when we are root; otherwise prints why and exits 0:
# the browser tests then skip (or fail when CI is set), and `make test-yearend` says so.
# Never downloads browsers or binaries from elsewhere (no `playwright install`).
set -u

missing=""
for pair in chromium:/usr/bin/chromium faketime:/usr/bin/faketime \
            poppler-utils:/usr/bin/pdftotext \
            fonts-dejavu-core:/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf; do
    package=${pair%%:*}
    path=${pair#*:}
    [ -e "$path" ] || missing="$missing $package"
done

[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" -ne 0 ]; then
    echo "ensure-debian-tools: missing:$missing; run 'sudo apt-get install -y$missing'" \
         "(browser tests skip without chromium, or fail when CI is set)." >&2
    exit 0
fi

echo "ensure-debian-tools: installing Debian's$missing..." >&2
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086  # one word per package
if apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null; then
    echo "ensure-debian-tools: installed$missing" >&2
    exit 0
fi
echo "ensure-debian-tools: could not install$missing with apt-get;" \
     "the tests that need them will be skipped (or fail when CI is set)." >&2
exit 0
