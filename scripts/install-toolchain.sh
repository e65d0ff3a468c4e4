#!/usr/bin/env bash
# Make sure arm-none-eabi-gcc with newlib (to build firmware) and gdb-multiarch (the GDB that debugs it through
# `m0sim gdbserver`, and the client of its tests) are present; install Debian's packages for what is missing.
set -euo pipefail
pkgs=""
if ! command -v arm-none-eabi-gcc >/dev/null 2>&1 || \
   [ -z "$(arm-none-eabi-gcc -print-file-name=librdimon.a | grep /)" ]; then
  pkgs="gcc-arm-none-eabi libnewlib-arm-none-eabi"
fi
if ! command -v gdb-multiarch >/dev/null 2>&1; then
  pkgs="$pkgs gdb-multiarch"
fi
pkgs="${pkgs# }"
if [ -z "$pkgs" ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "m0sim: missing $pkgs and this is not a Debian/Ubuntu system: install a GNU Arm Embedded toolchain with newlib (arm-none-eabi-gcc on PATH) and a GDB that debugs ARM (gdb-multiarch)" >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
  echo "m0sim: missing tools; as root run: apt-get install -y $pkgs" >&2
  exit 1
fi
echo "m0sim: installing $pkgs (Debian packages)"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $pkgs >/dev/null
