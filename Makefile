# Seamless: `make testbed` builds, installs missing system packages, runs the default scenario
# and prints its report; `make test` runs every test. Both work on a fresh Debian 12 machine.

SWIFT       ?= swift
SCENARIO    ?= Testbed/scenarios/voice-handoff.yaml
RUN_FLAGS   ?=
# System packages the product needs: C libraries (capture, codec, jitter buffer), pkg-config
# to find them, iproute2 for namespaces, procps for the tests' process checks, and the tools
# the tests check our figures against (tcpdump, tshark, GStreamer's Speex RTP payloader,
# binutils' readelf).
APT_PACKAGES := binutils libpcap-dev libspeex-dev libspeexdsp-dev zlib1g-dev pkg-config iproute2 procps tcpdump tshark gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good iputils-ping

.PHONY: testbed test build deps clean validate format lint fuzz fuzz-build fuzz-smoke bench bench-update bench-smoke bench-scale

testbed: build
	.build/release/testbed run $(SCENARIO) $(RUN_FLAGS)

# Release binaries carry the Swift runtime and Foundation inside (--static-swift-stdlib): a peer
# then starts with 9 shared libraries instead of 23, and 256 peers are ready in 1.45 s instead
# of 2.7-3.4 s, each at 23.4 MB peak RSS instead of 28.3 (scale-256).
RELEASE := -c release --static-swift-stdlib

build: deps
	$(SWIFT) build $(RELEASE) --product peer
	$(SWIFT) build $(RELEASE) --product testbed
	$(SWIFT) build $(RELEASE) --product voice-bench

# One test at a time: the end-to-end tests run real peers, namespaces and captures against a
# scenario clock, and on a small machine tests running side by side starve each other's
# timelines (a CI run failed that way). Serially the whole suite takes under a minute.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --no-parallel

# Fuzzing (Fuzz/): one libFuzzer executable per decoder and parser, built with the toolchain's
# -sanitize=fuzzer,address into .build-fuzz. `make fuzz` runs each for FUZZ_SECONDS on a working
# copy of its corpus, then merges what found new coverage into Fuzz/Corpus/<target>; a crash
# leaves its input in Fuzz/Regressions/<target>/ (commit it: `make test` replays it).
# `make fuzz-smoke` (CI) runs each for FUZZ_SMOKE_SECONDS on the committed corpus, writing nothing.
FUZZ_TARGETS       := pcap pcapng rtp chord relay mobility game event-line peer-command report scenario profile
FUZZ_SECONDS       ?= 600
FUZZ_SMOKE_SECONDS ?= 4
FUZZ_RUN_FLAGS     := -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1

fuzz-build: deps
	cd Fuzz && $(SWIFT) build -c release --scratch-path ../.build-fuzz -Xswiftc -sanitize=fuzzer,address

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p .build-fuzz/corpus/$$t Fuzz/Regressions/$$t; \
	  echo "fuzz-$$t: $(FUZZ_SECONDS) s"; \
	  .build-fuzz/release/fuzz-$$t .build-fuzz/corpus/$$t Fuzz/Corpus/$$t $(FUZZ_RUN_FLAGS) \
	    -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=Fuzz/Regressions/$$t/ 2> .build-fuzz/fuzz-$$t.log \
	    || { tail -40 .build-fuzz/fuzz-$$t.log; exit 1; }; \
	  grep -E "^stat::(number_of_executed_units|peak_rss_mb)" .build-fuzz/fuzz-$$t.log; \
	  .build-fuzz/release/fuzz-$$t -merge=1 Fuzz/Corpus/$$t .build-fuzz/corpus/$$t 2>/dev/null; \
	done

fuzz-smoke: fuzz-build
	@work=$$(mktemp -d); trap 'rm -rf "$$work"' EXIT; \
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p $$work/$$t; \
	  .build-fuzz/release/fuzz-$$t $$work/$$t Fuzz/Corpus/$$t $(FUZZ_RUN_FLAGS) \
	    -max_total_time=$(FUZZ_SMOKE_SECONDS) -artifact_prefix=$$work/ 2> $$work/$$t.log \
	    || { echo "fuzz-$$t found a crash:"; tail -40 $$work/$$t.log; exit 1; }; \
	  echo "fuzz-$$t: $$(grep -E '^stat::number_of_executed_units' $$work/$$t.log | cut -d: -f4 | tr -d ' ') runs in $(FUZZ_SMOKE_SECONDS) s, no crash"; \
	done

# Benchmarks (Benchmarks/, a package on ordo-one/benchmark): the analyser, the wire codecs, the
# relay's forwarding path, the link emulator and the DHT core. `make bench` runs them all and
# checks each p90 against the thresholds committed in Benchmarks/Thresholds (time within 25 %,
# allocations within 1 %): a regression fails; an improvement beyond them says to record it with
# `make bench-update`. `make bench-smoke` (CI) runs each a few iterations and checks only the
# allocations, which do not depend on the machine's load. `make bench-scale` prints the
# scenario figures of the scale goals (start-up, memory, kernel drops, DHT bytes per peer).
BENCH := cd Benchmarks && $(SWIFT) package

# The tool exits 1 both for a regression and for an improvement beyond the tolerance; only its
# output tells them apart. $(1): extra options; $(2): what to say of an improvement.
define bench_check
@out=$$(mktemp); trap 'rm -f "$$out"' EXIT; \
$(BENCH) benchmark thresholds check --no-progress $(1) > "$$out" 2>&1; status=$$?; cat "$$out"; \
if [ $$status != 0 ] && grep -q benchmarkThresholdImprovement "$$out" && ! grep -q benchmarkThresholdRegression "$$out"; then \
  echo "$(2)"; \
elif [ $$status != 0 ]; then exit $$status; fi
endef

bench: deps
	$(call bench_check,,bench: better than the thresholds beyond the tolerance; record them: make bench-update)

bench-update: deps
	$(BENCH) --allow-writing-to-package-directory benchmark thresholds update --no-progress

bench-smoke: export SEAMLESS_BENCH_SMOKE = 1
bench-smoke: deps
	$(call bench_check,--metric mallocCountTotal,bench-smoke: fewer allocations than the thresholds; record them: make bench-update)

bench-scale: build
	Benchmarks/scale-figures.sh

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

# The style of .swift-format, checked (CI runs it): `make format` mends most of what it finds.
lint:
	$(SWIFT) format lint --strict -r Sources Tests Package.swift

clean:
	rm -rf .build
