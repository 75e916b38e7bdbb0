#!/bin/sh
# Install the Debian fonts the PDFs embed when they are missing (needs root):
# DejaVu Sans (Latin with every diacritic, Greek, Cyrillic, Hebrew, Arabic) and
# WenQuanYi Zen Hei (Chinese, Japanese, Korean). Not Noto Sans CJK: its CFF
# outlines are refused by ReportLab (see rendering/fonts.py).
set -e
need=""
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need="$need fonts-dejavu-core"
[ -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || need="$need fonts-wqy-zenhei"
[ -z "$need" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "missing fonts ($need) and not root: PDFs fall back to the fonts found" >&2
    exit 0
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need >/dev/null 2>&1 || {
    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need >/dev/null
}
