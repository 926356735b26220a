# src/evlog — the LMDB environment, the append-only log and the stores.
src_libchatd_a_SOURCES += src/evlog/evlog.h src/evlog/internal.h \
	src/evlog/evlog.c src/evlog/txn.c src/evlog/codec.c src/evlog/log.c \
	src/evlog/batch.c src/evlog/store.c src/evlog/backup.c src/evlog/views.c \
	src/evlog/vspace.c

check_PROGRAMS += tests/unit/evlog/test_evlog
TESTS += tests/unit/evlog/test_evlog
tests_unit_evlog_test_evlog_SOURCES = tests/unit/evlog/test_evlog.c \
	tests/unit/evlog/testdir.h
tests_unit_evlog_test_evlog_CFLAGS = $(UNITCFLAGS)
tests_unit_evlog_test_evlog_LDADD = $(UNITLIBS)

check_PROGRAMS += tests/unit/evlog/test_views
TESTS += tests/unit/evlog/test_views
tests_unit_evlog_test_views_SOURCES = tests/unit/evlog/test_views.c \
	tests/unit/evlog/testdir.h
tests_unit_evlog_test_views_CFLAGS = $(UNITCFLAGS)
tests_unit_evlog_test_views_LDADD = $(UNITLIBS)

check_PROGRAMS += tests/unit/evlog/test_codec
TESTS += tests/unit/evlog/test_codec
tests_unit_evlog_test_codec_SOURCES = tests/unit/evlog/test_codec.c
tests_unit_evlog_test_codec_CFLAGS = $(UNITCFLAGS)
tests_unit_evlog_test_codec_LDADD = $(UNITLIBS)

check_PROGRAMS += tests/unit/evlog/test_store
TESTS += tests/unit/evlog/test_store
tests_unit_evlog_test_store_SOURCES = tests/unit/evlog/test_store.c \
	tests/unit/evlog/testdir.h
tests_unit_evlog_test_store_CFLAGS = $(UNITCFLAGS)
tests_unit_evlog_test_store_LDADD = $(UNITLIBS)

check_PROGRAMS += tests/unit/evlog/test_vspace
TESTS += tests/unit/evlog/test_vspace
tests_unit_evlog_test_vspace_SOURCES = tests/unit/evlog/test_vspace.c \
	tests/unit/evlog/testdir.h
tests_unit_evlog_test_vspace_CFLAGS = $(UNITCFLAGS)
tests_unit_evlog_test_vspace_LDADD = $(UNITLIBS)

# The benchmark of the storage core (not run by `make check`).
noinst_PROGRAMS += bench/evlog_bench
bench_evlog_bench_SOURCES = bench/evlog_bench.c
bench_evlog_bench_CFLAGS = $(AM_CFLAGS) $(DEPCFLAGS)
bench_evlog_bench_LDADD = src/libchatd.a $(DEPLIBS)
