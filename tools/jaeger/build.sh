#!/usr/bin/env bash
# Builds Jaeger (github.com/jaegertracing/jaeger/cmd/jaeger, the version go.mod pins: the
# OpenTelemetry-collector-based all-in-one, with its OTLP receiver, memory store and
# query API) into the user cache, where test/e2e finds it:
# ${XDG_CACHE_HOME:-~/.cache}/tend/jaeger/VERSION/jaeger. Its module replaces some of
# its dependencies, so `go install` refuses it: this module requires it as a tool.
# About 5 minutes the first time on 2 cores (half a minute of it downloading modules); nothing when it is there.
#
#   bash tools/jaeger/build.sh
#   go test -run Jaeger ./test/e2e       # now runs against it (skipped without it)
set -euo pipefail
cd "$(dirname "$0")"
export PATH="/usr/local/go/bin:$PATH"
version=$(go list -m -f '{{.Version}}' github.com/jaegertracing/jaeger)
out="${XDG_CACHE_HOME:-$HOME/.cache}/tend/jaeger/$version"
mkdir -p "$out"
if [ -x "$out/jaeger" ]; then
  echo "$out/jaeger is built"
  exit 0
fi
go build -trimpath -o "$out/jaeger.tmp" github.com/jaegertracing/jaeger/cmd/jaeger
mv "$out/jaeger.tmp" "$out/jaeger"
echo "built $out/jaeger"
