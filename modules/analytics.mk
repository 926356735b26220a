# modules/analytics: the event log exported as GZIP NDJSON objects in
# Hive-style partitions under DATA/export/, and GET /v1/stats/daily
# (modules/analytics/README.md). In the default module list: it loads
# whenever it is in module_dir. Needs host ABI 1.3 (subscriber_hooks).

ANALYTICS_FLAT = modules/analytics/flat.h modules/analytics/flat.c \
	modules/analytics/record.c

pkglib_LTLIBRARIES += modules/analytics/analytics.la
modules_analytics_analytics_la_SOURCES = $(ANALYTICS_FLAT) \
	modules/analytics/an.h modules/analytics/analytics.c \
	modules/analytics/stats.c modules/analytics/export.h \
	modules/analytics/export.c
modules_analytics_analytics_la_CFLAGS = $(AM_CFLAGS) $(MODCFLAGS) \
	$(JANSSON_CFLAGS) $(ZLIB_CFLAGS)
modules_analytics_analytics_la_LDFLAGS = $(MODLDFLAGS)
modules_analytics_analytics_la_LIBADD = $(JANSSON_LIBS) $(ZLIB_LIBS)
EXTRA_DIST += modules/analytics/README.md

# Unit tests: the pure parts (no host), and the whole module against the
# fake host of tests/sdk (real files in a temporary directory).
ANALYTICS_UNIT_TESTS = modules/analytics/tests/test_flat \
	modules/analytics/tests/test_analytics
check_PROGRAMS += $(ANALYTICS_UNIT_TESTS)
TESTS += $(ANALYTICS_UNIT_TESTS)
ANALYTICS_UNIT_CFLAGS = $(UNITCFLAGS) -I$(top_srcdir)/modules/analytics \
	$(JANSSON_CFLAGS) $(ZLIB_CFLAGS)
ANALYTICS_UNIT_LDADD = $(CMOCKA_LIBS) $(JANSSON_LIBS) $(ZLIB_LIBS)

modules_analytics_tests_test_flat_SOURCES = \
	modules/analytics/tests/test_flat.c $(ANALYTICS_FLAT)
modules_analytics_tests_test_flat_CFLAGS = $(ANALYTICS_UNIT_CFLAGS)
modules_analytics_tests_test_flat_LDADD = $(ANALYTICS_UNIT_LDADD)
modules_analytics_tests_test_analytics_SOURCES = \
	modules/analytics/tests/test_analytics.c \
	tests/sdk/fake_host.h tests/sdk/fake_host.c \
	$(modules_analytics_analytics_la_SOURCES)
modules_analytics_tests_test_analytics_CFLAGS = \
	$(ANALYTICS_UNIT_CFLAGS) -I$(top_srcdir)/tests/sdk
modules_analytics_tests_test_analytics_LDADD = $(ANALYTICS_UNIT_LDADD)

# Integration: the real binary, over HTTP, with kill -9 in the middle.
TESTS += tests/integration/test_analytics.py
EXTRA_DIST += tests/integration/test_analytics.py
