src_libchatd_a_SOURCES += src/json/event_json.h src/json/event_json.c
