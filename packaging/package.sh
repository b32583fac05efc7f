#!/usr/bin/env bash
# Packages bin/duobox (built by 'make build') into dist/:
#   duobox_<version>_<arch>.deb            built by nfpm from packaging/nfpm.yaml
#   duobox-<version>-linux-<arch>.tar.xz   a plain tar of the same install tree
#                                          (usr/bin, usr/share/...; unpack into / or a prefix)
# The version comes from FyneApp.toml, so the app ID and version live in one place.
# nfpm runs through 'go run' at a pinned version: it needs only the Go module proxy
# (or a warm module cache), no system package.
set -euo pipefail
cd "$(dirname "$0")/.."
# v2.44.0: newer releases need go.digitalxero.dev modules the proxy here refuses (403).
NFPM_VERSION=v2.44.0
APP_ID=$(sed -n 's/^ID *= *"\(.*\)"/\1/p' FyneApp.toml)
VERSION=$(sed -n 's/^Version *= *"\(.*\)"/\1/p' FyneApp.toml)
ARCH=$(go env GOARCH)
[[ -x bin/duobox ]] || { echo "package: bin/duobox is missing; run 'make build' first" >&2; exit 2; }
for f in "packaging/$APP_ID.desktop" "packaging/$APP_ID.metainfo.xml" assets/icon.png; do
  [[ -f $f ]] || { echo "package: $f is missing" >&2; exit 2; }
done
mkdir -p dist
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root="$stage/duobox-$VERSION"
install -Dm755 bin/duobox "$root/usr/bin/duobox"
install -Dm644 "packaging/$APP_ID.desktop" "$root/usr/share/applications/$APP_ID.desktop"
install -Dm644 "packaging/$APP_ID.metainfo.xml" "$root/usr/share/metainfo/$APP_ID.metainfo.xml"
install -Dm644 assets/icon.png "$root/usr/share/icons/hicolor/256x256/apps/$APP_ID.png"
tar -C "$stage" --owner=0 --group=0 -cJf "dist/duobox-$VERSION-linux-$ARCH.tar.xz" "duobox-$VERSION"
echo "package: dist/duobox-$VERSION-linux-$ARCH.tar.xz"
VERSION=$VERSION ARCH=$ARCH go run "github.com/goreleaser/nfpm/v2/cmd/nfpm@$NFPM_VERSION" \
  package --config packaging/nfpm.yaml --packager deb --target dist/
ls -l dist/*.deb
