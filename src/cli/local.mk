src_libchatd_a_SOURCES += src/cli/cli.h src/cli/config.h src/cli/config.c \
	src/cli/data.c src/cli/modules.c src/cli/serve.c src/cli/offline.c
