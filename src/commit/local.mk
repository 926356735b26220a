# src/commit — the writer thread and group commit.
src_libchatd_a_SOURCES += src/commit/commit.h src/commit/commit.c

check_PROGRAMS += tests/unit/commit/test_commit
TESTS += tests/unit/commit/test_commit
tests_unit_commit_test_commit_SOURCES = tests/unit/commit/test_commit.c
tests_unit_commit_test_commit_CFLAGS = $(UNITCFLAGS)
tests_unit_commit_test_commit_LDADD = $(UNITLIBS)
