# src/metrics
src_libchatd_a_SOURCES += src/metrics/metrics.h src/metrics/internal.h \
	src/metrics/metrics.c src/metrics/render.c

check_PROGRAMS += tests/unit/metrics/test_metrics
TESTS += tests/unit/metrics/test_metrics
tests_unit_metrics_test_metrics_SOURCES = tests/unit/metrics/test_metrics.c
tests_unit_metrics_test_metrics_CFLAGS = $(UNITCFLAGS)
tests_unit_metrics_test_metrics_LDADD = $(UNITLIBS)
