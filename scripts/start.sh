#!/usr/bin/env bash
# The main job on embedded defaults: the e-card service over the holder store (SQLite file var/sscard.db), with
# a sample holder whose software card sits in the virtual reader.
#   1. installs what is missing (scripts/bootstrap.sh);
#   2. makes sure pcscd runs (with vsmartcard's vpcd reader), starting its own if none does;
#   3. makes issuer card keys (var/issuer-keys) and e-card signing keys (var/ecard-keys) if absent;
#   4. makes var/sample-card.json from docs/sample-holder.json if it does not exist yet, under the issuer keys;
#   5. serves it in vpcd slot 0 (`sscard sim serve`) and reads it with `sscard card read --verify`;
#   6. records the sample holder and an active card in the holder store, and starts `sscard serve`;
#   7. keeps everything running until Ctrl-C, then stops all it started.
# Every step is resumable: each output appears whole or not at all (keys are made aside and moved into place; the
# card's lifecycle is walked from wherever it stands), so a run interrupted anywhere is completed by the next.
# SSCARD_VAR moves every file it writes (keys, card, store, logs) out of var/.
# More services join in `start_services` below; each one started there is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

VAR=${SSCARD_VAR:-var}
VPCD=${SSCARD_VPCD:-127.0.0.1:35963}
READER=${SSCARD_READER:-"Virtual PCD 00 00"}
CARD=${SSCARD_CARD:-$VAR/sample-card.json}
HOLDER=${SSCARD_HOLDER:-docs/sample-holder.json}
ISSUER_KEYS=${SSCARD_ISSUER_KEYS:-$VAR/issuer-keys}
ECARD_KEYS=${SSCARD_ECARD_KEYS:-$VAR/ecard-keys}
PORT=${SSCARD_PORT:-8000}
export SSCARD_DB=${SSCARD_DB:-sqlite:///$VAR/sscard.db}
LOGS=$VAR/log
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

ensure_pcscd() {  # a pcscd of its own runs in the foreground as a child, so that Ctrl-C stops it too
  if grep -qsx pcscd /proc/[0-9]*/comm; then
    return
  fi
  say "starting pcscd"
  mkdir -p "$LOGS"
  if [ "$(id -u)" -eq 0 ]; then pcscd -f >>"$LOGS/pcscd.log" 2>&1 & else sudo -n pcscd -f >>"$LOGS/pcscd.log" 2>&1 & fi
  CHILDREN+=($!)
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

holder_of_lock() {  # what the holder of the lock wrote into it (start.sh or a pytest session)
  local who
  who=$(head -c 200 "$LOCK" 2>/dev/null | head -n 1)
  printf '%s' "${who:-a process that did not say who it is}"
}

start_card() {
  mkdir -p "$VAR" "$LOGS"
  exec 9>>"$LOCK"
  if [ -n "${SSCARD_PCSC_LOCK_HELD:-}" ]; then
    :  # the caller (a test session) holds the lock already
  else
    if ! flock -n 9; then
      say "waiting for the virtual readers: $LOCK is held by $(holder_of_lock)"
      flock -w 900 9 || { say "gave up waiting for $LOCK, held by $(holder_of_lock)"; exit 1; }
    fi
    printf 'scripts/start.sh in %s (pid %s)\n' "$ROOT" "$$" >"$LOCK"  # who holds it, for whoever waits
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

make_keys() {  # made in a folder beside the real one and moved into place: there whole, or not at all
  mkdir -p "$VAR"
  local kind dir
  for kind in new-issuer new; do
    [ "$kind" = new ] && dir=$ECARD_KEYS || dir=$ISSUER_KEYS
    [ -d "$dir" ] && continue
    rm -rf "$dir.partial"
    "$SSCARD" keys "$kind" --out "$dir.partial" >&2
    mv "$dir.partial" "$dir"
  done
}

card_status() {  # the sample card's status in the holder store, or nothing when it is not recorded
  "$SSCARD" db show "$1" --json 2>/dev/null | .venv/bin/python -c '
import json, sys
cards = [c for c in json.load(sys.stdin).get("cards", []) if c.get("card_no") == sys.argv[1]]
print(cards[0]["status"] if cards else "")
' "$2" 2>/dev/null || true
}

record_sample_holder() {  # the sample holder and their card, active, in the holder store; each step resumable
  "$SSCARD" db init >&2
  local ssn card_no card_id status
  read -r ssn card_no card_id < <(.venv/bin/python -c '
import json, sys
h = json.load(open(sys.argv[1]))
print(h["ssn"], h["card_no"], h["card_id"])
' "$HOLDER")
  status=$(card_status "$ssn" "$card_no")
  if [ -z "$status" ]; then
    local csv=$VAR/sample-holder.csv
    .venv/bin/python -c '
import json, sys
h = json.load(open(sys.argv[1]))
digits = lambda d: d.replace("-", "")
print("ssn,name,gender,nation,birth_date,birthplace,region")
print(",".join([h["ssn"], h["name"], h["gender"], h["nation"], digits(h["birth_date"]), h["birthplace"], h["ssn"][:6]]))
' "$HOLDER" > "$csv"
    "$SSCARD" db import "$csv" >&2  # a second import of the same row adds nothing
    "$SSCARD" db card-add --ssn "$ssn" --card-no "$card_no" --card-id "$card_id" >&2
    status=applied
  fi
  # Walk the rest of the way to active from wherever an earlier run stopped; a card that went elsewhere (reported
  # lost in the tour, say) is left as the holder store has it.
  local steps=""
  case "$status" in
    applied) steps="produced issued active" ;;
    produced) steps="issued active" ;;
    issued) steps="active" ;;
    active) ;;
    *) say "the sample card $card_no is $status in the holder store; left as it is" ;;
  esac
  for next in $steps; do
    "$SSCARD" db card-status "$card_no" "$next" --reason "sample card (scripts/start.sh)" >&2
  done
  for insurance in medical pension; do  # enrolled, so that payment and settlement serve the holder
    "$SSCARD" db enrol --ssn "$ssn" --insurance "$insurance" --from 2010-01-01 >&2
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

here() { case "$1" in /*) printf %s "$1" ;; *) printf %s "$ROOT/$1" ;; esac; }  # a path as the banner shows it

cat >&2 <<INFO

  card image   $(here "$CARD")
  reader       $READER (vpcd $VPCD)
  card log     $(here "$LOGS")/card.log
  holder store $SSCARD_DB
  e-card       http://127.0.0.1:$PORT  (OpenAPI docs at /docs; log $(here "$LOGS")/server.log)
  pages        http://127.0.0.1:$PORT/pages/  (holder, verifier, counter, kiosk: docs/pages.md)
  keys         $(here "$ISSUER_KEYS") (issuer card keys), $(here "$ECARD_KEYS") (e-card signing keys)
  lock         $LOCK (held while serving: PC/SC test sessions wait for it)
  try          $SSCARD card read --json --verify --keys $ISSUER_KEYS
               $SSCARD terminal identify --reader "$READER" --keys $ISSUER_KEYS
               opensc-tool -l; opensc-tool -r 0 -s 00A404000F7378312E73682EC9E7BBE1B1A3D5CF -s 00B2012C00

Serving the card and the e-card server until Ctrl-C.
INFO
wait "${CHILDREN[@]}"
