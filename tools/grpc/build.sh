#!/usr/bin/env bash
# Builds grpc-go's route_guide example server and client (unary, server-, client- and
# bidirectional streaming RPCs) from google.golang.org/grpc/examples (the version go.mod
# pins), and tend's canary greeter (canary/: a helloworld server that answers with its
# revision and fails a share of calls with UNAVAILABLE, and a client that counts the
# answers), into the user cache, where test/e2e finds them:
# ${XDG_CACHE_HOME:-~/.cache}/tend/grpc/VERSION/. About a minute the first time; nothing
# when they are there. The examples module replaces grpc with its parent directory, so
# `go install` refuses it: this module requires it instead.
#
#   bash tools/grpc/build.sh
#   go test -run GRPC ./test/e2e         # now runs against them (skipped without them)
set -euo pipefail
cd "$(dirname "$0")"
export PATH="/usr/local/go/bin:$PATH"
version=$(go list -m -f '{{.Version}}' google.golang.org/grpc/examples)
out="${XDG_CACHE_HOME:-$HOME/.cache}/tend/grpc/$version"
mkdir -p "$out"
for cmd in server client; do
  if [ -x "$out/route_guide_$cmd" ]; then
    echo "$out/route_guide_$cmd is built"
    continue
  fi
  go build -trimpath -o "$out/route_guide_$cmd.tmp" "google.golang.org/grpc/examples/route_guide/$cmd"
  mv "$out/route_guide_$cmd.tmp" "$out/route_guide_$cmd"
  echo "built $out/route_guide_$cmd"
done
# ours: rebuilt every time (seconds once grpc is compiled), since they change with the repo
for cmd in server client; do
  go build -trimpath -o "$out/canary_$cmd.tmp" "./canary/$cmd"
  mv "$out/canary_$cmd.tmp" "$out/canary_$cmd"
  echo "built $out/canary_$cmd"
done
