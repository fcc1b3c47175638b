#!/bin/sh
# Register this SceneTagger folder with the desktop for the current user (no root needed): a
# launcher in ~/.local/bin, and the applications-menu entry, "Open With" for photos and the
# icon, which the app writes itself (`SceneTagger install-desktop`, app/cli/desktop.py: the one
# source of the entry, the same as for a pip install). The folder stays where it is.
#   ./install.sh            install (run it from inside the unpacked SceneTagger folder)
#   ./install.sh --remove   undo
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=$HOME/.local/bin
[ -x "$here/SceneTagger" ] || { echo "run me from the SceneTagger folder" >&2; exit 2; }
if [ "${1:-}" = "--remove" ]; then
    "$here/SceneTagger" uninstall-desktop
    # the launcher only if it is ours (another SceneTagger folder may have made its own)
    if [ "$(readlink "$bin/SceneTagger" 2>/dev/null || true)" = "$here/SceneTagger" ]; then
        rm -f "$bin/SceneTagger"
    fi
    echo "removed Scene Tagger from the menu"
    exit 0
fi
mkdir -p "$bin"
ln -sf "$here/SceneTagger" "$bin/SceneTagger"
"$here/SceneTagger" install-desktop
echo "installed: menu entry 'Scene Tagger', command $bin/SceneTagger"
