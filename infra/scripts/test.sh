#!/usr/bin/env bash
# make infra-test: the CDK app's checks, offline and without AWS credentials.
#   1. npm ci from the committed package-lock.json (again only when the lock changed)
#   2. tsc --noEmit, then the node test runner (aws-cdk-lib/assertions, cdk-nag's validateScope)
#   3. `cdk synth` with the real CLI of: the upgrade guide's flags only (the stream ARN read at
#      deploy time), the same with enable-stream, a pinned table-stream-arn with every option, the
#      indexer alone, and a migration (migrate-target: the copy and the sync, S read only) with the
#      stream read at deploy and with a pinned ARN and every option. cdk-nag runs as a
#      policy-validation plugin, so any unacknowledged AwsSolutions finding fails the synth
#   4. cfn-lint (pinned in python/requirements-infra.txt) on every synthesized template: 0 errors
#      and 0 warnings, W3005 aside (CDK's explicit DependsOn on a role's policy, which a GetAtt
#      already implies; harmless and not ours to change)
# Code assets: the stub `bootstrap` files of infra/test/fixtures/lambda, so no Rust build is
# needed; LAMBDA_ASSETS=<dir> synthesizes with real zips instead (e.g. target/lambda after
# `make build`).
set -euo pipefail
infra="$(cd "$(dirname "$0")/.." && pwd)"
root="$(dirname "$infra")"
cd "$infra"

stamp=node_modules/.package-lock.sha256
sum="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$sum" >"$stamp"
fi
"$root/scripts/venv.sh" infra

npx --no-install tsc --noEmit
npm test --silent

# No credentials, no instance metadata, no notices/telemetry: synth must not need AWS.
offline=(env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE
  -u AWS_ENDPOINT_URL -u CDK_DEFAULT_ACCOUNT -u CDK_DEFAULT_REGION
  AWS_EC2_METADATA_DISABLED=true CDK_DISABLE_CLI_TELEMETRY=true AWS_CONFIG_FILE=/dev/null
  AWS_SHARED_CREDENTIALS_FILE=/dev/null)
assets="${LAMBDA_ASSETS:-$infra/test/fixtures/lambda}"
stream_arn='arn:aws:dynamodb:us-east-1:123456789012:table/mlflow/stream/2026-11-21T00:00:00.000'
synth() {
  local out="$1"; shift
  rm -rf "$out"
  "${offline[@]}" npx --no-install cdk synth --no-notices --quiet --output "$out" \
    --context table=mlflow --context lambda-assets="$assets" "$@"
}
configs=(guide enable-stream pinned minimal migrate migrate-pinned)
synth cdk.out/test-guide --context streams=true --context scheduled-cleanup=true
synth cdk.out/test-enable-stream --context streams=true --context scheduled-cleanup=true \
  --context enable-stream=true
synth cdk.out/test-pinned --context streams=true --context table-stream-arn="$stream_arn" \
  --context scheduled-cleanup=true --context 'cleanup-schedule=rate(1 day)' \
  --context dlq-replay=true --context alarm-topic-arn=arn:aws:sns:us-east-1:123456789012:ops
synth cdk.out/test-minimal
synth cdk.out/test-migrate --context migrate-target=mlflow-main --context migrate-since-ms=1767225600000
synth cdk.out/test-migrate-pinned --context migrate-target=mlflow-main --context table-stream-arn="$stream_arn" \
  --context dlq-replay=true --context batch-size=500 --context alarm-topic-arn=arn:aws:sns:us-east-1:123456789012:ops

templates=()
for c in "${configs[@]}"; do templates+=(cdk.out/test-"$c"/*.template.json); done
"$root/.venv/bin/cfn-lint" --ignore-checks W3005 -- "${templates[@]}"
echo "infra-test: tests, synth (cdk-nag) and cfn-lint passed on ${#templates[@]} templates" >&2
