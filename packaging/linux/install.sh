#!/bin/sh
# Register this SceneTagger folder with the desktop for the current user (no root needed):
# a launcher in ~/.local/bin, the menu entry and the icon. The folder stays where it is.
#   ./install.sh            install (run it from inside the unpacked SceneTagger folder)
#   ./install.sh --remove   undo
set -eu
here=$(cd "$(dirname "$0")" && pwd)
data=${XDG_DATA_HOME:-$HOME/.local/share}
bin=$HOME/.local/bin
icons=$here/_internal/resources/icons
if [ "${1:-}" = "--remove" ]; then
    rm -f "$bin/SceneTagger" "$data/applications/scene-tagger.desktop" \
        "$data/icons/hicolor/256x256/apps/scene-tagger.png" \
        "$data/icons/hicolor/64x64/apps/scene-tagger.png" \
        "$data/icons/hicolor/scalable/apps/scene-tagger.svg"
    echo "removed Scene Tagger from the menu"
    exit 0
fi
[ -x "$here/SceneTagger" ] || { echo "run me from the SceneTagger folder" >&2; exit 2; }
mkdir -p "$bin" "$data/applications"
ln -sf "$here/SceneTagger" "$bin/SceneTagger"
for size in 256 64; do
    if [ -f "$icons/scene-tagger-$size.png" ]; then
        mkdir -p "$data/icons/hicolor/${size}x$size/apps"
        cp "$icons/scene-tagger-$size.png" "$data/icons/hicolor/${size}x$size/apps/scene-tagger.png"
    fi
done
if [ -f "$icons/scene-tagger.svg" ]; then
    mkdir -p "$data/icons/hicolor/scalable/apps"
    cp "$icons/scene-tagger.svg" "$data/icons/hicolor/scalable/apps/scene-tagger.svg"
fi
# Absolute paths: the entry works even when ~/.local/bin is not on the menu's PATH.
sed -e "s|^Exec=SceneTagger|Exec=\"$here/SceneTagger\"|" -e "s|^TryExec=.*|TryExec=$here/SceneTagger|" \
    "$here/scene-tagger.desktop" > "$data/applications/scene-tagger.desktop"
command -v update-desktop-database >/dev/null && update-desktop-database -q "$data/applications" || true
echo "installed: menu entry 'Scene Tagger', command $bin/SceneTagger"
