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
if [ -z "${pkgs# }" ]; then
  exit 0
fi
exec "$(dirname "$0")/apt-install.sh" "a GNU Arm Embedded toolchain with newlib, or gdb-multiarch" $pkgs
