#!/bin/sh
# Regenerates the source archives of the example repository and the hashes
# that the packages record for them.
#
# Every package's source is a tiny stand-in "project" (README, VERSION,
# build.conf, two C files) made from its name and version alone, packed
# deterministically (GNU tar with fixed times, owners and order; gzip -n), so
# that running this script again yields byte-identical files. The archive goes
# to sources/<name>-<version>/src.source (kiln's source cache layout) and its
# SHA-256 replaces the `hash.hash` line of the package's pkg.toml. Finally
# every patch of the repository is checked to apply to the source it is for.
#
# Usage: examples/.tools/regenerate-sources.sh [--check]    (from anywhere)
#   --check  change nothing; fail if a committed source or hash differs from
#            what this script would write, or a patch does not apply.
# Needs: GNU tar, gzip, sha256sum, sed, patch, cmp.
set -eu
export LC_ALL=C

mode=write
case "${1:-}" in
    "") ;;
    --check) mode=check ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

examples=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# package directory (relative to examples/), name, version
packages='
core/base-files           base-files  12.4
core/libc                 libc        2.38
core/gcc/libgcc           libgcc      13.2.0
core/gcc/libstdcxx        libstdcxx   13.2.0
libs/zlib/1.2             zlib        1.2.13
libs/zlib/1.3             zlib        1.3.1
libs/openssl              openssl     3.1.4
libs/libxml2              libxml2     2.11.5
libs/ncurses              ncurses     6.4
libs/readline             readline    8.2
libs/libpng               libpng      1.6.40
libs/freetype             freetype    2.13.2
libs/pcre2                pcre2       10.42
libs/libcurl              libcurl     8.4.0
libs/libidn2              libidn2     2.3.4
libs/sqlite               sqlite      3.44.0
tools/make-lite           make-lite   4.4.1
tools/pkgconf             pkgconf     2.1.0
tools/cmake-lite          cmake-lite  3.27.7
tools/grep                grep        3.11
tools/curl                curl        8.4.0
tools/imgtool             imgtool     1.0.0
system/static-init        static-init 1.0
system/manpages           manpages    6.05
system/world              world       1.0
'

# patch file (relative to examples/), the source it applies to (name-version)
patches='
libs/zlib/build-static-crc-tables.patch            zlib-1.2.13
libs/zlib/build-static-crc-tables.patch            zlib-1.3.1
libs/openssl/patches/0001-default-openssldir.patch  openssl-3.1.4
libs/openssl/patches/0002-no-legacy-provider.patch  openssl-3.1.4
libs/readline/readline82-001.patch                 readline-8.2
'

# make_project DIR NAME VERSION: writes the stand-in project into DIR.
make_project() {
    dir=$1 name=$2 version=$3
    ident=$(echo "$name" | tr -c 'A-Za-z0-9\n' '_')
    mkdir -p "$dir/src"
    cat > "$dir/README" <<TEXT
$name $version

A tiny stand-in for the $name project, used by the example package
repository of kiln. Its build turns the files of src/ into an artifact.
TEXT
    printf '%s\n' "$version" > "$dir/VERSION"
    cat > "$dir/build.conf" <<TEXT
name=$name
optimize=2
crc=dynamic
legacy=yes
TEXT
    cat > "$dir/src/$name.c" <<TEXT
/* $name $version */
#include "config.h"

const char *${ident}_version(void)
{
    return PACKAGE_VERSION;
}

int ${ident}_init(void)
{
    return 0;
}
TEXT
    cat > "$dir/src/util.c" <<TEXT
/* helpers of $name */
#include "config.h"

int ${ident}_util_add(int a, int b)
{
    return a + b;
}
TEXT
}

echo "$packages" | while read -r path name version; do
    [ -n "$path" ] || continue
    project="$scratch/$name-$version"
    make_project "$project" "$name" "$version"
    archive="$scratch/$name-$version.tar.gz"
    tar -C "$scratch" -c --format=ustar --sort=name --mtime=@0 \
        --owner=0 --group=0 --numeric-owner --mode='u=rwX,go=rX' \
        "$name-$version" | gzip -n -9 > "$archive"
    hash=$(sha256sum "$archive" | cut -d ' ' -f 1)
    source="$examples/sources/$name-$version/src.source"
    pkg="$examples/$path/pkg.toml"
    if [ "$(grep -c '^hash\.hash = ' "$pkg")" != 1 ]; then
        echo "error: $pkg must hold exactly one 'hash.hash = ' line" >&2
        exit 1
    fi
    if [ "$mode" = check ]; then
        if ! cmp -s "$archive" "$source"; then
            echo "error: sources/$name-$version/src.source is not what this script makes" >&2
            exit 1
        fi
        if ! grep -qx "hash\.hash = \"$hash\"" "$pkg"; then
            echo "error: $path/pkg.toml does not record the hash $hash" >&2
            exit 1
        fi
        echo "ok: sources/$name-$version/src.source"
    else
        mkdir -p "$examples/sources/$name-$version"
        cp "$archive" "$source"
        sed -i "s/^hash\.hash = .*/hash.hash = \"$hash\"/" "$pkg"
        echo "$hash  sources/$name-$version/src.source"
    fi
done

echo "$patches" | while read -r patch source; do
    [ -n "$patch" ] || continue
    # Patches of one source apply in the order listed, on one copy.
    if [ ! -d "$scratch/patched/$source" ]; then
        mkdir -p "$scratch/patched"
        cp -R "$scratch/$source" "$scratch/patched/$source"
    fi
    if ! patch -s -p1 -d "$scratch/patched/$source" < "$examples/$patch"; then
        echo "error: $patch does not apply to $source" >&2
        exit 1
    fi
    echo "ok: $patch applies to $source"
done

# Every package with a source must be in the list above.
find "$examples" -name pkg.toml -not -path '*/.*' | sort | while read -r pkg; do
    grep -q '^hash\.hash = ' "$pkg" || continue
    path=$(dirname "${pkg#"$examples"/}")
    if ! echo "$packages" | grep -q "^$path "; then
        echo "error: $path/pkg.toml has a source but is not in the list of $0" >&2
        exit 1
    fi
done
