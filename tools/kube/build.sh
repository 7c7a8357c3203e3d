#!/usr/bin/env bash
# Builds kube-apiserver from k8s.io/kubernetes (the version go.mod pins) into the user
# cache, where test/kube finds it: ${XDG_CACHE_HOME:-~/.cache}/tend/kube/VERSION/.
# Takes about 5 minutes on 2 cores the first time; nothing when it is there.
#
#   bash tools/kube/build.sh
#   go test ./test/kube                 # now runs against it (skipped without it)
set -euo pipefail
cd "$(dirname "$0")"
export PATH="/usr/local/go/bin:$PATH"
version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
out="${XDG_CACHE_HOME:-$HOME/.cache}/tend/kube/$version"
if [ -x "$out/kube-apiserver" ]; then
  echo "$out/kube-apiserver is built"
  exit 0
fi
mkdir -p "$out"
go build -trimpath -o "$out/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
mv "$out/kube-apiserver.tmp" "$out/kube-apiserver"
echo "built $out/kube-apiserver"
