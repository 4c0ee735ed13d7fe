#!/usr/bin/env bash
# Lint the SAM template (the Lambda deployment): any finding, even informational, fails.
set -euo pipefail
cd "$(dirname "$0")/.."
CFN_LINT="${CFN_LINT:-cfn-lint}"
"$CFN_LINT" --non-zero-exit-code informational template.yaml
