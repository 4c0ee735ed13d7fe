#!/usr/bin/env bash
# Lint the SAM template (the Lambda deployment) with the informational checks too: any
# finding fails. A finding kept on purpose is suppressed in template.yaml with a reason.
# (The template comes first: --include-checks takes every argument after it.)
set -euo pipefail
cd "$(dirname "$0")/.."
CFN_LINT="${CFN_LINT:-cfn-lint}"
"$CFN_LINT" template.yaml --include-checks I --non-zero-exit-code informational
