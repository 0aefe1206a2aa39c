# wf — BitNet b1.58 ternary language models as Unix filters.
#
# Layout: bin/wf-NAME.c is one program; lib/*.c and kernels/*.c form libwf.a;
# t/unit/*.c are C unit tests driven by the bats suites in t/*.bats;
# fuzz/*.c are libFuzzer harnesses.  Objects go under $(O) (build/ by default,
# build-asan/ for check-asan), so an ASan tree never mixes with the normal one.

CC      ?= cc
O       ?= build
PREFIX  ?= /usr/local
DESTDIR ?=
FUZZTIME ?= 60
BATS    ?= bats
# make check TESTS=t/gguf.bats runs one suite
TESTS   ?=

OPT      ?= -O2
WARN     = -std=c11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
CPPFLAGS += -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Ilib -Ikernels
# No FMA contraction: kernels promise every variant's bits (kernels.h), and
# gcc and clang builds give the same results.
CFLAGS   += $(OPT) -g $(WARN) -ffp-contract=off
LDLIBS   += -lm -lpthread
# Linux before glibc 2.34 needs -lrt for shm_open.
LDLIBS   += -lrt

ARCH := $(shell $(CC) -dumpmachine 2>/dev/null)
# SIMD kernels are compiled per file with their own target flags and chosen at
# run time from CPU features, so the default build runs on any x86-64.
ifneq (,$(findstring x86_64,$(ARCH)))
SIMD_avx2   = -mavx2 -mfma -mf16c -mbmi2
SIMD_avxvnni = -mavx2 -mavxvnni -mfma -mf16c -mbmi2
SIMD_avx512 = -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx512dq -mfma -mf16c -mbmi2
endif

PROGS_SRC := $(wildcard bin/wf-*.c)
PROGS     := $(patsubst bin/%.c,$(O)/bin/%,$(PROGS_SRC))
LIB_SRC   := $(wildcard lib/*.c) $(wildcard kernels/*.c)
LIB_OBJ   := $(patsubst %.c,$(O)/%.o,$(LIB_SRC))
UNIT_SRC  := $(wildcard t/unit/*.c)
UNITS     := $(patsubst t/unit/%.c,$(O)/t/%,$(UNIT_SRC))
MAN1      := $(wildcard man/*.1)
MAN5      := $(wildcard man/*.5)
MAN7      := $(wildcard man/*.7)
LIBHDRS   := $(wildcard lib/*.h) $(wildcard kernels/*.h)
HDRS      := $(LIBHDRS) $(wildcard bin/*.h) $(wildcard t/unit/*.h)

all: $(PROGS) $(UNITS)

$(O)/libwf.a: $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@.$$$$ && $(AR) rcs $@.$$$$ $^ && mv -f $@.$$$$ $@

$(O)/lib/%.o: lib/%.c $(LIBHDRS)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@.$$$$.o $< && mv -f $@.$$$$.o $@

# kernels/foo_avx2.c gets $(SIMD_avx2), kernels/foo_avx512.c $(SIMD_avx512).
$(O)/kernels/%.o: kernels/%.c $(LIBHDRS)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SIMD_$(lastword $(subst _, ,$*))) -c -o $@.$$$$.o $< && mv -f $@.$$$$.o $@

$(O)/bin/%: bin/%.c $(O)/libwf.a $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@.$$$$ $< $(O)/libwf.a $(LDLIBS) && mv -f $@.$$$$ $@

$(O)/t/%: t/unit/%.c $(O)/libwf.a $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@.$$$$ $< $(O)/libwf.a $(LDLIBS) && mv -f $@.$$$$ $@

# The suite runs the programs from $(O)/bin and the unit tests from $(O)/t.
check: all
	WF_BUILD=$(CURDIR)/$(O) BATS=$(BATS) sh t/run $(TESTS)

check-asan:
	$(MAKE) O=build-asan CC=clang \
	  OPT="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  LDFLAGS="-fsanitize=address,undefined" check

# libFuzzer harnesses: fuzz/NAME.c defines LLVMFuzzerTestOneInput and links
# against a libwf.a built with clang, ASan+UBSan and fuzzer coverage.
FUZZ_SRC := $(wildcard fuzz/*.c)
FUZZERS  := $(patsubst fuzz/%.c,build-fuzz/fuzz/%,$(FUZZ_SRC))
FUZZ_SAN  = -fsanitize=address,undefined -fno-sanitize-recover=all

fuzzlib:
	$(MAKE) O=build-fuzz CC=clang OPT="-O1 -fsanitize=fuzzer-no-link $(FUZZ_SAN)" build-fuzz/libwf.a

build-fuzz/fuzz/%: fuzz/%.c fuzzlib $(HDRS)
	@mkdir -p $(@D)
	clang $(CPPFLAGS) $(WARN) -O1 -g -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $< build-fuzz/libwf.a $(LDLIBS)

fuzz: $(FUZZERS)
	@for f in $(FUZZERS); do \
	  n=$$(basename $$f); mkdir -p build-fuzz/corpus/$$n; \
	  if [ -d fuzz/corpus/$$n ]; then cp fuzz/corpus/$$n/* build-fuzz/corpus/$$n/ 2>/dev/null; fi; \
	  echo "fuzz: $$n for $(FUZZTIME)s"; \
	  $$f -max_total_time=$(FUZZTIME) -print_final_stats=1 build-fuzz/corpus/$$n || exit 1; \
	done

# aarch64 compile check of the portable code and the NEON kernels (no
# linking); needs Debian's libc6-dev-arm64-cross for the target's headers.
AARCH64_SYSROOT ?= /usr/aarch64-linux-gnu
check-aarch64:
	@for f in $(LIB_SRC) $(PROGS_SRC); do \
	  clang --target=aarch64-linux-gnu --sysroot=$(AARCH64_SYSROOT) -isystem $(AARCH64_SYSROOT)/include \
	    $(CPPFLAGS) -Ibin $(WARN) -O2 -c -o /dev/null $$f || exit 1; \
	done; echo "aarch64: all sources compile"

demo: all
	@sh examples/demo.sh $(O)

install: all
	mkdir -p $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 755 $(PROGS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(MAN1) $(DESTDIR)$(PREFIX)/share/man/man1/
	$(if $(MAN5),install -m 644 $(MAN5) $(DESTDIR)$(PREFIX)/share/man/man5/)
	$(if $(MAN7),install -m 644 $(MAN7) $(DESTDIR)$(PREFIX)/share/man/man7/)

clean:
	rm -rf build build-asan build-fuzz

.PHONY: all check check-asan fuzz check-aarch64 demo install clean fuzzlib
.SECONDARY:
