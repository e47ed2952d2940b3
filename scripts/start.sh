#!/usr/bin/env bash
# The main job on embedded defaults: a sample software card in the virtual reader, read back through PC/SC.
#   1. installs what is missing (scripts/bootstrap.sh);
#   2. makes sure pcscd runs (with vsmartcard's vpcd reader);
#   3. makes var/sample-card.json from docs/sample-holder.json if it does not exist yet;
#   4. serves it in vpcd slot 0 (`sscard sim serve`) and reads it with `sscard card read`;
#   5. keeps it served until Ctrl-C.
# More services join in `start_services` below; each one started there is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

VPCD=${SSCARD_VPCD:-127.0.0.1:35963}
READER=${SSCARD_READER:-"Virtual PCD 00 00"}
CARD=${SSCARD_CARD:-var/sample-card.json}
HOLDER=${SSCARD_HOLDER:-docs/sample-holder.json}
LOGS=var/log
LOCK=/tmp/sscard-pcsc.lock  # the vpcd slots are shared with the PC/SC tests, which take the same lock
SSCARD=.venv/bin/sscard
CHILDREN=()

say() { printf 'start: %s\n' "$*" >&2; }

stop_children() {
  trap - EXIT INT TERM
  for pid in "${CHILDREN[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${CHILDREN[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
}
trap stop_children EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ensure_pcscd() {
  if grep -qsx pcscd /proc/[0-9]*/comm; then
    return
  fi
  say "starting pcscd"
  if [ "$(id -u)" -eq 0 ]; then pcscd; else sudo pcscd; fi
}

wait_for_reader() {  # $1 = reader name, $2 = "true" (a card present) or "false"
  for _ in $(seq 1 150); do
    if "$SSCARD" readers --json 2>/dev/null | .venv/bin/python -c '
import json, sys
want, present = sys.argv[1], sys.argv[2] == "true"
sys.exit(0 if any(r["reader"] == want and r["card_present"] == present for r in json.load(sys.stdin)) else 1)
' "$1" "$2"; then
      return 0
    fi
    sleep 0.2
  done
  return 1
}

start_card() {
  mkdir -p var "$LOGS"
  exec 9>>"$LOCK"
  if [ -n "${SSCARD_PCSC_LOCK_HELD:-}" ]; then
    :  # the caller (a test session) holds the lock already
  elif ! flock -n 9; then
    say "waiting for $LOCK (a PC/SC test session is using the virtual readers)"
    flock -w 900 9 || { say "gave up waiting for $LOCK"; exit 1; }
  fi
  if [ ! -f "$CARD" ]; then
    say "making $CARD from $HOLDER"
    "$SSCARD" sim new --holder "$HOLDER" --out "$CARD" >&2
  fi
  if ! wait_for_reader "$READER" false; then
    say "'$READER' already holds a card: another card server is connected to vpcd $VPCD"
    exit 1
  fi
  "$SSCARD" sim serve --card "$CARD" --vpcd "$VPCD" >>"$LOGS/card.log" 2>&1 &
  CHILDREN+=($!)
  if ! wait_for_reader "$READER" true; then
    say "the card did not appear in '$READER'; see $LOGS/card.log"
    exit 1
  fi
  say "reading the card back through PC/SC:"
  local line historical
  line=$("$SSCARD" card read --reader "$READER")
  printf '%s\n' "$line"
  historical=$(.venv/bin/python -c 'import sys; from simulators.image import load; print(load(sys.argv[1]).historical.hex().upper())' "$CARD")
  if [[ "$line" != *"|$historical|"* ]]; then
    say "the card in '$READER' is not $CARD (another card server answered); see $LOGS/card.log"
    exit 1
  fi
}

start_services() {
  start_card
  # further services (e.g. the e-card server) start here and append their PIDs to CHILDREN
}

scripts/bootstrap.sh
ensure_pcscd
start_services

cat >&2 <<INFO

  card image   $ROOT/$CARD
  reader       $READER (vpcd $VPCD)
  card log     $ROOT/$LOGS/card.log
  lock         $LOCK (held while serving: PC/SC test sessions wait for it)
  try          $SSCARD card read --json
               opensc-tool -l; opensc-tool -r 0 -s 00A404000F7378312E73682EC9E7BBE1B1A3D5CF -s 00B2012C00

Serving the card until Ctrl-C.
INFO
wait "${CHILDREN[@]}"
