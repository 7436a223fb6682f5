# overdue — the two commands of the quick start are `make run` and `make test`.
# Every target installs what it needs first (scripts/bootstrap, idempotent).

JOBS ?= $(shell nproc)
MAKEFLAGS += --no-print-directory
LISTEN ?= 127.0.0.1:8000
DATA_DIR ?= ./data
BIN := build/release/src/cli/overdue

.PHONY: all bootstrap build run test test-unit test-asan thread-safety fuzz-smoke check-deps bench format clean

all: build

bootstrap:
	@scripts/bootstrap

build: bootstrap
	@cmake --preset release >/dev/null
	@cmake --build build/release -j $(JOBS)

# Starts the server on the embedded default (SQLite in ./data); Ctrl-C stops it.
run: build
	@$(BIN) serve --listen $(LISTEN) --data-dir $(DATA_DIR)

# Every test: unit tests beside the code, end-to-end tests of the real binary, conformance.
test: build
	@ctest --test-dir build/release --output-on-failure -j 2 --timeout 600

test-unit: build
	@ctest --test-dir build/release --output-on-failure -j 2 -L unit

# The unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan: bootstrap
	@cmake --preset asan-ubsan >/dev/null
	@cmake --build build/asan-ubsan -j $(JOBS)
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir build/asan-ubsan --output-on-failure -j 2 -L unit

# clang with -Werror=thread-safety: checks every GUARDED_BY/REQUIRES annotation.
thread-safety: bootstrap
	@cmake --preset clang-tsa >/dev/null
	@cmake --build build/clang-tsa -j $(JOBS) --target overdue

fuzz-smoke: bootstrap
	@scripts/fuzz-smoke

check-deps:
	@python3 scripts/check-deps

bench: bootstrap
	@scripts/bootstrap --bench
	@cmake --preset release >/dev/null
	@cmake --build build/release -j $(JOBS)
	@bench/run-all.sh

format:
	@find src bench fuzz -name '*.cc' -o -name '*.h' | xargs clang-format -i

clean:
	rm -rf build
