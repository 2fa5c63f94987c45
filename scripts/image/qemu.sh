#!/usr/bin/env bash
# Lets this machine run arm64 binaries (and build arm64 images) through QEMU
# user emulation: mounts binfmt_misc if needed and registers the handler.
# Needs root and the Debian packages qemu-user-static and binfmt-support.
set -euo pipefail
if [[ $(uname -m) == aarch64 ]]; then exit 0; fi
if ! mountpoint -q /proc/sys/fs/binfmt_misc; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
if [[ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]]; then
  update-binfmts --enable qemu-aarch64 2>/dev/null || update-binfmts --import qemu-aarch64
fi
grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64
# The F flag makes the kernel open the interpreter at registration, so it works inside containers and chroots.
grep -q '^flags: .*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 || echo "qemu.sh: qemu-aarch64 is registered without the F flag; arm64 containers may not start" >&2
