#!/usr/bin/env bash
# Builds Pebble, Let's Encrypt's ACME test server, from github.com/letsencrypt/pebble/v2
# (the version go.mod pins) into the user cache, where the TLS tests find it:
# ${XDG_CACHE_HOME:-~/.cache}/tend/pebble/VERSION/pebble, beside the certificate and key
# Pebble serves its own ACME API with (from the module's test/certs) and the CA file that
# trusts them. Seconds the first time; nothing when it is there.
#
#   bash tools/pebble/build.sh
#   go test -run TLS ./test/e2e          # now runs against it
set -euo pipefail
cd "$(dirname "$0")"
export PATH="/usr/local/go/bin:$PATH"
version=$(go list -m -f '{{.Version}}' github.com/letsencrypt/pebble/v2)
# .Dir is empty until the module is in the module cache: download it first
go mod download github.com/letsencrypt/pebble/v2
dir=$(go list -m -f '{{.Dir}}' github.com/letsencrypt/pebble/v2)
out="${XDG_CACHE_HOME:-$HOME/.cache}/tend/pebble/$version"
mkdir -p "$out"
if [ -x "$out/pebble" ]; then
  echo "$out/pebble is built"
  exit 0
fi
cp "$dir/test/certs/pebble.minica.pem" "$out/ca.pem"
cp "$dir/test/certs/localhost/cert.pem" "$out/cert.pem"
cp "$dir/test/certs/localhost/key.pem" "$out/key.pem"
chmod 0644 "$out"/*.pem
go build -trimpath -o "$out/pebble.tmp" github.com/letsencrypt/pebble/v2/cmd/pebble
mv "$out/pebble.tmp" "$out/pebble"
echo "built $out/pebble"
