# modules/wordfilter: the example module of docs/MODULES.md (a word filter
# on chat messages), the module author kit's tests (ABI snapshot, the
# installed SDK, an out-of-tree build) and their files.
#
# wordfilter is not in the default module list: a deployment enables it
# with "modules": ["chat", "wordfilter"] in its config.

# --- the module, built as an out-of-tree author would build it
WORDFILTER_LOGIC = modules/wordfilter/match.h modules/wordfilter/match.c \
	modules/wordfilter/codec.h modules/wordfilter/codec.c

pkglib_LTLIBRARIES += modules/wordfilter/wordfilter.la
modules_wordfilter_wordfilter_la_SOURCES = $(WORDFILTER_LOGIC) \
	modules/wordfilter/wordfilter.h modules/wordfilter/wordfilter.c \
	modules/wordfilter/flag.c modules/wordfilter/project.c \
	modules/wordfilter/routes.c
modules_wordfilter_wordfilter_la_CFLAGS = $(AM_CFLAGS) $(MODCFLAGS) $(JANSSON_CFLAGS)
modules_wordfilter_wordfilter_la_LDFLAGS = $(MODLDFLAGS)
modules_wordfilter_wordfilter_la_LIBADD = $(JANSSON_LIBS)
EXTRA_DIST += modules/wordfilter/README.md docs/MODULES.md

# Unit tests: its pure logic (no host), and the whole module against the
# fake host of tests/sdk (no server, no storage, no threads).
WORDFILTER_UNIT_TESTS = modules/wordfilter/tests/test_match \
	modules/wordfilter/tests/test_codec \
	modules/wordfilter/tests/test_wordfilter
check_PROGRAMS += $(WORDFILTER_UNIT_TESTS)
TESTS += $(WORDFILTER_UNIT_TESTS)
WORDFILTER_UNIT_CFLAGS = $(UNITCFLAGS) -I$(top_srcdir)/modules/wordfilter

modules_wordfilter_tests_test_match_SOURCES = \
	modules/wordfilter/tests/test_match.c \
	modules/wordfilter/match.h modules/wordfilter/match.c
modules_wordfilter_tests_test_match_CFLAGS = $(WORDFILTER_UNIT_CFLAGS)
modules_wordfilter_tests_test_match_LDADD = $(CMOCKA_LIBS)
modules_wordfilter_tests_test_codec_SOURCES = \
	modules/wordfilter/tests/test_codec.c $(WORDFILTER_LOGIC)
modules_wordfilter_tests_test_codec_CFLAGS = $(WORDFILTER_UNIT_CFLAGS)
modules_wordfilter_tests_test_codec_LDADD = $(CMOCKA_LIBS) $(JANSSON_LIBS)
modules_wordfilter_tests_test_wordfilter_SOURCES = \
	modules/wordfilter/tests/test_wordfilter.c \
	tests/sdk/fake_host.h tests/sdk/fake_host.c \
	$(modules_wordfilter_wordfilter_la_SOURCES)
modules_wordfilter_tests_test_wordfilter_CFLAGS = $(WORDFILTER_UNIT_CFLAGS) \
	-I$(top_srcdir)/tests/sdk
modules_wordfilter_tests_test_wordfilter_LDADD = $(CMOCKA_LIBS) $(JANSSON_LIBS)

# --- ABI discipline: the layout of every public struct, pinned
check_PROGRAMS += tests/unit/abi/test_abi_snapshot
TESTS += tests/unit/abi/test_abi_snapshot
tests_unit_abi_test_abi_snapshot_SOURCES = tests/unit/abi/test_abi_snapshot.c
tests_unit_abi_test_abi_snapshot_CFLAGS = $(UNITCFLAGS)
tests_unit_abi_test_abi_snapshot_LDADD = $(CMOCKA_LIBS)

# --- the installed SDK: make install into a scratch DESTDIR, build modules
# out of tree with pkg-config only, load them into the installed binary;
# and wordfilter end to end with chat (tests/integration/test_sdk.py).
TESTS += tests/integration/test_sdk.py
EXTRA_DIST += tests/integration/test_sdk.py \
	tests/sdk/README.md tests/sdk/hello/Makefile tests/sdk/hello/hello.c
