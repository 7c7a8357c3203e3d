#!/usr/bin/env bash
# Builds kube-apiserver and kube-controller-manager from k8s.io/kubernetes (the version
# go.mod pins) into the user cache, where test/kube finds them:
# ${XDG_CACHE_HOME:-~/.cache}/tend/kube/VERSION/.
# Takes about 8 minutes on 2 cores the first time; nothing when they are there.
#
#   bash tools/kube/build.sh
#   go test ./test/kube                 # now runs against them (skipped without them)
set -euo pipefail
cd "$(dirname "$0")"
export PATH="/usr/local/go/bin:$PATH"
version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
out="${XDG_CACHE_HOME:-$HOME/.cache}/tend/kube/$version"
mkdir -p "$out"
for cmd in kube-apiserver kube-controller-manager; do
  if [ -x "$out/$cmd" ]; then
    echo "$out/$cmd is built"
    continue
  fi
  go build -trimpath -o "$out/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd"
  mv "$out/$cmd.tmp" "$out/$cmd"
  echo "built $out/$cmd"
done
