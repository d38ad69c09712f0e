#!/usr/bin/env bash
# Prepares the read-only root file system: everything that changes at run time (the
# daemon's configuration and state, Wi-Fi, the time zone, SSH keys) lives on the data
# partition, mounted at /data by the first-boot setup, and /etc links to it.
# Buildroot calls this with the target directory as the first argument.
set -euo pipefail

target=${1:?usage: post-build.sh TARGET_DIR}

mkdir -p "$target/boot" "$target/data"

link() { # link NAME TARGET: replaces NAME (a file, a link or a directory) by a link to TARGET
  rm -rf "${target:?}/$1"
  mkdir -p "$(dirname "$target/$1")"
  ln -s "$2" "$target/$1"
}
link etc/babymonitor /data/etc/babymonitor
link etc/wpa_supplicant.conf /data/etc/wpa_supplicant.conf
link etc/localtime /data/etc/localtime
link etc/dropbear /data/etc/dropbear
link root/.ssh /data/etc/ssh

# The certificate update bundles must be signed with (RAUC's keyring, named in
# /etc/rauc/system.conf). The builder makes it with `make -C buildroot keys`; it is never in
# the repository. A real build without it stops here: that image could take no update.
keyring=${BABYMONITOR_KEYRING:-${BR2_EXTERNAL_BABYMONITOR_PATH:-$(dirname "$0")/../..}/keys/cert.pem}
if [ -s "$keyring" ]; then
  install -D -m 0644 "$keyring" "$target/etc/rauc/keyring.pem"
elif [ -n "${BR2_CONFIG:-}" ]; then
  echo "post-build: no update keyring at $keyring: run 'make -C buildroot keys' first" >&2
  exit 1
else
  echo "post-build: no update keyring at $keyring (not a Buildroot build: skipped)" >&2
fi
