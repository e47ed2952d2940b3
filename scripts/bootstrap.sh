#!/usr/bin/env bash
# Installs what sscard needs on a fresh Debian 12 machine: the PC/SC stack with the vsmartcard virtual reader,
# OpenSC's tools, PostgreSQL and Redis (servers the test suite starts), zbar (a real QR decoder for the tests),
# what it takes to build pyscard from source (it has no Linux wheel: a C compiler, libc and Python headers,
# libpcsclite-dev, swig), the tools README and docs call (curl, jq, flock, pgrep), and a virtual environment in
# .venv with sscard installed in it. Safe to run again: it installs only what is missing.
#
# Not root and no sudo: it stops before doing anything, with one line naming the packages to install.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages, each with why. Kept as data so the fresh-machine check can name them too.
debs=(
  pcscd libpcsclite1 vsmartcard-vpcd opensc pcsc-tools   # the PC/SC stack and the virtual reader
  libpcsclite-dev gcc libc6-dev swig                     # building pyscard
  python3 python3-venv python3-dev                       # the interpreter, venv and headers
  libzbar0                                               # QR decoding in the tests
  postgresql redis-server                                # servers the tests start (never the system service)
  procps util-linux curl jq ca-certificates              # pgrep, flock, README's tour and docs, pip over TLS
  wrk                                                    # the HTTP load generator of bench/bench_token_endpoint.py
  chromium fonts-noto-cjk                                # the browser the page tests drive (Playwright), CJK glyphs
)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo="sudo -n"
    else
      echo "bootstrap: not root and no sudo; as root run: apt-get install ${missing[*]}" >&2
      exit 1
    fi
  fi
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
  # python-emv: its pins (pyscard==2.0.0, click==7.1.2) conflict with ours; its library runs on the newer ones
  .venv/bin/python -m pip install -q --no-deps "emv==1.0.14" >&2
  touch "$stamp"
fi
