# src/http
src_libchatd_a_SOURCES += src/http/http.h src/http/internal.h \
	src/http/server.c src/http/router.c src/http/req.c src/http/auth.c \
	src/http/errors.c src/http/upgrade.c src/http/dispatch.c \
	src/http/builtin.c src/http/stats.c src/http/cors.c

check_PROGRAMS += tests/unit/http/test_http
TESTS += tests/unit/http/test_http
tests_unit_http_test_http_SOURCES = tests/unit/http/test_http.c
tests_unit_http_test_http_CFLAGS = $(UNITCFLAGS)
tests_unit_http_test_http_LDADD = $(UNITLIBS)
