# modules: each product module is a dlopen-loaded libtool module built
# the way an out-of-tree author would build it (MODCFLAGS/MODLDFLAGS from
# the top Makefile.am: hidden visibility, no link against the host).

# --- chat: rooms, messages, history, inbox, reads (modules/chat/README.md)
CHAT_LOGIC = modules/chat/validate.h modules/chat/validate.c \
	modules/chat/requests.c modules/chat/keys.h modules/chat/keys.c \
	modules/chat/render.h modules/chat/render.c \
	modules/chat/typing.h modules/chat/typing.c

pkglib_LTLIBRARIES += modules/chat/chat.la
modules_chat_chat_la_SOURCES = $(CHAT_LOGIC) \
	modules/chat/chat.h modules/chat/chat.c \
	modules/chat/req.c modules/chat/store.c modules/chat/events.c \
	modules/chat/rooms.c modules/chat/members.c modules/chat/messages.c \
	modules/chat/history.c modules/chat/inbox.c modules/chat/reads.c \
	modules/chat/realtime.c modules/chat/notices.c \
	modules/chat/project.h modules/chat/project.c \
	modules/chat/project_msgs.c modules/chat/pending.c
modules_chat_chat_la_CFLAGS = $(AM_CFLAGS) $(MODCFLAGS) $(JANSSON_CFLAGS) \
	$(XXHASH_CFLAGS)
modules_chat_chat_la_LDFLAGS = $(MODLDFLAGS)
modules_chat_chat_la_LIBADD = $(JANSSON_LIBS) $(XXHASH_LIBS)
EXTRA_DIST += modules/chat/README.md

# Unit tests of the module's pure logic, compiled from the same sources
# (no host, no storage).
CHAT_UNIT_TESTS = modules/chat/tests/test_validate \
	modules/chat/tests/test_keys modules/chat/tests/test_render \
	modules/chat/tests/test_typing
check_PROGRAMS += $(CHAT_UNIT_TESTS)
TESTS += $(CHAT_UNIT_TESTS)
CHAT_UNIT_CFLAGS = $(UNITCFLAGS) -I$(top_srcdir)/modules/chat $(XXHASH_CFLAGS)
CHAT_UNIT_LDADD = $(CMOCKA_LIBS) $(JANSSON_LIBS) $(XXHASH_LIBS)

modules_chat_tests_test_validate_SOURCES = \
	modules/chat/tests/test_validate.c $(CHAT_LOGIC)
modules_chat_tests_test_validate_CFLAGS = $(CHAT_UNIT_CFLAGS)
modules_chat_tests_test_validate_LDADD = $(CHAT_UNIT_LDADD)
modules_chat_tests_test_keys_SOURCES = \
	modules/chat/tests/test_keys.c $(CHAT_LOGIC)
modules_chat_tests_test_keys_CFLAGS = $(CHAT_UNIT_CFLAGS)
modules_chat_tests_test_keys_LDADD = $(CHAT_UNIT_LDADD)
modules_chat_tests_test_render_SOURCES = \
	modules/chat/tests/test_render.c $(CHAT_LOGIC)
modules_chat_tests_test_render_CFLAGS = $(CHAT_UNIT_CFLAGS)
modules_chat_tests_test_render_LDADD = $(CHAT_UNIT_LDADD)
modules_chat_tests_test_typing_SOURCES = \
	modules/chat/tests/test_typing.c $(CHAT_LOGIC)
modules_chat_tests_test_typing_CFLAGS = $(CHAT_UNIT_CFLAGS)
modules_chat_tests_test_typing_LDADD = $(CHAT_UNIT_LDADD)

# Stand-ins for the payment module, for the payment-notice tests of
# test_chat.py (loaded by path from an explicit "modules" list).
CHAT_FAKEMODFLAGS = -module -avoid-version -shared \
	-rpath $(abs_builddir)/modules/chat/tests
check_LTLIBRARIES += modules/chat/tests/fake_payment.la \
	modules/chat/tests/fake_payment_notice.la
modules_chat_tests_fake_payment_la_SOURCES = modules/chat/tests/fake_payment.c
modules_chat_tests_fake_payment_la_CFLAGS = $(AM_CFLAGS) $(MODCFLAGS) \
	-DFAKE_NAME='"payment"'
modules_chat_tests_fake_payment_la_LDFLAGS = $(CHAT_FAKEMODFLAGS)
modules_chat_tests_fake_payment_notice_la_SOURCES = \
	modules/chat/tests/fake_payment.c
modules_chat_tests_fake_payment_notice_la_CFLAGS = $(AM_CFLAGS) $(MODCFLAGS) \
	-DFAKE_NAME='"payment_notice"'
modules_chat_tests_fake_payment_notice_la_LDFLAGS = $(CHAT_FAKEMODFLAGS)

# Integration: the real binary with the module loaded, over HTTP.
TESTS += tests/integration/test_chat.py
EXTRA_DIST += tests/integration/test_chat.py
