{{phase "build"}}
# A tool is a small sh program that answers --version; it is run once here,
# and again by every package that has it as a build dependency.
[ "${PREFIX:-}" = "{{this.environment.PREFIX}}" ] || fail "PREFIX is '${PREFIX:-}' in the container, not {{this.environment.PREFIX}}"
prefix="$STAGE$PREFIX"
mkdir -p "$prefix/bin" "$prefix/share/doc/{{this.name}}"
cp README "$prefix/share/doc/{{this.name}}/README"
cp config.h "$prefix/share/doc/{{this.name}}/config.h"
cat > "$prefix/bin/{{this.name}}" <<'PROGRAM'
#!/bin/sh
# {{this.name}} {{this.version}}: {{this.meta.description}}
case "${1:-}" in
    --version) echo "{{this.name}} {{this.version}}" ;;
    *) cat "$(dirname "$0")/../share/doc/{{this.name}}/README" ;;
esac
PROGRAM
chmod 755 "$prefix/bin/{{this.name}}"
version=$("$prefix/bin/{{this.name}}" --version)
[ "$version" = "{{this.name}} {{this.version}}" ] || fail "the built program says '$version'"
echo "built $PREFIX/bin/{{this.name}}: $version"
{{progress 70}}
