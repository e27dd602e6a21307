#!/usr/bin/env bash
# Run the one-folder build's --self-test on a bare Debian: a debootstrap "minbase" bookworm
# with no X, GL, fontconfig, fonts or Python. Needs root (debootstrap, chroot) and the Debian
# mirror. Not part of CI: the first run downloads the base system (about a minute); later runs
# reuse it and take seconds.
#
#   python build_spec.py && sudo scripts/bare_system_check.sh [ROOTFS]   (default /tmp/ota-bare)
set -euo pipefail
cd "$(dirname "$0")/.."
rootfs=${1:-/tmp/ota-bare}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if [ ! -x dist/ota-desktop/ota-desktop ]; then
    echo "There is no build in dist/ota-desktop; run 'python build_spec.py' first." >&2
    exit 2
fi
if ! command -v debootstrap >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap
fi
if [ ! -x "$rootfs/bin/sh" ]; then
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror"
fi

# The check only means something if the system really lacks what the bundle brings.
for lib in libGL.so.1 libEGL.so.1 libxcb.so.1 libfontconfig.so.1 libfreetype.so.6 \
           libpython3.11.so.1.0 DejaVuSans.ttf; do
    if [ -n "$(find "$rootfs/usr" -name "$lib" -print -quit)" ]; then
        echo "$rootfs is not bare: it has $lib." >&2
        exit 2
    fi
done
echo "Bare system at $rootfs: no libGL, libEGL, libxcb, fontconfig, freetype, Python or fonts."

rm -rf "$rootfs/ota-desktop"
cp -a dist/ota-desktop "$rootfs/"
chroot "$rootfs" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root /ota-desktop/ota-desktop --self-test

# The same under X11 (Qt's xcb plugin and its libxcb-* libraries from the bundle): an Xvfb on
# this machine, reached from the chroot through its abstract socket.
if command -v Xvfb >/dev/null; then
    displayfd=$(mktemp)
    Xvfb -displayfd 3 -screen 0 1600x1000x24 -nolisten tcp 3>"$displayfd" 2>/dev/null &
    xvfb=$!
    trap 'kill "$xvfb"; rm -f "$displayfd"' EXIT
    for _ in $(seq 50); do [ -s "$displayfd" ] && break; sleep 0.1; done
    chroot "$rootfs" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root DISPLAY=":$(cat "$displayfd")" \
        /ota-desktop/ota-desktop --self-test
else
    echo "No Xvfb here (apt-get install xvfb): the X11 run is left out."
fi
