# modules/payment_notice: wallets, deposits, transfers between members of
# a chat room, refunds and signed provider notices, each outcome shown in
# the room by the chat module (modules/payment_notice/README.md). In the
# default module list: it loads whenever it is in module_dir.

PAYMENT_LOGIC = modules/payment_notice/logic.h modules/payment_notice/logic.c

pkglib_LTLIBRARIES += modules/payment_notice/payment_notice.la
modules_payment_notice_payment_notice_la_SOURCES = $(PAYMENT_LOGIC) \
	modules/payment_notice/pay.h modules/payment_notice/payment_notice.c \
	modules/payment_notice/store.c modules/payment_notice/req.c \
	modules/payment_notice/project.c modules/payment_notice/wallet.c \
	modules/payment_notice/transfer.c modules/payment_notice/provider.c
modules_payment_notice_payment_notice_la_CFLAGS = $(AM_CFLAGS) $(MODCFLAGS) \
	$(JANSSON_CFLAGS) $(NETTLE_CFLAGS)
modules_payment_notice_payment_notice_la_LDFLAGS = $(MODLDFLAGS)
modules_payment_notice_payment_notice_la_LIBADD = $(JANSSON_LIBS) \
	$(NETTLE_LIBS)
EXTRA_DIST += modules/payment_notice/README.md

# Unit tests: the pure logic (no host), and the whole module against the
# fake host of tests/sdk (no server, no storage, no threads).
PAYMENT_UNIT_TESTS = modules/payment_notice/tests/test_logic \
	modules/payment_notice/tests/test_payment_notice
check_PROGRAMS += $(PAYMENT_UNIT_TESTS)
TESTS += $(PAYMENT_UNIT_TESTS)
PAYMENT_UNIT_CFLAGS = $(UNITCFLAGS) -I$(top_srcdir)/modules/payment_notice \
	$(JANSSON_CFLAGS) $(NETTLE_CFLAGS)
PAYMENT_UNIT_LDADD = $(CMOCKA_LIBS) $(JANSSON_LIBS) $(NETTLE_LIBS)

modules_payment_notice_tests_test_logic_SOURCES = \
	modules/payment_notice/tests/test_logic.c $(PAYMENT_LOGIC)
modules_payment_notice_tests_test_logic_CFLAGS = $(PAYMENT_UNIT_CFLAGS)
modules_payment_notice_tests_test_logic_LDADD = $(PAYMENT_UNIT_LDADD)
modules_payment_notice_tests_test_payment_notice_SOURCES = \
	modules/payment_notice/tests/test_payment_notice.c \
	tests/sdk/fake_host.h tests/sdk/fake_host.c \
	$(modules_payment_notice_payment_notice_la_SOURCES)
modules_payment_notice_tests_test_payment_notice_CFLAGS = \
	$(PAYMENT_UNIT_CFLAGS) -I$(top_srcdir)/tests/sdk
modules_payment_notice_tests_test_payment_notice_LDADD = $(PAYMENT_UNIT_LDADD)

# Integration: the real binary with chat and payment_notice, over HTTP.
TESTS += tests/integration/test_payment.py
EXTRA_DIST += tests/integration/test_payment.py
