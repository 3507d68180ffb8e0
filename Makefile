#-------------------------------------------------------------------------
#
# Makefile for revrx: the server module (PGXS), the agent, tests and demo.
#
#   make            build the module and revrx-agent
#   make install    install both into the server found by pg_config
#   make test       install missing packages, build, install, run every test
#                   (on PostgreSQL 15 here, and the main paths on 17 and 18)
#   make test-matrix every test but fuzzing on PostgreSQL 17 and 18, each in
#                   a Debian root (scripts/matrix.sh)
#   make demo       install missing packages, build, run the end-to-end demo
#   make fuzz       build and run the libFuzzer targets (FUZZ_SECONDS each)
#
#-------------------------------------------------------------------------

MODULE_big = revrx
OBJS = \
	extension/revrx.o \
	extension/settings.o \
	extension/shmem.o \
	extension/spool_read.o \
	extension/spool_write.o \
	extension/fileutil.o \
	extension/archive.o \
	extension/lookahead.o \
	extension/status.o \
	extension/declaration.o \
	extension/backup.o \
	extension/backup_sql.o \
	extension/backup_state.o \
	extension/catalog.o \
	extension/cron.o \
	extension/manifest.o \
	extension/worker.o \
	extension/wal_export.o \
	extension/spool_meta.o \
	extension/restore_point.o \
	extension/fingerprint.o \
	extension/walsummary.o \
	common/sha256.o \
	common/chunk_digest.o \
	common/crypto.o \
	common/compress.o \
	common/object.o \
	common/walname.o \
	common/spool.o

EXTENSION = revrx
# Every released version's script and the update scripts between them
# (revrx.control says which one CREATE EXTENSION installs).
DATA = sql/revrx--0.1.sql sql/revrx--0.2.sql sql/revrx--0.1--0.2.sql
PGFILEDESC = "revrx - disaster recovery for PostgreSQL"

PG_CPPFLAGS = -I$(srcdir)/common -I$(srcdir)/extension
SHLIB_LINK = -lzstd -llz4 -lz -lcrypto -lxxhash

# pg_regress runs against a throwaway instance with the module preloaded
# (tests/regress.conf); there is no installcheck against a running server.
REGRESS = revrx_backup revrx_sql revrx_upgrade
REGRESS_OPTS = --temp-config=$(srcdir)/tests/regress.conf
NO_INSTALLCHECK = 1

# Rebuild what includes a changed header (extension/*.h, common/*.h).
override autodepend = yes

# No LLVM bitcode for JIT inlining: nothing here is worth inlining into
# queries, and it would make clang a build dependency.
override with_llvm = no

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

all: agent

agent:
	$(MAKE) -C agent PG_CONFIG=$(PG_CONFIG)

install: install-agent

install-agent: agent
	$(MAKE) -C agent install PG_CONFIG=$(PG_CONFIG)

clean: clean-agent

clean-agent:
	$(MAKE) -C agent clean

deps:
	scripts/install-deps.sh

test: deps
	$(MAKE) all
	$(MAKE) install
	tests/run-tests.sh

test-matrix:
	MATRIX_TAP_TESTS= scripts/matrix.sh

demo: deps
	$(MAKE) all
	$(MAKE) install
	scripts/demo.sh

fuzz: deps
	tests/fuzz/run-fuzz.sh

clean: clean-fuzz

clean-fuzz:
	$(MAKE) -C tests/fuzz clean

.PHONY: agent install-agent clean-agent deps test test-matrix demo
.PHONY: fuzz clean-fuzz
