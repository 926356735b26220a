src_libchatd_a_SOURCES += src/identity/identity.h src/identity/identity.c
