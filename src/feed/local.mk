src_libchatd_a_SOURCES += src/feed/feed.h src/feed/feed.c
