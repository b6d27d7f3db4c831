#!/usr/bin/env bash
# Builds the offline test image `labkit/busybox:1.0` (also tagged `busybox:latest`, so lab manifests
# that say `image: busybox` run without a registry).
#
# Registries cannot be reached on the lab machines, so `docker pull busybox` is not an option: the
# image is imported from a root filesystem made here from Debian's statically linked busybox
# (package busybox-static). Idempotent: does nothing when both tags already exist, unless
# LABKIT_REBUILD_IMAGE=1.
set -euo pipefail

IMAGE="${LABKIT_TEST_IMAGE:-labkit/busybox:1.0}"
ALIAS="busybox:latest"

if [ "${LABKIT_REBUILD_IMAGE:-0}" != 1 ] \
   && docker image inspect "$IMAGE" >/dev/null 2>&1 \
   && docker image inspect "$ALIAS" >/dev/null 2>&1; then
  echo "image $IMAGE already present"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

# `apt-get download` needs the package lists; fetch them only when the first try fails.
if ! apt-get download busybox-static >/dev/null 2>&1; then
  apt-get update -qq
  apt-get download busybox-static
fi
dpkg -x busybox-static_*.deb pkg

root="$work/rootfs"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,proc,sys,dev,var/tmp}
chmod 1777 "$root/tmp" "$root/var/tmp"
cp pkg/bin/busybox "$root/bin/busybox"

# One symlink per applet at the path busybox itself reports (sh, echo, sleep, cat, wget, ...).
# The binary is static, so it runs on the build host to list its applets.
"$root/bin/busybox" --list-full | while read -r applet; do
  [ "$applet" = bin/busybox ] && continue
  [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done

# Enough identity for `id`, `whoami` and `ps` to print names rather than numbers.
cat > "$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat > "$root/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
GROUP

tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["sh"]' \
  --message "labkit offline busybox (Debian busybox-static)" \
  - "$IMAGE" >/dev/null
docker tag "$IMAGE" "$ALIAS"
echo "built $IMAGE (also tagged $ALIAS): $(docker run --rm "$IMAGE" busybox | head -1)"
