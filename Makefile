# pen — build, test and install.
PREFIX ?= /usr/local
SWIFT ?= swift
PYTHON ?= python3
OUT := out/bin
# Everything pen needs at build and run time, from Debian's archive.
APT_PACKAGES := qemu-system-x86 qemu-utils mmdebstrap libarchive-dev libext2fs-dev libssl-dev \
	e2fsprogs zstd cpio pkg-config python3-pytest ca-certificates debian-archive-keyring uidmap binutils passt \
	erofs-utils busybox-static
# (busybox-static: the VM tests give a guest busybox's `ip`, which the base image lacks.)
# What `make bench` also needs: virtme-ng's initramfs (busybox, above; depmod) and the reference
# image tools pen's root image is measured against (mkfs.erofs, tar2sqfs).
BENCH_APT_PACKAGES := kmod squashfs-tools-ng python3-venv
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build image test unit-test vm-test install uninstall clean shell bench bench-deps faults reference

all: build

deps:
	$(SUDO) apt-get update -q
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $(APT_PACKAGES)

# The CLI (release) and the guest init (release, fully static, stripped) side by side:
# pen finds PenGuestInit next to its own executable.
build:
	$(SWIFT) build -c release --product pen
	$(SWIFT) build -c release --scratch-path .build-init --product PenGuestInit \
		--static-swift-stdlib -Xswiftc -static-executable
	mkdir -p $(OUT)
	install -m 0755 .build/release/pen $(OUT)/pen
	install -m 0755 .build-init/release/PenGuestInit $(OUT)/PenGuestInit
	strip $(OUT)/PenGuestInit
	rm -rf out/share/pen/profiles && mkdir -p out/share/pen/profiles
	install -m 0644 profiles/*.toml out/share/pen/profiles/

test: build image unit-test vm-test

# The base image in the shared test cache (.build-images): built from nothing on a fresh clone,
# reused while its inputs are unchanged. Unit tests read the kernel package and root from it.
TEST_IMAGES := $(CURDIR)/.build-images
image: build
	PEN_IMAGES=$(TEST_IMAGES) PEN_HOME=$(CURDIR)/.build-images-home $(OUT)/pen image base

unit-test:
	PEN_TEST_IMAGES=$(TEST_IMAGES) PEN_TEST_DOWNLOAD=1 $(SWIFT) test

# VM tests boot real VMs (TCG here) with the binaries in out/bin, one at a time.
vm-test:
	PEN_BIN=$(CURDIR)/$(OUT)/pen PEN_TEST_IMAGES=$(TEST_IMAGES) $(PYTHON) -m pytest -v -p no:cacheprovider Tests/vm

# Benchmarks with baselines from the same run (bench/run.py); writes bench/results.json.
bench: image bench-deps
	PEN_BIN=$(CURDIR)/$(OUT)/pen PEN_BENCH_IMAGES=$(TEST_IMAGES) $(PYTHON) bench/run.py

bench-deps:
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $(BENCH_APT_PACKAGES) || \
		($(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $(BENCH_APT_PACKAGES))

# Fault injection with counts: the fault tests, each fault repeated PEN_FAULT_RUNS (5) times;
# writes bench/faults.json.
faults: image
	PEN_BIN=$(CURDIR)/$(OUT)/pen PEN_TEST_IMAGES=$(TEST_IMAGES) $(PYTHON) bench/faults.py

shell: build
	$(OUT)/pen shell dev

# Shell completions and the man page, generated from the commands by swift-argument-parser.
REFERENCE := out/share
reference: build
	mkdir -p $(REFERENCE)/man/man1 $(REFERENCE)/completions
	$(SWIFT) package plugin --allow-writing-to-package-directory generate-manual --output-directory $(REFERENCE)/man/man1
	$(OUT)/pen --generate-completion-script bash > $(REFERENCE)/completions/pen.bash
	$(OUT)/pen --generate-completion-script zsh > $(REFERENCE)/completions/_pen
	$(OUT)/pen --generate-completion-script fish > $(REFERENCE)/completions/pen.fish

install: build reference
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(OUT)/pen $(OUT)/PenGuestInit $(DESTDIR)$(PREFIX)/bin/
	install -d $(DESTDIR)$(PREFIX)/share/pen/profiles
	install -m 0644 profiles/*.toml $(DESTDIR)$(PREFIX)/share/pen/profiles/
	install -D -m 0644 $(REFERENCE)/man/man1/pen.1 $(DESTDIR)$(PREFIX)/share/man/man1/pen.1
	install -D -m 0644 $(REFERENCE)/completions/pen.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/pen
	install -D -m 0644 $(REFERENCE)/completions/_pen $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_pen
	install -D -m 0644 $(REFERENCE)/completions/pen.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/pen.fish

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/pen $(DESTDIR)$(PREFIX)/bin/PenGuestInit
	rm -rf $(DESTDIR)$(PREFIX)/share/pen
	rm -f $(DESTDIR)$(PREFIX)/share/man/man1/pen.1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions/pen \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions/_pen $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/pen.fish

clean:
	rm -rf .build .build-init out
