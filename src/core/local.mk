src_libchatd_a_SOURCES += src/core/core.h src/core/status.c src/core/clock.c \
	src/core/text.c src/core/log.c \
	src/crypto/crypto.h src/crypto/crypto.c

check_PROGRAMS += tests/unit/core/test_core
TESTS += tests/unit/core/test_core
tests_unit_core_test_core_SOURCES = tests/unit/core/test_core.c
tests_unit_core_test_core_CFLAGS = $(UNITCFLAGS)
tests_unit_core_test_core_LDADD = $(UNITLIBS)
