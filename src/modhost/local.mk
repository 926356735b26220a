src_libchatd_a_SOURCES += src/modhost/modhost.h src/modhost/modhost_int.h \
	src/modhost/vec.c src/modhost/loader.c src/modhost/registry.c \
	src/modhost/config.c src/modhost/lifecycle.c src/modhost/host_table.c \
	src/modhost/command.c src/modhost/rebuild.c src/modhost/verify.c \
	src/modhost/auth.c
