#!/usr/bin/env bash
# Run the README's first command (install, then the main job on sample_events/) the way a new
# user would: in a fresh virtualenv, from the repository root, with an empty state directory.
set -euo pipefail
cd "$(dirname "$0")/.."
first=$(awk '/^```bash$/{getline; print; exit}' README.md)
[ -n "$first" ] || { echo "README has no bash block" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
# shellcheck disable=SC1091
. "$work/venv/bin/activate"
python -m pip install --quiet --upgrade pip
echo "\$ $first"
XDG_STATE_HOME="$work/state" bash -euo pipefail -c "$first" > "$work/out.txt"
grep -q "processed" "$work/out.txt" || { cat "$work/out.txt"; echo "no process report" >&2; exit 1; }
[ -f "$work/state/gcdedup/dedup.sqlite3" ] || { echo "the default store was not created" >&2; exit 1; }
echo "README first command: ok"
deactivate
