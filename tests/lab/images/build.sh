#!/usr/bin/env bash
# Build remediate's local test images (no registry is reachable; everything is built here).
#
#   remediate-test/busybox:1    busybox-static + applet symlinks, CMD ["sh"]
#   remediate-test/python:3     Debian python3.11 runtime rootfs (docker import)
#   remediate-test/fake-vllm:1  fake vLLM OpenAI server   (also tagged vllm/vllm-openai:v0.6.3)
#   remediate-test/python-grpc:3  python:3 plus Debian's python3-grpcio (the fake gateway's gRPC)
#   remediate-test/fake-aigw:2  fake GitLab AI gateway    (also tagged <registry>/model-gateway:self-hosted-v18.0.0-ee)
#
# Idempotent: every image carries the labels remediate.test=1 and remediate.test.hash=<sha256 of
# its sources (and of its base image)>; an image whose label matches is not rebuilt.
# Quiet unless something fails. Needs: a running docker engine, /bin/busybox (busybox-static),
# apt-get download (runs `apt-get update` itself only if a download fails).
set -euo pipefail
export DOCKER_BUILDKIT=0 DOCKER_CLI_HINTS=false

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RECIPE=2   # bump to force a rebuild of everything

BUSYBOX_IMG=remediate-test/busybox:1
PYTHON_IMG=remediate-test/python:3
VLLM_IMG=remediate-test/fake-vllm:1
GRPC_IMG=remediate-test/python-grpc:3
AIGW_IMG=remediate-test/fake-aigw:2
VLLM_ALIASES=(vllm/vllm-openai:v0.6.3)
AIGW_ALIASES=(registry.gitlab.com/gitlab-org/modelops/applied-ml/code-suggestions/ai-assist/model-gateway:self-hosted-v18.0.0-ee)

# Debian 12's grpcio and the libraries it needs beyond the python image (its protobuf is not
# needed: the fake sends raw protobuf bytes).
GRPC_DEBS=(python3-grpcio libgrpc29 libabsl20220623 libc-ares2 libre2-9 libstdc++6)
BUSYBOX_APPLETS=(sh sleep httpd wget nc env cat ls echo true false id touch mkdir printf grep ps
                 kill date hostname seq)
PY_DEBS=(python3.11-minimal libpython3.11-minimal libpython3.11-stdlib
  libc6 libgcc-s1 zlib1g libexpat1 libssl3 libffi8 libbz2-1.0 liblzma5 libsqlite3-0 libuuid1
  libcrypt1 libdb5.3 libgdbm6 libgdbm-compat4 libncursesw6 libtinfo6 libreadline8 libnsl2
  libtirpc3 libtirpc-common libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0
  libkeyutils1 libcom-err2)

die() { echo "build.sh: $*" >&2; exit 1; }

command -v docker >/dev/null || die "docker CLI not found"
docker info >/dev/null 2>&1 || die "docker engine not reachable (run dev/setup)"
[ -x /bin/busybox ] || die "/bin/busybox missing (apt-get install -y busybox-static)"

# One build at a time on this machine.
exec 9>/tmp/remediate-test-images.lock
flock 9

WORK=$(mktemp -d /tmp/remediate-images.XXXXXX)
chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT

sha() { sha256sum | cut -d' ' -f1; }

# Hash of a build context dir: relative paths + modes + contents (no caches).
dir_hash() {
  (cd "$1" && find . \( -name __pycache__ -o -name '*.pyc' \) -prune -o \( -type f -o -type l \) -print \
     | LC_ALL=C sort | while IFS= read -r f; do
         printf '%s %s ' "$f" "$(stat -c %a "$f")"
         if [ -L "$f" ]; then readlink "$f"; else sha256sum <"$f" | cut -d' ' -f1; fi
       done) | sha
}

label_of() { docker image inspect -f '{{ index .Config.Labels "remediate.test.hash" }}' "$1" 2>/dev/null || true; }
id_of() { docker image inspect -f '{{ .Id }}' "$1" 2>/dev/null || true; }

# Run a command quietly; show its output only if it fails.
quiet() {
  local out="$WORK/cmd.log"
  if ! "$@" >"$out" 2>&1; then
    cat "$out" >&2
    die "failed: $*"
  fi
}

# After a rebuild, drop the previous (now untagged) test images; images still used by a
# container stay.
REBUILT=0
drop_old() { REBUILT=1; }

retag() {
  local img=$1; shift
  local id; id=$(id_of "$img")
  for alias in "$@"; do
    [ "$(id_of "$alias")" = "$id" ] || quiet docker tag "$img" "$alias"
  done
}

