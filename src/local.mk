# The host: everything but main.c goes into one static library that the
# binary and the unit tests link.
noinst_LIBRARIES += src/libchatd.a
src_libchatd_a_SOURCES =
src_libchatd_a_CFLAGS = $(AM_CFLAGS) $(DEPCFLAGS)

bin_PROGRAMS += src/chatd
src_chatd_SOURCES = src/main.c
src_chatd_CFLAGS = $(AM_CFLAGS) $(DEPCFLAGS)
src_chatd_LDADD = src/libchatd.a $(DEPLIBS)

# Unit tests: cmocka programs linked against the host library.
UNITCFLAGS = $(AM_CFLAGS) $(DEPCFLAGS) $(CMOCKA_CFLAGS)
UNITLIBS = src/libchatd.a $(DEPLIBS) $(CMOCKA_LIBS)

include src/core/local.mk
include src/evlog/local.mk
include src/commit/local.mk
include src/bus/local.mk
include src/json/local.mk
include src/metrics/local.mk
include src/http/local.mk
include src/ws/local.mk
include src/modhost/local.mk
include src/identity/local.mk
include src/feed/local.mk
include src/cli/local.mk
