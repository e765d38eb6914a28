# netcore — build, install, demo and test.
#   make            library (release) and C examples
#   make demo       build everything (library, C examples, Python and Node
#                   bindings), run the chat demo
#   make test       build everything, run every test (Rust, header check, C,
#                   C with sanitizers, valgrind, Python, Node, benchmark smoke run)
#   make install PREFIX=/some/dir
#   make header     regenerate include/netcore.h after changing ffi/src
#   make fuzz       every fuzz target with many cases (a few minutes)
#   make soak       10 minutes of client swarms against the C, Python and Node
#                   echo servers and the asyncio and net layers, then 10 more
#                   over TLS; writes SOAK.md (not part of make test)

PREFIX   ?= /usr/local
CARGO    ?= cargo
CC       ?= cc
VERSION  := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml)
RELEASE  := target/release
BUILD    := build
STATIC_LIBS := -lgcc_s -lutil -lrt -lpthread -lm -ldl
EXAMPLE_CFLAGS := -std=c11 -Wall -Wextra -Werror -pedantic -O2 -Iinclude
EXAMPLES := echo_server echo_client chat_server udp_echo tls_echo_server tls_client https_server starttls_server unix_echo_server adopt_echo_server multicore_echo_server
TEST_PREFIX := $(CURDIR)/$(BUILD)/prefix

.PHONY: all lib examples bindings header check-header install demo test test-rust test-c test-c-sanitize test-valgrind test-python test-node test-packages fuzz soak clean

all: lib examples

lib:
	$(CARGO) build --release -p netcore-ffi

# Examples link the static library: they run from anywhere without LD_LIBRARY_PATH.
examples: lib
	@mkdir -p $(BUILD)/examples
	@for ex in $(EXAMPLES); do \
	  echo "cc examples/c/$$ex.c"; \
	  $(CC) $(EXAMPLE_CFLAGS) examples/c/$$ex.c -o $(BUILD)/examples/$$ex $(RELEASE)/libnetcore.a $(STATIC_LIBS) || exit 1; \
	done

header:
	$(CARGO) run -q -p gen-header

check-header:
	$(CARGO) run -q -p gen-header -- --check

install: lib
	install -d $(PREFIX)/lib/pkgconfig $(PREFIX)/include
	install -m 644 include/netcore.h $(PREFIX)/include/netcore.h
	install -m 644 $(RELEASE)/libnetcore.a $(PREFIX)/lib/libnetcore.a
	install -m 755 $(RELEASE)/libnetcore.so $(PREFIX)/lib/libnetcore.so.$(VERSION)
	ln -sf libnetcore.so.$(VERSION) $(PREFIX)/lib/libnetcore.so.0
	ln -sf libnetcore.so.0 $(PREFIX)/lib/libnetcore.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' netcore.pc.in > $(PREFIX)/lib/pkgconfig/netcore.pc

demo: all bindings
	python3 examples/demo.py $(BUILD)/examples

# The Python package (into build/venv-python) and the Node addon, built from source.
bindings: lib
	bash bindings/python/test.sh --build-only
	bash bindings/node/test.sh --build-only

test: all check-header test-rust test-c test-c-sanitize test-valgrind test-python test-node test-packages bench-smoke

# The last step builds the C ABI without TLS: its TLS functions exist and say so.
test-rust:
	$(CARGO) test --workspace --release
	$(CARGO) test --release -p netcore-ffi --no-default-features --test tls_unsupported
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps -p netcore-core

