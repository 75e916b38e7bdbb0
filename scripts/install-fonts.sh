#!/bin/sh
# Install the Debian fonts the PDFs embed when they are missing (needs root):
# DejaVu Sans (Latin with every diacritic, Greek, Cyrillic) and Noto Sans CJK.
set -e
need=""
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need="$need fonts-dejavu-core"
ls /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc >/dev/null 2>&1 || need="$need fonts-noto-cjk"
[ -z "$need" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "missing fonts ($need) and not root: PDFs fall back to the fonts found" >&2
    exit 0
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need >/dev/null 2>&1 || {
    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need >/dev/null
}
