#!/usr/bin/env bash
# Vendors the pages' JavaScript into the package from the npm registry, at build time: the
# file is committed, so nothing is fetched when creditline runs (no CDN). Run it again to
# move to another version: `tools/vendor_assets.sh 2.0.11`.
set -euo pipefail
cd "$(dirname "$0")/.."
version="${1:-2.0.11}"
static=src/creditline/web/static
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "htmx.org@$version" >/dev/null)
tar -xzf "$work/htmx.org-$version.tgz" -C "$work" package/dist/htmx.min.js
cp "$work/package/dist/htmx.min.js" "$static/htmx.min.js"
sum="$(sha256sum "$static/htmx.min.js" | cut -d' ' -f1)"
printf 'htmx.org %s from the npm registry (dist/htmx.min.js), sha256 %s\n' "$version" "$sum" \
  > "$static/VENDORED"
cat "$static/VENDORED"
