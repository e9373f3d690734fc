# Seamless: `make testbed` builds, installs missing system packages, runs the default scenario
# and prints its report; `make test` runs every test. Both work on a fresh Debian 12 machine.

SWIFT       ?= swift
SCENARIO    ?= Testbed/scenarios/voice-handoff.yaml
RUN_FLAGS   ?=
# System packages the product needs: C libraries (capture, codec, jitter buffer), pkg-config
# to find them, iproute2 for namespaces, procps for the tests' process checks, and the tools
# the tests check our figures against (tcpdump, tshark, GStreamer's Speex RTP payloader).
APT_PACKAGES := libpcap-dev libspeex-dev libspeexdsp-dev zlib1g-dev pkg-config iproute2 procps tcpdump tshark gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good iputils-ping

.PHONY: testbed test build deps clean validate format

testbed: build
	.build/release/testbed run $(SCENARIO) $(RUN_FLAGS)

build: deps
	$(SWIFT) build -c release --product peer
	$(SWIFT) build -c release --product testbed
	$(SWIFT) build -c release --product voice-bench

# One test at a time: the end-to-end tests run real peers, namespaces and captures against a
# scenario clock, and on a small machine tests running side by side starve each other's
# timelines (a CI run failed that way). Serially the whole suite takes under a minute.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --no-parallel

# Every shipped scenario must validate (also checked by the test suite).
validate: build
	@for f in Testbed/scenarios/*.yaml; do .build/release/testbed validate $$f || exit 1; done

# Installs only what is missing; needs root (or sudo) the first time.
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	fi

# The toolchain's formatter with the repository's .swift-format.
format:
	$(SWIFT) format -i -r Sources Tests Package.swift

clean:
	rm -rf .build
