# src/bus — async subscribers with checkpoints, and replay.
src_libchatd_a_SOURCES += src/bus/sub.h src/bus/sub.c \
	src/bus/replay.h src/bus/replay.c

check_PROGRAMS += tests/unit/bus/test_sub
TESTS += tests/unit/bus/test_sub
tests_unit_bus_test_sub_SOURCES = tests/unit/bus/test_sub.c
tests_unit_bus_test_sub_CFLAGS = $(UNITCFLAGS)
tests_unit_bus_test_sub_LDADD = $(UNITLIBS)

check_PROGRAMS += tests/unit/bus/test_replay
TESTS += tests/unit/bus/test_replay
tests_unit_bus_test_replay_SOURCES = tests/unit/bus/test_replay.c
tests_unit_bus_test_replay_CFLAGS = $(UNITCFLAGS)
tests_unit_bus_test_replay_LDADD = $(UNITLIBS)
