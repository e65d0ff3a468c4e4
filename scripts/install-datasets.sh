#!/usr/bin/env bash
# Make sure the offline data sets are present: Debian's Fashion-MNIST (VGG11's default workload).
set -euo pipefail
if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  exit 0
fi
exec "$(dirname "$0")/apt-install.sh" "the Fashion-MNIST data set (or pass --data-path)" dataset-fashion-mnist
