#!/usr/bin/env bash
# The main-job phase of scripts/fresh-machine-check.sh, run inside the fresh root in namespaces of its own (so
# this shell is the PID namespace's only other process): scripts/start.sh until it reports that it serves, a
# card read and a GET of /docs against it, Ctrl-C, then nothing it started may be left running.
set -euo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp /tmp/start.XXXXXX.log)
fail() { echo "main job: $*" >&2; echo "--- scripts/start.sh said:" >&2; tail -n 40 "$log" >&2; exit 1; }

# Job control gives the job a process group of its own with SIGINT not ignored (a plain background job of a script
# ignores it), so Ctrl-C can be sent to it as a terminal sends it.
set -m
scripts/start.sh >"$log" 2>&1 </dev/null &
job=$!
for _ in $(seq 1 900); do
  grep -q "Serving the card and the e-card server until Ctrl-C." "$log" && break
  kill -0 "$job" 2>/dev/null || fail "scripts/start.sh exited before it served"
  sleep 1
done
grep -q "Serving the card and the e-card server until Ctrl-C." "$log" || fail "scripts/start.sh did not serve in 900 s"

line=$(.venv/bin/sscard card read --reader "Virtual PCD 00 00") || fail "sscard card read failed"
fields=$(tr -cd '|' <<<"$line" | wc -c)
[ "$fields" -eq 11 ] || fail "sscard card read gave '$line', not the 11-field reader-interface line"
echo "main job: card read: $fields fields" >&2

docs=$(curl -fsS http://127.0.0.1:8000/docs) || fail "GET /docs failed"
grep -qi "swagger" <<<"$docs" || fail "GET /docs is not the Swagger UI page"
# Offline: the page may name no other host, and each asset it names must be served here.
if grep -oE '(src|href)="https?://[^"]*' <<<"$docs" | grep -vE '"https?://(127\.0\.0\.1|localhost)' | grep -q .; then
  fail "GET /docs loads assets from another host: $(grep -oE '(src|href)="https?://[^"]*' <<<"$docs" | head -3)"
fi
assets=$(grep -oE "(src|href)=['\"][^'\"]+['\"]|url: *['\"][^'\"]+['\"]" <<<"$docs" | sed -E "s/^[^'\"]*['\"]//; s/['\"]$//")
for asset in $assets; do
  case "$asset" in /*) ;; *) continue ;; esac
  curl -fsS -o /dev/null "http://127.0.0.1:8000$asset" || fail "GET /docs names $asset, which is not served"
done
echo "main job: GET /docs: Swagger UI with every asset served here" >&2

kill -INT -- "-$job"
rc=0
wait "$job" || rc=$?
[ "$rc" -eq 130 ] || fail "scripts/start.sh exited $rc on Ctrl-C, not 130"

sleep 1
ours=" "  # this shell and the ones that started it (the namespace's init among them)
p=$$
while [ -n "$p" ] && [ "$p" != 0 ]; do
  ours+="$p "
  p=$(awk '/^PPid:/ {print $2}' "/proc/$p/status" 2>/dev/null)
done
left=()
for d in /proc/[0-9]*; do
  p=${d#/proc/}
  [[ "$ours" == *" $p "* ]] && continue
  comm=""; read -r comm <"$d/comm" 2>/dev/null || continue
  left+=("$p:$comm")
done
[ ${#left[@]} -eq 0 ] || fail "left running after Ctrl-C: ${left[*]}"
echo "main job: Ctrl-C stopped everything it started" >&2
