#!/bin/sh
# Builds kiln's test and example image without a registry: a root file system
# made of Debian's statically linked busybox (every applet linked, /bin/sh and
# /bin/bash running busybox's shell, plus /tmp, /inputs, /outputs, /patches),
# imported with `docker import`.
#
# Usage: scripts/make-test-image.sh [--force] [TAG]
#   TAG      image tag to create (default: kiln-busybox:latest)
#   --force  rebuild even when the image already exists
#
# Environment: BUSYBOX=/path/to/static/busybox uses that binary instead of
# Debian's busybox-static package.
set -eu

tag=kiln-busybox:latest
force=no
for arg in "$@"; do
    case "$arg" in
        --force) force=yes ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "make-test-image: unknown option $arg" >&2; exit 2 ;;
        *) tag=$arg ;;
    esac
done

command -v docker >/dev/null 2>&1 || { echo "make-test-image: docker is not installed" >&2; exit 1; }

# One build at a time on this machine.
lock=${TMPDIR:-/tmp}/kiln-make-test-image.lock
if command -v flock >/dev/null 2>&1; then
    exec 9>"$lock"
    flock 9
fi

if [ "$force" = no ] && docker image inspect "$tag" >/dev/null 2>&1; then
    echo "make-test-image: $tag exists (use --force to rebuild)"
    exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/kiln-image.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

is_static() {
    # A static binary has no program interpreter.
    [ -x "$1" ] || return 1
    command -v readelf >/dev/null 2>&1 || return 0
    ! LC_ALL=C readelf -l "$1" 2>/dev/null | grep -q 'program interpreter'
}

busybox=${BUSYBOX:-}
if [ -z "$busybox" ]; then
    if dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed' \
        && is_static /bin/busybox; then
        busybox=/bin/busybox
    elif command -v apt-get >/dev/null 2>&1 && (cd "$work" && apt-get download busybox-static >/dev/null 2>&1); then
        dpkg-deb -x "$work"/busybox-static_*.deb "$work/deb"
        busybox=$work/deb/bin/busybox
    else
        echo "make-test-image: no static busybox found." >&2
        echo "Install Debian's busybox-static (apt-get install busybox-static)" >&2
        echo "or set BUSYBOX=/path/to/a/static/busybox." >&2
        exit 1
    fi
fi
if ! is_static "$busybox"; then
    echo "make-test-image: $busybox is not a statically linked executable" >&2
    exit 1
fi

root=$work/rootfs
mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" "$root/etc" "$root/root" \
    "$root/inputs" "$root/outputs" "$root/patches" "$root/tmp" "$root/var/tmp"
chmod 1777 "$root/tmp" "$root/var/tmp"
cp "$busybox" "$root/bin/busybox"
chmod 0755 "$root/bin/busybox"

# Every applet, at the path busybox names for it, as a link to /bin/busybox.
"$root/bin/busybox" --list-full | while read -r applet; do
    case "$applet" in
        ''|bin/busybox) continue ;;
    esac
    mkdir -p "$root/$(dirname "$applet")"
    [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done
ln -sf /bin/busybox "$root/bin/sh"
# Debian's busybox has no `bash` applet: /bin/bash runs busybox's ash.
rm -f "$root/bin/bash"
if "$root/bin/busybox" --list | grep -qx bash; then
    ln -s /bin/busybox "$root/bin/bash"
else
    printf '#!/bin/busybox ash\nexec /bin/busybox ash "$@"\n' >"$root/bin/bash"
    chmod 0755 "$root/bin/bash"
fi

printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"

tar -C "$root" --numeric-owner --owner=0 --group=0 -cf - . \
    | docker import --change 'CMD ["/bin/sh"]' --message "kiln test image (busybox)" - "$tag" >/dev/null
echo "make-test-image: built $tag"
