#!/usr/bin/env bash
# Refresh the Swagger UI files the gateway serves on /docs (shipped in the package, so /docs works offline):
#   bash scripts/vendor-swagger-ui.sh 5.35.0
# Takes swagger-ui-dist (Apache-2.0) from the npm registry; keeps its LICENSE and NOTICE beside the files.
set -euo pipefail
version=${1:?usage: vendor-swagger-ui.sh VERSION}
cd "$(dirname "$0")/.."
target=src/interlink/gateway/_static/swagger-ui
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "swagger-ui-dist@$version" >/dev/null && tar xzf "swagger-ui-dist-$version.tgz")
rm -rf "$target" && mkdir -p "$target"
for file in swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css LICENSE NOTICE; do
  cp "$work/package/$file" "$target/"
done
echo "$version" > "$target/VERSION"
echo "Swagger UI $version in $target"
