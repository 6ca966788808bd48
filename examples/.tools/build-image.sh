#!/bin/sh
# Builds the Docker image the example repository builds on, kiln-busybox:latest:
# a root file system holding only a statically linked busybox, its applets, and
# /bin/bash as a two-line wrapper that runs busybox sh (Debian's busybox has no
# "bash" applet, so a plain symlink would not work).
#
# Usage: examples/.tools/build-image.sh [IMAGE]    (default kiln-busybox:latest)
# Needs: docker, and a static busybox at $BUSYBOX (default /bin/busybox;
# on Debian: apt-get install busybox-static).
set -eu

image="${1:-kiln-busybox:latest}"
busybox="${BUSYBOX:-/bin/busybox}"

ldd_output=$(LC_ALL=C ldd "$busybox" 2>&1 || true)
if [ ! -x "$busybox" ] || ! echo "$ldd_output" | grep -q "not a dynamic executable"; then
    echo "error: $busybox is not a statically linked busybox (on Debian: apt-get install busybox-static)" >&2
    exit 2
fi

rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT

mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/root" "$rootfs/tmp" "$rootfs/inputs" "$rootfs/outputs" "$rootfs/patches"
chmod 1777 "$rootfs/tmp"
cp "$busybox" "$rootfs/bin/busybox"
for applet in $("$busybox" --list); do
    case "$applet" in
        busybox) ;;
        *) ln -s busybox "$rootfs/bin/$applet" ;;
    esac
done
cat > "$rootfs/bin/bash" <<'WRAPPER'
#!/bin/sh
exec /bin/sh "$@"
WRAPPER
chmod 755 "$rootfs/bin/bash"
echo 'root:x:0:0:root:/root:/bin/sh' > "$rootfs/etc/passwd"
echo 'root:x:0:' > "$rootfs/etc/group"

tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/bin' \
    --change 'WORKDIR /' \
    - "$image"
echo "built $image"
