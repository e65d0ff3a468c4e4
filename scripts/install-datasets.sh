#!/usr/bin/env bash
# Make sure the offline data sets are present: Debian's Fashion-MNIST (VGG11's default workload).
set -euo pipefail
dir=/usr/share/datasets/fashion-mnist
pkgs="dataset-fashion-mnist"
if [ -f "$dir/train-images-idx3-ubyte.gz" ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "m0sim: $dir is missing and this is not a Debian/Ubuntu system: put the Fashion-MNIST IDX files there or pass --data-path" >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
  echo "m0sim: Fashion-MNIST is missing; as root run: apt-get install -y $pkgs" >&2
  exit 1
fi
echo "m0sim: installing $pkgs (Debian package)"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $pkgs >/dev/null
