#!/bin/sh
# Install Debian's PostgreSQL server for STORAGE=postgresql (make run, make test) when its
# programs are missing (needs root); otherwise say so: the PostgreSQL tests then skip and say why.
set -e
for bindir in "$PG_BINDIR" /usr/lib/postgresql/*/bin; do
    [ -n "$bindir" ] && [ -x "$bindir/initdb" ] && [ -x "$bindir/postgres" ] && exit 0
done
command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1 && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "PostgreSQL's server (initdb, postgres) is not installed and we are not root:" \
         "install Debian's postgresql package or set PG_BINDIR; the PostgreSQL tests will skip" >&2
    exit 0
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null 2>&1 || {
    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null
}
