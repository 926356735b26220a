# src/ws — WebSocket real-time delivery and the per-user feed;
# src/push — offline push through a webhook (same owner, same fragment).
src_libchatd_a_SOURCES += src/ws/userfeed.h src/ws/userfeed.c \
	src/ws/frame.h src/ws/frame.c \
	src/ws/ws.h src/ws/internal.h src/ws/ws.c src/ws/conn.c \
	src/ws/proto.c src/ws/deliver.c src/ws/tracker.h src/ws/tracker.c \
	src/push/push.h src/push/push.c

check_PROGRAMS += tests/unit/ws/test_userfeed tests/unit/ws/test_frame
TESTS += tests/unit/ws/test_userfeed tests/unit/ws/test_frame
tests_unit_ws_test_userfeed_SOURCES = tests/unit/ws/test_userfeed.c
tests_unit_ws_test_userfeed_CFLAGS = $(UNITCFLAGS)
tests_unit_ws_test_userfeed_LDADD = $(UNITLIBS)
tests_unit_ws_test_frame_SOURCES = tests/unit/ws/test_frame.c
tests_unit_ws_test_frame_CFLAGS = $(UNITCFLAGS)
tests_unit_ws_test_frame_LDADD = $(UNITLIBS)

check_PROGRAMS += tests/unit/push/test_push
TESTS += tests/unit/push/test_push
tests_unit_push_test_push_SOURCES = tests/unit/push/test_push.c
tests_unit_push_test_push_CFLAGS = $(UNITCFLAGS)
tests_unit_push_test_push_LDADD = $(UNITLIBS)

# Integration tests (Python, tests/integration/harness.py).
TESTS += tests/integration/test_ws.py tests/integration/test_push.py
EXTRA_DIST += tests/integration/test_ws.py tests/integration/test_push.py

# Load client for WebSocket fan-out / saturation / idle memory (not run by
# `make check`; see bench/ws/README.md).
noinst_PROGRAMS += bench/ws/wsbench
bench_ws_wsbench_SOURCES = bench/ws/wsbench.c
bench_ws_wsbench_CFLAGS = $(AM_CFLAGS) $(DEPCFLAGS)
bench_ws_wsbench_LDADD = src/libchatd.a $(DEPLIBS)
EXTRA_DIST += bench/ws/README.md src/ws/README.md
