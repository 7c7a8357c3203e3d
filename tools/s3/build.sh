#!/usr/bin/env bash
# Builds versitygw (github.com/versity/versitygw/cmd/versitygw, Apache-2.0), an
# S3-compatible server whose posix backend keeps buckets as directories, into the user
# cache, where the backup tests find it: ${XDG_CACHE_HOME:-~/.cache}/tend/versitygw/VERSION/versitygw.
# Chosen over MinIO, whose server is AGPL-licensed and much larger to build, and over
# in-process fakes: it is a real S3 implementation (multipart uploads, ListObjectsV2,
# SigV4) that runs as its own process. About a minute the first time on 2 cores (most
# of it downloading modules); nothing when it is there.
#
#   bash tools/s3/build.sh
#   go test -run Backup ./test/e2e       # now runs against it (skipped without it)
set -euo pipefail
cd "$(dirname "$0")"
export PATH="/usr/local/go/bin:$PATH"
version=v1.8.0 # test/e2e's versitygwVersion
out="${XDG_CACHE_HOME:-$HOME/.cache}/tend/versitygw/$version"
mkdir -p "$out"
if [ -x "$out/versitygw" ]; then
  echo "$out/versitygw is built"
  exit 0
fi
GOBIN="$out/.bin" go install -trimpath "github.com/versity/versitygw/cmd/versitygw@$version"
mv "$out/.bin/versitygw" "$out/versitygw"
rmdir "$out/.bin"
echo "built $out/versitygw"
