#!/bin/sh
# Install Debian's chromium for the browser tests when it is missing (needs root).
set -e
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "chromium is not installed and we are not root: the browser tests will skip" >&2
    exit 0
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || {
    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
}
