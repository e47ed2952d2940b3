#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what is missing, then runs pytest. The tests start their own
# pcscd (with the vpcd virtual reader) and their own PostgreSQL server. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/python -m pytest "$@"
