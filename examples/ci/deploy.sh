#!/usr/bin/env bash
# deploy.sh [SPEC]: what a CI job runs to ship an app with tend, from any machine that
# reaches the server's API (docs/ci.md gives the GitHub Actions workflow around it):
#
#   1. vet and test the app's packages (TEST_DIR, default the spec's directory;
#      TEST_PACKAGES, default ./...);
#   2. tend deploy: upload the source, let the server build it and roll it out with the
#      spec's strategy, canary analysis included, following it to the end;
#   3. act on how it ended: tend has already rolled back a failed rollout (exit 2); this
#      deploy's rollout paused for `tend promote` (exit 3) is aborted, so that the stable
#      revision serves all traffic again. After an error (exit 1: a failed build, a token
#      refused, the connection lost while following) it prints the app's status and
#      aborts nothing: the rollout running may be another deployer's.
#
# It exits with tend deploy's code: 0 serving, 1 error, 2 rolled back, 3 paused (aborted
# here), 4 invalid spec (nothing changed). The server and the credential come from the
# environment: TEND_API, TEND_TOKEN (a deploy token: tend token create ci --role deploy
# --apps APP) and TEND_CA_FILE for a private CA.
set -uo pipefail

spec=${1:-tend.yaml}
[ -f "$spec" ] || { echo "deploy.sh: no spec $spec" >&2; exit 4; }
app=$(sed -n 's/^app:[[:space:]]*\([^[:space:]#]*\).*/\1/p' "$spec" | head -n 1 | tr -d "\"'")
[ -n "$app" ] || { echo "deploy.sh: $spec names no app" >&2; exit 4; }
test_dir=${TEST_DIR:-$(dirname "$spec")}

echo "== test $app (${TEST_PACKAGES:-./...} in $test_dir)"
if ! (cd "$test_dir" && go vet ${TEST_PACKAGES:-./...} && go test ${TEST_PACKAGES:-./...}); then
  echo "== tests failed: nothing deployed"
  exit 1
fi

echo "== deploy $app"
tend deploy -f "$spec"
rc=$?
case $rc in
  0) echo "== $app deployed" ;;
  2) echo "== the rollout of $app failed; tend rolled it back (the reason is above; tend analysis $app shows the checks)" ;;
  3) echo "== the rollout of $app waits for tend promote: aborting it"
     tend abort "$app" ;;
  4) echo "== the spec is invalid; nothing changed" ;;
  *) echo "== tend deploy failed (exit $rc); the app now:"
     tend status "$app" || true ;;
esac
exit $rc
