#!/bin/sh
# Runs once inside the fresh rootfs (chroot, as root) before `docker import`.
# Environment: SANDBOX_USER, SANDBOX_UID, SANDBOX_WORKDIR (from recipe.yaml).
set -eu
groupadd --gid "$SANDBOX_UID" "$SANDBOX_USER"
useradd --uid "$SANDBOX_UID" --gid "$SANDBOX_UID" --home-dir "$SANDBOX_WORKDIR" --no-create-home \
  --shell /bin/bash "$SANDBOX_USER"
mkdir -p "$SANDBOX_WORKDIR"
chown "$SANDBOX_USER:$SANDBOX_USER" "$SANDBOX_WORKDIR"
# No setuid/setgid programs: containers also drop every capability and set no-new-privileges; this is a
# second wall.
find / -xdev -type f -perm /6000 -exec chmod ug-s {} +
# Smaller image: no package lists, caches, manuals or translations (the sandbox has no network for apt).
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb \
  /usr/share/doc/* /usr/share/man/* /usr/share/info/* /usr/share/locale/* /var/log/*.log
