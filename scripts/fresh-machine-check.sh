#!/usr/bin/env bash
# The fresh-machine check: README's two commands on a clean Debian 12 root, as a newcomer would run them.
#
#   1. a bare Debian 12 root (mmdebstrap --variant=minbase with python3 and python3-venv only), cached as a tar
#      between runs: nothing bootstrap installs is ever in the cache;
#   2. a `git archive` of HEAD in it, at /root/sscard;
#   3. install phase, with the host's network (the package registries): scripts/bootstrap.sh, the step both of
#      README's commands begin with;
#   4. the main job, in network, PID and mount namespaces of its own: scripts/start.sh until it reports that it
#      serves, then `sscard card read` and a GET of /docs (and its assets) against it, then Ctrl-C, then a check
#      that nothing it started is left running;
#   5. the test command, scripts/test.sh, to completion, in namespaces of its own likewise (its pcscd, vpcd ports
#      and PostgreSQL never meet the host's).
# Every mount lives in a mount namespace and every process in a PID namespace that end with their phase, so a
# failure, a time-out or Ctrl-C leaves nothing mounted or running; the root itself is removed on every exit.
#
# Usage: scripts/fresh-machine-check.sh [--without PKG]... [--skip-tests] [--keep]
#   --without PKG  drop PKG from bootstrap's package list in the copy under test (the check must then fail)
#   --skip-tests   stop after the main job (for trying bootstrap changes quickly; CI never passes it)
#   --keep         leave the root in place for a look (its path is printed)
# Environment: SSCARD_FRESH_CACHE (cache folder, default /var/cache/sscard-fresh),
#   SSCARD_FRESH_TIMEOUT (seconds for the whole check, default 4500).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

without=() skip_tests=0 keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --without) without+=("$2"); shift 2 ;;
    --skip-tests) skip_tests=1; shift ;;
    --keep) keep=1; shift ;;
    *) echo "fresh-machine-check: unknown argument $1" >&2; exit 2 ;;
  esac
done

[ "$(id -u)" -eq 0 ] || { echo "fresh-machine-check: needs root (it builds a root file system and namespaces)" >&2; exit 2; }

say() { printf 'fresh-machine-check: %s\n' "$*" >&2; }
now() { date +%s; }
started=$(now)
deadline=$((started + ${SSCARD_FRESH_TIMEOUT:-4500}))
remaining() { local r=$((deadline - $(now))); [ "$r" -gt 0 ] || r=1; echo "$r"; }
timings=()

