{{phase "package"}}
# Every artifact is /outputs/<name>-<version>.tar.gz, holding one directory
# <name>-<version>/ with the staged files and a MANIFEST that names the
# package, its source, its inputs and the checksum of every file.
cd "$WORK/stage"
top="{{join this.name "-" this.version}}"
{
    echo "name: {{this.name}}"
    echo "version: {{this.version}}"
    echo "category: {{this.meta.category}}"
    echo "license: {{this.meta.license}}"
    echo "description: {{this.meta.description}}"
    echo "source: {{this.sources.src.url}}"
    echo "source-sha256: {{this.sources.src.hash.hash}}"
    echo "requires: {{this.meta.requires}}"
    sed 's/^/feature: /' "$WORK/features"
    sed 's/^/input: /' "$WORK/inputs.list"
    (cd "$top" && find . -type f | sed 's,^\./,,' | sort | while read -r file; do echo "file: $(sha256sum "$file")"; done)
} > "$WORK/MANIFEST"
mv "$WORK/MANIFEST" "$top/MANIFEST"

artifact="/outputs/$top.tar.gz"
# Reproducible bytes: the same files give the same artifact (fixed times,
# names in sorted order), so that `kiln reproduce` can prove a rebuild.
find "$top" -exec touch -h -d "1970-01-01 00:00:00" {} +
# (The staged names hold no blanks: they may be listed as words.)
tar -czf "$artifact" --no-recursion $(find "$top" | LC_ALL=C sort)
if ! tar -tzf "$artifact" | grep -qx "$top/MANIFEST"; then
    {{state "ERR" "the artifact holds no MANIFEST"}}
    exit 1
fi
echo "wrote $artifact: $(wc -c < "$artifact") bytes, $(grep -c '^file: ' "$top/MANIFEST") files"
{{progress 100}}
{{state "OK"}}
