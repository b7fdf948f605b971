# evchain: thin make front end over CMake. `make run` and `make test` do all the set-up.
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
BUILD_REL  ?= build-release
BUILD_TSAN ?= build-tsan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX     ?= /usr/local
FUZZ_SECONDS ?= 5
empty :=
space := $(empty) $(empty)
# Builds print only what matters (warnings, errors); pipefail keeps their exit status (the
# filter itself always succeeds: grep finding nothing to print must not hide a failed build).
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
QUIET := | { grep -v -E '^\[ *[0-9]+%\] (Built target|Building|Linking)' || true; }

.PHONY: all deps build build-release test test-normal test-asan test-tsan run bench fuzz fuzz-build install stress clean format

all: build

deps:
	@sh scripts/deps.sh

$(BUILD)/CMakeCache.txt:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null

build: deps $(BUILD)/CMakeCache.txt
	@cmake --build $(BUILD) -j $(JOBS) -- --no-print-directory -s $(QUIET)

$(BUILD_ASAN)/CMakeCache.txt:
	@cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DEVCHAIN_SANITIZE=ON >/dev/null

build-asan: deps $(BUILD_ASAN)/CMakeCache.txt
	@cmake --build $(BUILD_ASAN) -j $(JOBS) -- --no-print-directory -s $(QUIET)

test-normal: build
	@echo "== tests (normal build)"
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: build-asan
	@echo "== tests (AddressSanitizer + UndefinedBehaviorSanitizer)"
	@cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 EVCHAIN_SANITIZED=1 \
	  ctest --output-on-failure -j $(JOBS)

# ThreadSanitizer over the programs that run threads: HTTP servers calling into actors in
# parallel (also through `evchain run --http`), a durability wait beside the runtime lock, the
# disk backend's flusher, a child killed while its threads append (test_crash), the control
# thread of a serving runtime beside the one delivering (cli_serve). Only those are built.
TSAN_TESTS := test_http_actor test_actor test_http_server test_http_client test_core test_disk \
  test_crash cli_http cli_serve
$(BUILD_TSAN)/CMakeCache.txt:
	@cmake -S . -B $(BUILD_TSAN) -DCMAKE_BUILD_TYPE=Debug -DEVCHAIN_TSAN=ON >/dev/null

test-tsan: deps $(BUILD_TSAN)/CMakeCache.txt
	@echo "== tests (ThreadSanitizer: $(TSAN_TESTS))"
	@cmake --build $(BUILD_TSAN) -j $(JOBS) --target evchain_actors evchain_cli \
	  $(filter test_%,$(TSAN_TESTS)) \
	  -- --no-print-directory -s $(QUIET)
	@cd $(BUILD_TSAN) && TSAN_OPTIONS=halt_on_error=1:exitcode=66 EVCHAIN_SANITIZED=1 \
	  ctest --output-on-failure -j $(JOBS) -R '^($(subst $(space),|,$(TSAN_TESTS)))$$'

# -O3 (CMake's Release) sees through more code than -O2 and warns of more maybe-uninitialized
# variables: a build a user may pick must compile too (-Werror), so it is built, not run.
$(BUILD_REL)/CMakeCache.txt:
	@cmake -S . -B $(BUILD_REL) -DCMAKE_BUILD_TYPE=Release >/dev/null

build-release: deps $(BUILD_REL)/CMakeCache.txt
	@echo "== release build (-O3, compiled only)"
	@cmake --build $(BUILD_REL) -j $(JOBS) -- --no-print-directory -s $(QUIET)

test: test-normal test-asan test-tsan build-release fuzz-short

$(BUILD_FUZZ)/CMakeCache.txt:
	@CC=clang-14 cmake -S . -B $(BUILD_FUZZ) -DCMAKE_BUILD_TYPE=Debug -DEVCHAIN_FUZZ=ON >/dev/null

fuzz-build: deps $(BUILD_FUZZ)/CMakeCache.txt
	@cmake --build $(BUILD_FUZZ) -j $(JOBS) --target fuzzers -- --no-print-directory -s $(QUIET)

# A short run of every harness over its seed corpus; `make fuzz FUZZ_SECONDS=600` for long.
fuzz-short: fuzz-build
	@sh scripts/fuzz.sh $(BUILD_FUZZ) $(FUZZ_SECONDS)

fuzz: fuzz-build
	@sh scripts/fuzz.sh $(BUILD_FUZZ) $(if $(filter 5,$(FUZZ_SECONDS)),300,$(FUZZ_SECONDS))

run: build
	@sh scripts/demo.sh $(BUILD)

bench: build
	@sh scripts/bench.sh $(BUILD)

stress: build
	@EVCHAIN_STRESS=1 $(BUILD)/test_crash
	@EVCHAIN_STRESS=1 EVCHAIN_BUILD=$(BUILD) $(BUILD)/test_http_actor

install: build
	@cmake --install $(BUILD) --prefix $(PREFIX) >/dev/null && echo "installed into $(PREFIX)"

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ) $(BUILD_REL) $(BUILD_TSAN)