# The C tests build against the installed header and shared library, found
# through pkg-config, as a user's program would.
C_TESTS_CC = $(CC) -std=c11 -Wall -Wextra -Werror -pedantic -O1 -g tests/c/*.c \
	  $$(PKG_CONFIG_PATH=$(TEST_PREFIX)/lib/pkgconfig pkg-config --cflags --libs netcore) \
	  -lpthread -Wl,-rpath,$(TEST_PREFIX)/lib

# The TLS tests run the C examples (NC_EXAMPLES_DIR).
# openssl (the certificates, s_client, s_server) and curl: installed by
# tests/need-commands.sh when missing (as root), else it says what to install.
test-c: examples
	bash tests/need-commands.sh openssl curl
	$(MAKE) --no-print-directory install PREFIX=$(TEST_PREFIX)
	@mkdir -p $(BUILD)/tests
	$(C_TESTS_CC) -o $(BUILD)/tests/c_tests
	NC_EXAMPLES_DIR=$(BUILD)/examples $(BUILD)/tests/c_tests

# The whole C suite again, its code built with AddressSanitizer and
# UndefinedBehaviorSanitizer (gcc's libasan/libubsan: Debian's gcc depends on
# them), linked against the normal release library. ASan replaces malloc for
# the whole process, so it also sees the library's heap use through the API,
# and LeakSanitizer checks at exit: it reports nothing for the library's
# globals (they stay reachable), so no suppression file is needed. The
# library itself is not instrumented: Rust's sanitizers need a nightly
# toolchain (-Zsanitizer), which this project's stable toolchain cannot use.
# Its own binary: ASan and valgrind cannot run in one process. NC_TEST_SLOW
# scales the suite's hang guards for the slower instrumented code.
test-c-sanitize: examples
	bash tests/need-commands.sh openssl curl
	$(MAKE) --no-print-directory install PREFIX=$(TEST_PREFIX)
	@mkdir -p $(BUILD)/tests-sanitize
	$(C_TESTS_CC) -fsanitize=address,undefined -fno-sanitize-recover=all \
	  -fno-omit-frame-pointer -o $(BUILD)/tests-sanitize/c_tests
	ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1 \
	  UBSAN_OPTIONS=print_stacktrace=1 NC_TEST_SLOW=3 NC_EXAMPLES_DIR=$(BUILD)/examples \
	  $(BUILD)/tests-sanitize/c_tests

# A representative subset under valgrind: every API path but the big transfers.
test-valgrind: test-c
	NC_EXAMPLES_DIR=$(BUILD)/examples valgrind --error-exitcode=1 --leak-check=full \
	  --errors-for-leak-kinds=definite --suppressions=tests/c/valgrind.supp \
	  --quiet $(BUILD)/tests/c_tests --quick

# Builds the Python package into build/venv-python, runs pytest and mypy.
test-python: all
	bash bindings/python/test.sh

# Builds the Node addon from source (npm ci), runs node --test and tsc --strict.
test-node: all
	bash bindings/node/test.sh

# The wheel and the npm tarball install and run where no Rust toolchain is
# on PATH (after test-python and test-node built them).
test-packages: test-python test-node
	bash tests/packaging/install.sh

# Fuzz targets: proptest properties in the test suites (stable Rust has no
# libFuzzer). `make test` runs each with its own small default; `make fuzz`
# runs each with many cases (a few minutes in all) and prints the executions
# per target. FUZZ_CASES=N runs N cases of every target instead.
#   package:target:cases
FUZZ_TARGETS := netcore-core:fuzz_parsing:1000000 netcore-ffi:fuzz_c_api:100000 netcore-core:fuzz_framing:20000
fuzz:
	@mkdir -p $(BUILD)/fuzz
	@for spec in $(FUZZ_TARGETS); do \
	  pkg=$${spec%%:*}; rest=$${spec#*:}; target=$${rest%%:*}; cases=$${FUZZ_CASES:-$${rest#*:}}; \
	  dir=$$(echo $$pkg | sed 's/netcore-//'); \
	  if [ ! -f $$dir/tests/$$target.rs ]; then echo "fuzz $$target: not present, skipped"; continue; fi; \
	  echo "fuzz $$target: $$cases cases ..."; \
	  NETCORE_FUZZ_CASES=$$cases $(CARGO) test -q --release -p $$pkg --test $$target -- --nocapture \
	    > $(BUILD)/fuzz/$$target.log 2>&1 || { tail -n 60 $(BUILD)/fuzz/$$target.log; exit 1; }; \
	  grep '^fuzz ' $(BUILD)/fuzz/$$target.log; \
	done

# Soak test (bench/soak.py): SOAK_SECS seconds (default 600) of SOAK_CONNS
# (default 50) clients per server with random sizes, pauses, half-closes,
# resets and reconnects against the C, Python and Node echo servers and the
# same servers on netcore.aio and the `net` layer; then the same over TLS
# (SOAK_TLS=1). Every byte checked, server RSS sampled every second. Writes
# SOAK.md (short runs: build/soak/SOAK.md). Not part of `make test`.
soak: all bindings
	python3 bench/soak.py
	SOAK_TLS=1 python3 bench/soak.py

clean:
	$(CARGO) clean
	rm -rf $(BUILD)

# Benchmark suite against libuv, asyncio, uvloop and Node's net, and over TLS against OpenSSL,
# asyncio/uvloop ssl= and Node tls (bench/run.py):
#   make bench         full run (~40 min, half of it TLS), regenerates bench/RESULTS.md and bench/chart.png
#   make bench-smoke   seconds-long run of every code path; non-zero exit on any error
.PHONY: bench bench-smoke
bench:
	python3 bench/run.py

bench-smoke:
	python3 bench/run.py --smoke
