#!/usr/bin/env bash
# One-time setup for building, running and testing DuoBox on Debian/Ubuntu:
# the C toolchain and GL/X11 headers Fyne needs (cgo), Xvfb and ImageMagick for
# screenshots, sqlite3 for the docs-index tests, and the desktop/AppStream
# validators for packaging checks. Safe to run again.
set -euo pipefail
packages=(
  gcc pkg-config libgl1-mesa-dev libx11-dev libxcursor-dev libxrandr-dev libxinerama-dev libxi-dev libxxf86vm-dev
  xvfb imagemagick xdotool x11-apps
  sqlite3 curl ca-certificates
  desktop-file-utils appstream
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The Helm export's tests run the real kubectl (client dry run) and helm (lint,
# template); Debian ships kubectl as kubernetes-client, helm is built from the
# Go module proxy into $(go env GOPATH)/bin (.ci/run puts that on PATH).
if ! command -v kubectl >/dev/null; then
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends kubernetes-client
fi
if ! command -v helm >/dev/null && ! [[ -x "$(go env GOPATH)/bin/helm" ]]; then
  go install helm.sh/helm/v3/cmd/helm@v3.16.4
fi
echo "setup: Debian packages present"
