#!/usr/bin/env sh
# Makes headless Chromium available for the timeline-export test (tests/e2e/test_timeline_export.py).
# Installs Debian's chromium with apt-get when it is missing and we are root; otherwise says why
# not and exits 0: the test then skips with that reason (and fails under CI=true).
set -u
for candidate in "${CASEJOURNEY_CHROMIUM:-}" chromium chromium-browser google-chrome; do
    if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1; then
        exit 0
    fi
done
if [ "$(id -u)" != "0" ]; then
    echo "ensure_chromium: chromium is not installed and we are not root; the HTML timeline test will skip." >&2
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium: no apt-get here; install chromium yourself for the HTML timeline test." >&2
    exit 0
fi
echo "ensure_chromium: installing chromium with apt-get (once)..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 \
    || { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends chromium >/dev/null 2>&1; } \
    || echo "ensure_chromium: apt-get could not install chromium; the HTML timeline test will skip." >&2
exit 0