# --- remediate-test/busybox:1 ------------------------------------------------------------
build_busybox() {
  local h; h=$( { echo "busybox recipe $RECIPE"; echo "${BUSYBOX_APPLETS[*]}"; sha </bin/busybox; } | sha)
  [ "$(label_of $BUSYBOX_IMG)" = "$h" ] && return 0
  local old; old=$(id_of $BUSYBOX_IMG)
  local r="$WORK/busybox"
  mkdir -p "$r/bin" "$r/tmp" "$r/etc"
  chmod 1777 "$r/tmp"
  cp /bin/busybox "$r/bin/busybox"
  for a in "${BUSYBOX_APPLETS[@]}"; do ln -s busybox "$r/bin/$a"; done
  tar -C "$r" -c . | quiet docker import \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change 'CMD ["sh"]' \
    --change "LABEL remediate.test=1 remediate.test.hash=$h" \
    - $BUSYBOX_IMG
  drop_old "$old" $BUSYBOX_IMG
}

# --- remediate-test/python:3 -------------------------------------------------------------
download_debs() {
  local dir=$1; shift
  (cd "$dir" && apt-get download -q=2 "$@") >"$WORK/apt.log" 2>&1
}

fetch_debs() {
  local dir=$1; shift
  mkdir -p "$dir"; chmod 755 "$dir"
  if ! download_debs "$dir" "$@"; then
    quiet apt-get update -q=2
    download_debs "$dir" "$@" || { cat "$WORK/apt.log" >&2; die "apt-get download failed"; }
  fi
}

build_python() {
  local h; h=$( { echo "python recipe $RECIPE"; echo "${PY_DEBS[*]}"; sha </bin/busybox; } | sha)
  [ "$(label_of $PYTHON_IMG)" = "$h" ] && return 0
  local old; old=$(id_of $PYTHON_IMG)
  local d="$WORK/debs" r="$WORK/rootfs"
  fetch_debs "$d" "${PY_DEBS[@]}"
  mkdir -p "$r/usr/bin" "$r/usr/lib" "$r/usr/lib64" "$r/usr/sbin" "$r/etc" "$r/tmp" "$r/root"
  chmod 1777 "$r/tmp"
  for x in bin lib lib64 sbin; do ln -s "usr/$x" "$r/$x"; done   # Debian 12 merged /usr
  echo 'root:x:0:0:root:/root:/bin/sh' >"$r/etc/passwd"
  echo 'root:x:0:' >"$r/etc/group"
  for f in "$d"/*.deb; do dpkg-deb -x "$f" "$r"; done
  ln -sf python3.11 "$r/usr/bin/python3"
  cp /bin/busybox "$r/usr/bin/busybox"
  ln -s busybox "$r/usr/bin/sh"
  tar -C "$r" -c . | quiet docker import \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change 'CMD ["python3"]' \
    --change "LABEL remediate.test=1 remediate.test.hash=$h" \
    - $PYTHON_IMG
  drop_old "$old" $PYTHON_IMG
}

# --- remediate-test/python-grpc:3 --------------------------------------------------------
build_grpc() {
  local h; h=$( { echo "grpc recipe $RECIPE"; echo "${GRPC_DEBS[*]}"; id_of $PYTHON_IMG; } | sha)
  [ "$(label_of $GRPC_IMG)" = "$h" ] && return 0
  local old; old=$(id_of $GRPC_IMG)
  local d="$WORK/grpc-debs" r="$WORK/grpc-root" c="$WORK/grpc-ctx"
  fetch_debs "$d" "${GRPC_DEBS[@]}"
  mkdir -p "$r" "$c"
  for f in "$d"/*.deb; do dpkg-deb -x "$f" "$r"; done
  tar -C "$r" -cf "$c/root.tar" .
  # The python image has no site config that adds Debian's dist-packages to sys.path.
  printf 'FROM %s\nADD root.tar /\nENV PYTHONPATH=/usr/lib/python3/dist-packages\n' "$PYTHON_IMG" >"$c/Dockerfile"
  quiet docker build -q --label remediate.test=1 --label "remediate.test.hash=$h" -t $GRPC_IMG "$c"
  drop_old "$old" $GRPC_IMG
}

# --- images built with `docker build` FROM remediate-test/python:3 (or python-grpc:3) -------
build_from_dir() {
  local img=$1 dir=$2 base=${3:-$PYTHON_IMG}
  local h; h=$( { echo "dir recipe $RECIPE"; id_of "$base"; dir_hash "$dir"; } | sha)
  [ "$(label_of "$img")" = "$h" ] && return 0
  local old; old=$(id_of "$img")
  quiet docker build -q --label remediate.test=1 --label "remediate.test.hash=$h" -t "$img" "$dir"
  drop_old "$old" "$img"
}

build_busybox
build_python
build_from_dir $VLLM_IMG "$HERE/fake-vllm"
retag $VLLM_IMG "${VLLM_ALIASES[@]}"
build_grpc
build_from_dir $AIGW_IMG "$HERE/fake-aigw" $GRPC_IMG
retag $AIGW_IMG "${AIGW_ALIASES[@]}"

if [ $REBUILT = 1 ]; then
  docker image prune -f --filter label=remediate.test=1 >/dev/null 2>&1 || true
fi
