#!/usr/bin/env bash
# The main job on embedded defaults: the e-card service over the holder store (SQLite file var/sscard.db), with
# a sample holder whose software card sits in the virtual reader.
#   1. installs what is missing (scripts/bootstrap.sh);
#   2. makes sure pcscd runs (with vsmartcard's vpcd reader);
#   3. makes issuer card keys (var/issuer-keys) and e-card signing keys (var/ecard-keys) if absent;
#   4. makes var/sample-card.json from docs/sample-holder.json if it does not exist yet, under the issuer keys;
#   5. serves it in vpcd slot 0 (`sscard sim serve`) and reads it with `sscard card read --verify`;
#   6. records the sample holder and an active card in the holder store, and starts `sscard serve`;
#   7. keeps everything running until Ctrl-C.
# More services join in `start_services` below; each one started there is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

VPCD=${SSCARD_VPCD:-127.0.0.1:35963}
READER=${SSCARD_READER:-"Virtual PCD 00 00"}
CARD=${SSCARD_CARD:-var/sample-card.json}
HOLDER=${SSCARD_HOLDER:-docs/sample-holder.json}
ISSUER_KEYS=${SSCARD_ISSUER_KEYS:-var/issuer-keys}
ECARD_KEYS=${SSCARD_ECARD_KEYS:-var/ecard-keys}
PORT=${SSCARD_PORT:-8000}
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
    "$SSCARD" sim new --holder "$HOLDER" --out "$CARD" --keys "$ISSUER_KEYS" >&2
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
  line=$("$SSCARD" card read --reader "$READER" --verify --keys "$ISSUER_KEYS")
  printf '%s\n' "$line"
  historical=$(.venv/bin/python -c 'import sys; from simulators.image import load; print(load(sys.argv[1]).historical.hex().upper())' "$CARD")
  if [[ "$line" != *"|$historical|"* ]]; then
    say "the card in '$READER' is not $CARD (another card server answered); see $LOGS/card.log"
    exit 1
  fi
}

make_keys() {
  mkdir -p var
  [ -d "$ISSUER_KEYS" ] || "$SSCARD" keys new-issuer --out "$ISSUER_KEYS" >&2
  [ -d "$ECARD_KEYS" ] || "$SSCARD" keys new --out "$ECARD_KEYS" >&2
}

record_sample_holder() {  # the sample holder and their card, active, in the holder store (once)
  "$SSCARD" db init >&2
  local ssn card_no card_id
  read -r ssn card_no card_id < <(.venv/bin/python -c '
import json, sys
h = json.load(open(sys.argv[1]))
print(h["ssn"], h["card_no"], h["card_id"])
' "$HOLDER")
  if "$SSCARD" db show "$ssn" --json 2>/dev/null | grep -q "\"$card_no\""; then
    return
  fi
  local csv=var/sample-holder.csv
  .venv/bin/python -c '
import json, sys
h = json.load(open(sys.argv[1]))
digits = lambda d: d.replace("-", "")
print("ssn,name,gender,nation,birth_date,birthplace,region")
print(",".join([h["ssn"], h["name"], h["gender"], h["nation"], digits(h["birth_date"]), h["birthplace"], h["ssn"][:6]]))
' "$HOLDER" > "$csv"
  "$SSCARD" db import "$csv" >&2
  "$SSCARD" db card-add --ssn "$ssn" --card-no "$card_no" --card-id "$card_id" >&2
  for status in produced issued active; do
    "$SSCARD" db card-status "$card_no" "$status" --reason "sample card (scripts/start.sh)" >&2
  done
}

start_server() {
  "$SSCARD" serve --keys "$ECARD_KEYS" --port "$PORT" >>"$LOGS/server.log" 2>&1 &
  CHILDREN+=($!)
  for _ in $(seq 1 150); do
    if .venv/bin/python -c 'import sys, httpx; httpx.get(sys.argv[1], timeout=1).raise_for_status()' \
        "http://127.0.0.1:$PORT/.well-known/jwks.json" 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  say "the e-card server did not start; see $LOGS/server.log"
  exit 1
}

start_services() {
  make_keys
  start_card
  record_sample_holder
  start_server
}

scripts/bootstrap.sh
ensure_pcscd
start_services

cat >&2 <<INFO

  card image   $ROOT/$CARD
  reader       $READER (vpcd $VPCD)
  card log     $ROOT/$LOGS/card.log
  holder store $ROOT/var/sscard.db (SQLite)
  e-card       http://127.0.0.1:$PORT  (OpenAPI docs at /docs; log $ROOT/$LOGS/server.log)
  keys         $ROOT/$ISSUER_KEYS (issuer card keys), $ROOT/$ECARD_KEYS (e-card signing keys)
  lock         $LOCK (held while serving: PC/SC test sessions wait for it)
  try          $SSCARD card read --json --verify --keys $ISSUER_KEYS
               $SSCARD terminal identify --reader "$READER" --keys $ISSUER_KEYS
               opensc-tool -l; opensc-tool -r 0 -s 00A404000F7378312E73682EC9E7BBE1B1A3D5CF -s 00B2012C00

Serving the card and the e-card server until Ctrl-C.
INFO
wait "${CHILDREN[@]}"
