#!/usr/bin/env bash
# Install Debian packages for the set-up: `apt-install.sh "WHAT" PKG...` (as root, or with sudo); on another
# system, or without root, say what is missing (WHAT) and exit 1.
set -euo pipefail
what="$1"; shift
pkgs="$*"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "m0sim: missing $what ($pkgs) and this is not a Debian/Ubuntu system: install them another way" >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
  echo "m0sim: missing $what; as root run: apt-get install -y $pkgs" >&2
  exit 1
fi
echo "m0sim: installing $pkgs (Debian packages)"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $pkgs >/dev/null