# Tools of the check itself, on the host.
host_missing=()
command -v mmdebstrap >/dev/null || host_missing+=(mmdebstrap)
command -v unshare >/dev/null || host_missing+=(util-linux)
command -v ip >/dev/null || host_missing+=(iproute2)
command -v tini >/dev/null || host_missing+=(tini)  # PID 1 of each phase: it reaps orphans as a machine's init does
if [ ${#host_missing[@]} -gt 0 ]; then
  say "installing ${host_missing[*]} on the host"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${host_missing[@]}" >/dev/null
fi

work=$(mktemp -d /var/tmp/sscard-fresh.XXXXXX)
root=$work/root
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # The phases' mounts went with their namespaces; anything still mounted below the root is a bug, not a reason
  # to delete through it.
  if findmnt -rn -o TARGET | grep -q "^$root"; then
    say "mounts are left below $root; unmounting them"
    findmnt -rn -o TARGET | grep "^$root" | sort -r | xargs -r -n1 umount -l || true
  fi
  if [ "$keep" -eq 1 ]; then
    say "kept the root at $root"
  else
    rm -rf --one-file-system "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM

# 1. The bare root.
cache=${SSCARD_FRESH_CACHE:-/var/cache/sscard-fresh}
tarball=$cache/bookworm-minbase-python3-venv.tar
sources=/etc/apt/sources.list.d/debian.sources
[ -f "$sources" ] || sources=/etc/apt/sources.list
t0=$(now)
if [ ! -f "$tarball" ] || [ ! -s "$tarball" ]; then
  rm -rf "$tarball"
  mkdir -p "$cache"
  build_root() {
    mmdebstrap --quiet --format=tar --variant=minbase --include=python3,python3-venv \
      --aptopt='Acquire::Check-Valid-Until "false"' bookworm "$tarball.part" "$sources"
  }
  say "building a bare Debian 12 root (cached in $tarball)"
  if ! build_root; then
    say "building the root failed (the network?); retrying once"
    rm -rf "$tarball.part"
    build_root || { say "building the root failed twice"; exit 1; }
  fi
  mv "$tarball.part" "$tarball"
fi
mkdir -p "$root"
tar -xf "$tarball" -C "$root"
timings+=("root $(( $(now) - t0 ))s")

# The host's resolver and CA bundle, so the root reaches the registries as the host does.
cp /etc/resolv.conf "$root/etc/resolv.conf"
ca=/etc/ssl/certs/ca-certificates.crt
if [ -f "$ca" ]; then
  mkdir -p "$root/etc/ssl" "$root/usr/local/share/ca-certificates"
  cp "$ca" "$root/etc/ssl/host-ca.crt"
  cp "$ca" "$root/usr/local/share/ca-certificates/host-ca.crt"
fi

# 2. The checkout, as a newcomer's clone has it.
mkdir -p "$root/root/sscard"
git -C "$repo" archive HEAD | tar -x -C "$root/root/sscard"
for pkg in "${without[@]}"; do
  say "dropping $pkg from bootstrap's package list (this run must fail)"
  sed -i -E "/^debs=\(/,/^\)/ s/(^|[[:space:]])$pkg([[:space:]]|$)/\1\2/" "$root/root/sscard/scripts/bootstrap.sh"
done

# Runs a command in the root in fresh PID and mount namespaces (and a network namespace of its own with only
# loopback, unless $1 is "--network"). /proc, /dev, /sys, /tmp and /run are mounted inside, and vanish with it.
in_root() {
  local net=(--net) up="ip link set lo up;"
  if [ "$1" = "--network" ]; then net=(); up=""; shift; fi
  local script=$1
  timeout --kill-after=15 "$(remaining)" \
    unshare "${net[@]}" --pid --mount --fork --kill-child --mount-proc="$root/proc" -- \
    tini -g -- bash -c "set -e; $up
      mount --rbind /dev '$root/dev'
      mount -o ro --bind /sys '$root/sys'
      mount -t tmpfs tmpfs '$root/tmp'
      mount -t tmpfs tmpfs '$root/run'
      exec chroot '$root' /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        PIP_CERT=/etc/ssl/host-ca.crt PIP_DEFAULT_TIMEOUT=180 PIP_DISABLE_PIP_VERSION_CHECK=1 \
        SSL_CERT_FILE=/etc/ssl/host-ca.crt CI=\"${CI:-}\" \
        /bin/bash -c 'cd /root/sscard && $script'"
}

failed() {  # $1 = what, $2 = its exit status (timeout's 124, or 137 when it had to kill)
  if [ "$2" -eq 124 ] || [ "$2" -eq 137 ]; then
    say "TIMED OUT: $1 (the check's ${SSCARD_FRESH_TIMEOUT:-4500} s ran out)"
  else
    say "FAILED: $1 (exit $2)"
  fi
  exit 1
}

# 3. Install phase.
t0=$(now)
say "install phase: scripts/bootstrap.sh"
in_root --network "scripts/bootstrap.sh" || failed "scripts/bootstrap.sh on a fresh root" $?
timings+=("install $(( $(now) - t0 ))s")

# 4. The main job.
t0=$(now)
say "main job: scripts/start.sh, a card read, GET /docs, Ctrl-C"
in_root "bash scripts/fresh-machine-main-job.sh" || failed "the main job on a fresh root" $?
timings+=("main job $(( $(now) - t0 ))s")

# 5. The test command.
if [ "$skip_tests" -eq 0 ]; then
  t0=$(now)
  say "test command: scripts/test.sh"
  in_root "scripts/test.sh" || failed "scripts/test.sh on a fresh root" $?
  timings+=("suite $(( $(now) - t0 ))s")
fi
say "passed on a fresh Debian 12 root: ${timings[*]}, total $(( $(now) - started ))s"
