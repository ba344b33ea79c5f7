#!/usr/bin/env bash
# Refresh the dashboard's front-end files from the npm registry (run by hand when upgrading; the
# files are committed, so that users and CI need no Node.js). Versions pinned here.
set -euo pipefail
HTMX=2.0.11
SSE=2.2.4
cd "$(dirname "$0")/.."
out=src/interlink/dashboard/static
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "htmx.org@$HTMX" "htmx-ext-sse@$SSE" >/dev/null \
  && mkdir htmx sse && tar xzf "htmx.org-$HTMX.tgz" -C htmx && tar xzf "htmx-ext-sse-$SSE.tgz" -C sse)
cp "$work/htmx/package/dist/htmx.min.js" "$out/htmx.min.js"
cp "$work/sse/package/dist/sse.min.js" "$out/htmx-ext-sse.min.js"
{
  echo "htmx.min.js: htmx.org $HTMX (dist/htmx.min.js) from the npm registry"
  echo
  cat "$work/htmx/package/LICENSE"
  echo
  echo "htmx-ext-sse.min.js: htmx-ext-sse $SSE (dist/sse.min.js) from the npm registry"
  echo
  cat "$work/sse/package/LICENSE"
} > "$out/LICENSE.htmx.txt"
echo "vendored htmx $HTMX and htmx-ext-sse $SSE into $out"
