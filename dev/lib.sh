# Shared by the dev/ scripts (sourced, never run): paths, quiet runs, Debian packages, the Docker
# engine and the project venv. Nothing here installs into a system Python (PEP 668).
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${REMEDIATE_VENV:-$ROOT/.venv}
RUNTIME_LOCK=$ROOT/dev/runtime.lock   # remediate's dependencies, pinned (bash dev/lock refreshes)
TEST_LOCK=$ROOT/dev/test.lock         # the same plus the test and lint tools

die() { echo "${0##*/}: $*" >&2; exit 1; }
step() { [ "${REMEDIATE_SETUP_STEPS:-}" != 1 ] || echo "${0##*/}: $*" >&2; }

# Run a command quietly; show its output only if it fails.
quiet() {
  local log; log=$(mktemp /tmp/remediate-dev.XXXXXX.log)
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"
    die "failed: $*"
  fi
  rm -f "$log"
}

# Install the Debian packages of "$@" that are missing (as root; apt-get update only if needed).
debian_packages() {
  local missing=() p st
  for p in "$@"; do
    st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
    [ "${st:0:2}" = "ii" ] || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  [ "$(id -u)" = 0 ] || die "needs root to install ${missing[*]} (apt-get)"
  step "installing ${missing[*]} (a few minutes the first time)"
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=l NEEDRESTART_SUSPEND=1
  quiet apt-get update -q
  # with Recommends (apparmor, cgroupfs-mount, ...), as in the verified recipe
  quiet apt-get install -y -q "${missing[@]}"
}

# The Debian mirror this machine's apt sources use (for another suite: debootstrap, dev/debian13).
debian_mirror() {
  local uri
  uri=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$uri" ] || uri=$(awk '/^deb / && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$uri" ] || die "no Debian mirror found in /etc/apt/sources.list{,.d/debian.sources}"
  echo "$uri"
}

# Start dockerd in the background unless an engine answers (log: /var/log/remediate-dockerd.log).
docker_engine() {
  docker info >/dev/null 2>&1 && return 0
  local pid; pid=$(cat /var/run/docker.pid 2>/dev/null || true)
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
    rm -f /var/run/docker.pid   # stale pid file from a killed daemon
    # a dead daemon's socket bind-mounted over itself (a chroot's /var/run -> /run followed
    # by `mount --bind`) makes dockerd fail with "device or resource busy": unmount it
    while mountpoint -q /var/run/docker.sock 2>/dev/null; do
      umount /var/run/docker.sock || die "/var/run/docker.sock is a mount point no engine answers on; unmount it"
    done
    # no fd of ours (e.g. a setup lock) may leak into the long-lived daemon
    setsid dockerd >>/var/log/remediate-dockerd.log 2>&1 </dev/null 8>&- 9>&- &
  fi
  local _
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  tail -n 40 /var/log/remediate-dockerd.log >&2 || true
  die "docker engine did not come up within 60 s (log: /var/log/remediate-dockerd.log)"
}

# The python3 the venv is made from: the first python3 on PATH if it is 3.11 or newer, else
# Debian's own.
venv_python() {
  local py
  for py in python3 /usr/bin/python3; do
    if command -v "$py" >/dev/null && "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      command -v "$py"; return 0
    fi
  done
  die "no python3 3.11 or newer (Debian 12: apt-get install python3)"
}

# The project venv with remediate (editable) and exactly the pinned versions of LOCK (runtime or
# test). Rebuilt when a lock, pyproject.toml or the Python changes; the test lock is a superset
# of the runtime one, so a runtime venv grows into a test venv in place. The stamp's first line
# names the Python and the runtime pins, its second the test pins installed (if any).
project_venv() {
  local lock=$1 py; py=$(venv_python)
  local base; base=$(cat "$RUNTIME_LOCK" "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)
  local want="$py $("$py" -c 'import sys; print(sys.version.split()[0])') $base"
  local stamp="$VENV/.remediate-stamp"
  local test; test=$(sha256sum <"$TEST_LOCK" | cut -c1-16)
  local had; had=$(sed -n 2p "$stamp" 2>/dev/null || true)
  # test tools of another test.lock: start over (installing the new pins over them would keep
  # what the lock dropped)
  if [ "$(sed -n 1p "$stamp" 2>/dev/null)" != "$want" ] \
     || { [ "$lock" = "$TEST_LOCK" ] && [ -n "$had" ] && [ "$had" != "$test" ]; }; then
    step "a venv at $VENV from $py, with $(basename "$RUNTIME_LOCK")"
    rm -rf "$VENV"
    quiet "$py" -m venv "$VENV"
    export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore
    quiet "$VENV/bin/pip" install -q -r "$RUNTIME_LOCK"
    # the build backend is pinned in the lock too: no unpinned build environment
    quiet "$VENV/bin/pip" install -q --no-deps --no-build-isolation -e "$ROOT"
    printf '%s\n' "$want" >"$stamp"
  fi
  [ "$lock" = "$TEST_LOCK" ] || return 0
  if [ "$(sed -n 2p "$stamp")" != "$test" ]; then
    step "the test tools from $(basename "$TEST_LOCK")"
    export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore
    quiet "$VENV/bin/pip" install -q -r "$TEST_LOCK"
    printf '%s\n%s\n' "$want" "$test" >"$stamp"
  fi
}
