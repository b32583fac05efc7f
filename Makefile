# DuoBox build, test and packaging. `make run` starts the app; `make test` runs every test.
GO        ?= go
PREFIX    ?= /usr
DESTDIR   ?=
BIN       := bin/duobox
APP_ID    := io.duobox.DuoBox
TAGS      := migrated_fynedo
# go-nvml's headers mark some calls deprecated; those warnings are noise.
export CGO_CFLAGS ?= -O2 -Wno-deprecated-declarations

.PHONY: all setup build run test test-core test-fast test-engine test-race check-imports vet bench package screenshots metadata-validate install uninstall clean

all: build

setup:
	@bash scripts/setup-debian.sh

build: setup
	$(GO) build -tags $(TAGS) -o $(BIN) ./cmd/duobox

run: build
	./$(BIN)

# Every test: the cgo-free core (app, runtime, bundles, ui) with the real Docker
# engine, the import boundaries, then the packages that need cgo (the binary).
test: setup vet check-imports metadata-validate test-core
	$(GO) test -tags $(TAGS) -count=1 -timeout 20m ./cmd/...

test-core:
	CGO_ENABLED=0 $(GO) test -count=1 -timeout 40m ./app/... ./runtime/... ./bundles/... ./ui/...

# The two halves of `make test`, to run apart. Engine tests are the ones that
# use runtime/testbed (testbed.Engine or testbed.Start): under -short they
# skip (never when CI is set), so test-fast needs no Docker engine.
test-fast:
	CGO_ENABLED=0 $(GO) test -short -count=1 -timeout 20m ./app/... ./runtime/... ./bundles/... ./ui/...
	$(GO) test -short -tags $(TAGS) -count=1 -timeout 20m ./cmd/...

# The packages that hold engine tests, whole (their unit tests run too).
ENGINE_PKGS = $(shell git grep -l -e 'testbed\.Engine' -e 'testbed\.Start' -- '*_test.go' | xargs -n1 dirname | sort -u | grep -v '^cmd/' | sed 's|^|./|')

test-engine: setup
	CGO_ENABLED=0 $(GO) test -count=1 -timeout 40m $(ENGINE_PKGS)
	$(GO) test -tags $(TAGS) -count=1 -timeout 20m ./cmd/...

test-race:
	$(GO) test -race -count=1 -timeout 40m ./...

vet:
	CGO_ENABLED=0 $(GO) vet ./app/... ./runtime/... ./bundles/... ./ui/...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi

# app/, runtime/ and bundles/ must not pull in Fyne; app/ and ui/ must not pull in the Docker SDK.
check-imports:
	@bad=$$($(GO) list -deps ./app/... ./runtime/... ./bundles/... | grep '^fyne.io/' || true); \
	  if [ -n "$$bad" ]; then echo "Fyne imported below ui/: $$bad"; exit 1; fi
	@bad=$$($(GO) list -deps ./app/... ./ui/... | grep -E "^github.com/(moby/moby|docker/docker)(/|$$)" || true); \
	  if [ -n "$$bad" ]; then echo "Docker SDK imported from app/ or ui/: $$bad"; exit 1; fi
	@echo "check-imports: ok"

bench: build
	$(GO) run ./cmd/duobox-bench -duobox ./$(BIN)

package: build
	bash packaging/package.sh

screenshots: build
	bash scripts/screenshots.sh

metadata-validate:
	desktop-file-validate packaging/$(APP_ID).desktop
	appstreamcli validate --no-net --explain packaging/$(APP_ID).metainfo.xml

install: build
	install -Dm755 $(BIN) $(DESTDIR)$(PREFIX)/bin/duobox
	install -Dm644 packaging/$(APP_ID).desktop $(DESTDIR)$(PREFIX)/share/applications/$(APP_ID).desktop
	install -Dm644 packaging/$(APP_ID).metainfo.xml $(DESTDIR)$(PREFIX)/share/metainfo/$(APP_ID).metainfo.xml
	install -Dm644 assets/icon.png $(DESTDIR)$(PREFIX)/share/icons/hicolor/256x256/apps/$(APP_ID).png

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/duobox $(DESTDIR)$(PREFIX)/share/applications/$(APP_ID).desktop \
	  $(DESTDIR)$(PREFIX)/share/metainfo/$(APP_ID).metainfo.xml $(DESTDIR)$(PREFIX)/share/icons/hicolor/256x256/apps/$(APP_ID).png

clean:
	rm -rf bin dist
