# Test-only modules, including deliberately broken ones (built as real
# shared objects: -rpath forces libtool to make a .so).
TESTMODFLAGS = -module -avoid-version -shared -rpath $(abs_builddir)/tests/modules
check_LTLIBRARIES += tests/modules/good.la tests/modules/bad_major.la \
	tests/modules/newer_minor.la tests/modules/bad_tag.la \
	tests/modules/no_symbol.la tests/modules/init_fails.la \
	tests/modules/foreign_store.la tests/modules/dup_route.la
tests_modules_good_la_SOURCES = tests/modules/good.c
tests_modules_good_la_LDFLAGS = $(TESTMODFLAGS)
tests_modules_good_la_CFLAGS = $(AM_CFLAGS) $(MODCFLAGS)
tests_modules_bad_major_la_SOURCES = tests/modules/bad_major.c
tests_modules_bad_major_la_LDFLAGS = $(TESTMODFLAGS)
tests_modules_bad_major_la_CFLAGS = $(AM_CFLAGS) $(MODCFLAGS)
tests_modules_newer_minor_la_SOURCES = tests/modules/newer_minor.c
tests_modules_newer_minor_la_LDFLAGS = $(TESTMODFLAGS)
tests_modules_newer_minor_la_CFLAGS = $(AM_CFLAGS) $(MODCFLAGS)
tests_modules_bad_tag_la_SOURCES = tests/modules/bad_tag.c
tests_modules_bad_tag_la_LDFLAGS = $(TESTMODFLAGS)
tests_modules_bad_tag_la_CFLAGS = $(AM_CFLAGS) $(MODCFLAGS)
tests_modules_no_symbol_la_SOURCES = tests/modules/no_symbol.c
tests_modules_no_symbol_la_LDFLAGS = $(TESTMODFLAGS)
tests_modules_no_symbol_la_CFLAGS = $(AM_CFLAGS) $(MODCFLAGS)
tests_modules_init_fails_la_SOURCES = tests/modules/init_fails.c
tests_modules_init_fails_la_LDFLAGS = $(TESTMODFLAGS)
tests_modules_init_fails_la_CFLAGS = $(AM_CFLAGS) $(MODCFLAGS)
tests_modules_foreign_store_la_SOURCES = tests/modules/foreign_store.c
tests_modules_foreign_store_la_LDFLAGS = $(TESTMODFLAGS)
tests_modules_foreign_store_la_CFLAGS = $(AM_CFLAGS) $(MODCFLAGS)
tests_modules_dup_route_la_SOURCES = tests/modules/dup_route.c
tests_modules_dup_route_la_LDFLAGS = $(TESTMODFLAGS)
tests_modules_dup_route_la_CFLAGS = $(AM_CFLAGS) $(MODCFLAGS)

TESTMODDIR = -DTEST_MODDIR='"$(abs_builddir)/tests/modules/.libs"'

check_PROGRAMS += tests/unit/modhost/test_loader
TESTS += tests/unit/modhost/test_loader
tests_unit_modhost_test_loader_SOURCES = tests/unit/modhost/test_loader.c
tests_unit_modhost_test_loader_CFLAGS = $(UNITCFLAGS) $(TESTMODDIR)
tests_unit_modhost_test_loader_LDADD = $(UNITLIBS)

EXTRA_DIST += tests/integration/harness.py

TESTS += tests/integration/test_core.py
EXTRA_DIST += tests/integration/test_core.py

check_PROGRAMS += tests/unit/cli/test_config
TESTS += tests/unit/cli/test_config
tests_unit_cli_test_config_SOURCES = tests/unit/cli/test_config.c
tests_unit_cli_test_config_CFLAGS = $(UNITCFLAGS)
tests_unit_cli_test_config_LDADD = $(UNITLIBS)
