#!/usr/bin/env bash
# Installs what sscard needs on a fresh Debian machine with Python 3.11: the PC/SC stack with the vsmartcard
# virtual reader, OpenSC's tools, PostgreSQL (for the test suite), zbar (a real QR decoder for the tests), and a
# virtual environment in .venv with sscard installed in it. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

debs=(pcscd libpcsclite1 vsmartcard-vpcd opensc pcsc-tools libzbar0 postgresql)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "bootstrap: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=.venv/.sscard-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip >&2
  .venv/bin/python -m pip install -q -e ".[dev]" >&2
  touch "$stamp"
fi
