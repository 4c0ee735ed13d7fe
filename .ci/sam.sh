#!/usr/bin/env bash
# What a user runs to deploy, minus the deploy: `sam validate --lint` and `sam build`
# (the Makefile target, scripts/build-lambda) with the AWS SAM CLI from PyPI, in its own
# virtualenv (its pins would fight the dev extras). Builds into a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --upgrade pip
"$work/venv/bin/python" -m pip install --quiet aws-sam-cli
export PATH="$work/venv/bin:$PATH" SAM_CLI_TELEMETRY=0
sam --version
sam validate --lint --region us-east-1
sam build --region us-east-1 --build-dir "$work/build" --cache-dir "$work/cache"
test -f "$work/build/DedupFunction/gcdedup/aws_lambda/__init__.py"
ls "$work/build/DedupFunction/orjson/"*aarch64*.so "$work/build/DedupFunction/orjson/"*x86_64*.so
echo "sam validate and sam build: ok"
