# Fuzz targets (tests/fuzz/README.md). Without --enable-fuzzing each target
# is linked with replay.c and `make check` replays its corpus; with it
# (CC=clang) they are libFuzzer programs, run by `scripts/dev fuzz`.
FUZZ_TARGETS = tests/fuzz/fuzz_utf8 tests/fuzz/fuzz_codec \
	tests/fuzz/fuzz_chat_json tests/fuzz/fuzz_analytics_record \
	tests/fuzz/fuzz_ws_tracker tests/fuzz/fuzz_http_router \
	tests/fuzz/fuzz_http_auth tests/fuzz/fuzz_chat_query
check_PROGRAMS += $(FUZZ_TARGETS)
EXTRA_DIST += tests/fuzz/README.md tests/fuzz/corpus tests/fuzz/make_seeds.py

if FUZZING
FUZZ_DRIVER =
else
TESTS += $(FUZZ_TARGETS)
check_LIBRARIES = tests/fuzz/libreplay.a
tests_fuzz_libreplay_a_SOURCES = tests/fuzz/replay.c tests/fuzz/fuzz.h
tests_fuzz_libreplay_a_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFUZZ_CORPUS_DIR='"$(abs_top_srcdir)/tests/fuzz/corpus"'
FUZZ_DRIVER = tests/fuzz/libreplay.a
endif

# The code under test is compiled into each target (not taken from
# libchatd.a or a module), so libFuzzer's coverage instrumentation sees it.
FUZZTARGETCFLAGS = $(AM_CFLAGS) $(FUZZ_CFLAGS) $(JANSSON_CFLAGS) $(XXHASH_CFLAGS)
FUZZTARGETLDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)

tests_fuzz_fuzz_utf8_SOURCES = tests/fuzz/fuzz_utf8.c tests/fuzz/fuzz.h \
	src/core/text.c $(CHAT_LOGIC)
tests_fuzz_fuzz_utf8_CFLAGS = $(FUZZTARGETCFLAGS) -I$(top_srcdir)/modules/chat
tests_fuzz_fuzz_utf8_LDFLAGS = $(FUZZTARGETLDFLAGS)
tests_fuzz_fuzz_utf8_LDADD = $(FUZZ_DRIVER) $(JANSSON_LIBS) $(XXHASH_LIBS)

tests_fuzz_fuzz_codec_SOURCES = tests/fuzz/fuzz_codec.c tests/fuzz/fuzz.h \
	src/evlog/codec.c src/core/text.c
tests_fuzz_fuzz_codec_CFLAGS = $(FUZZTARGETCFLAGS)
tests_fuzz_fuzz_codec_LDFLAGS = $(FUZZTARGETLDFLAGS)
tests_fuzz_fuzz_codec_LDADD = $(FUZZ_DRIVER) $(XXHASH_LIBS)

tests_fuzz_fuzz_chat_json_SOURCES = tests/fuzz/fuzz_chat_json.c \
	tests/fuzz/fuzz.h src/core/text.c $(CHAT_LOGIC)
tests_fuzz_fuzz_chat_json_CFLAGS = $(FUZZTARGETCFLAGS) \
	-I$(top_srcdir)/modules/chat
tests_fuzz_fuzz_chat_json_LDFLAGS = $(FUZZTARGETLDFLAGS)
tests_fuzz_fuzz_chat_json_LDADD = $(FUZZ_DRIVER) $(JANSSON_LIBS) $(XXHASH_LIBS)

tests_fuzz_fuzz_analytics_record_SOURCES = \
	tests/fuzz/fuzz_analytics_record.c tests/fuzz/fuzz.h $(ANALYTICS_FLAT)
tests_fuzz_fuzz_analytics_record_CFLAGS = $(FUZZTARGETCFLAGS) \
	-I$(top_srcdir)/modules/analytics
tests_fuzz_fuzz_analytics_record_LDFLAGS = $(FUZZTARGETLDFLAGS)
tests_fuzz_fuzz_analytics_record_LDADD = $(FUZZ_DRIVER) $(JANSSON_LIBS)

tests_fuzz_fuzz_ws_tracker_SOURCES = tests/fuzz/fuzz_ws_tracker.c \
	tests/fuzz/fuzz.h src/ws/tracker.h src/ws/tracker.c
tests_fuzz_fuzz_ws_tracker_CFLAGS = $(FUZZTARGETCFLAGS)
tests_fuzz_fuzz_ws_tracker_LDFLAGS = $(FUZZTARGETLDFLAGS)
tests_fuzz_fuzz_ws_tracker_LDADD = $(FUZZ_DRIVER)

# The http targets compile the files under test into the target and take
# the rest of src/http (requests, replies, error bodies) from libchatd.a,
# which never adds a second copy of a file already compiled in: each of
# its members is linked only for a symbol nothing else defines.
tests_fuzz_fuzz_http_router_SOURCES = tests/fuzz/fuzz_http_router.c \
	tests/fuzz/fuzz.h src/http/router.c src/crypto/crypto.c src/core/text.c
tests_fuzz_fuzz_http_router_CFLAGS = $(FUZZTARGETCFLAGS) $(DEPCFLAGS)
tests_fuzz_fuzz_http_router_LDFLAGS = $(FUZZTARGETLDFLAGS)
tests_fuzz_fuzz_http_router_LDADD = $(FUZZ_DRIVER) src/libchatd.a $(DEPLIBS)

tests_fuzz_fuzz_http_auth_SOURCES = tests/fuzz/fuzz_http_auth.c \
	tests/fuzz/fuzz.h src/http/auth.c src/http/req.c
tests_fuzz_fuzz_http_auth_CFLAGS = $(FUZZTARGETCFLAGS) $(DEPCFLAGS)
tests_fuzz_fuzz_http_auth_LDFLAGS = $(FUZZTARGETLDFLAGS)
tests_fuzz_fuzz_http_auth_LDADD = $(FUZZ_DRIVER) src/libchatd.a $(DEPLIBS)

tests_fuzz_fuzz_chat_query_SOURCES = tests/fuzz/fuzz_chat_query.c \
	tests/fuzz/fuzz.h $(CHAT_LOGIC)
tests_fuzz_fuzz_chat_query_CFLAGS = $(FUZZTARGETCFLAGS) \
	-I$(top_srcdir)/modules/chat
tests_fuzz_fuzz_chat_query_LDFLAGS = $(FUZZTARGETLDFLAGS)
tests_fuzz_fuzz_chat_query_LDADD = $(FUZZ_DRIVER) $(JANSSON_LIBS) $(XXHASH_LIBS)

# Builds the targets only, and names them (scripts/dev fuzz).
fuzz-targets: $(FUZZ_TARGETS)
fuzz-list:
	@echo $(FUZZ_TARGETS)
.PHONY: fuzz-targets fuzz-list
