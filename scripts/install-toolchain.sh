#!/usr/bin/env bash
# Make sure arm-none-eabi-gcc and newlib are present; install Debian's packages when they are not.
set -euo pipefail
if command -v arm-none-eabi-gcc >/dev/null 2>&1 && \
   [ -n "$(arm-none-eabi-gcc -print-file-name=librdimon.a | grep /)" ]; then
  exit 0
fi
pkgs="gcc-arm-none-eabi libnewlib-arm-none-eabi"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "m0sim: arm-none-eabi-gcc is missing and this is not a Debian/Ubuntu system: install a GNU Arm Embedded toolchain with newlib and put arm-none-eabi-gcc on PATH" >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
  echo "m0sim: arm-none-eabi-gcc is missing; as root run: apt-get install -y $pkgs" >&2
  exit 1
fi
echo "m0sim: installing $pkgs (Debian packages)"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $pkgs >/dev/null
