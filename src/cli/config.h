/*
 * config — the operator's settings, resolved once at start: command-line
 * flags beat the environment (CHATD_LISTEN, CHATD_DATA, CHATD_CONFIG),
 * which beats the JSON config file, which beats the defaults. Every key of
 * the file is checked: host keys here, module sections by the module host.
 */
#ifndef CLI_CONFIG_H
#define CLI_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define CONFIG_DEFAULT_LISTEN "127.0.0.1:8080"
#define CONFIG_DEFAULT_DATA "./var"

struct config {
    json_t *root;             /* the file's object (or {}), owned */
    char listen[300];         /* as given: "ADDR:PORT" */
    char address[256];        /* parsed */
    uint16_t port;
    char data_dir[PATH_MAX];
    char config_path[PATH_MAX];
    char module_dir[PATH_MAX];
    json_t *modules;          /* array of names or paths (borrowed/owned) */
    bool modules_explicit;    /* given in the file, so each must exist */
    int log_level;            /* enum core_log_level */
    bool nosync;              /* "durability": "relaxed" */
    int64_t map_size;         /* "map_size_mb" in MiB, stored in bytes */
    bool writable_map;        /* "writable_map" (default true) */
    /* http */
    int64_t max_body;
    int64_t max_connections;
    int64_t connection_memory;
    int64_t http_timeout_s;
    int64_t http_threads;
    const char **cors_origins; /* NULL-terminated, into root; NULL: none */
    /* commit */
    int64_t max_queue;
};

/* Values given on the command line (NULL = not given). */
struct config_flags {
    const char *listen;
    const char *data;
    const char *config;
};

/* Resolves everything; on error logs what is wrong and returns
 * CHATD_EINVAL (or CHATD_ENOTFOUND/EIO for an unreadable file). */
int config_load(struct config *cfg, const struct config_flags *flags);
void config_free(struct config *cfg);

/* Splits "ADDR:PORT" / "[v6]:PORT" into address and port. */
int config_parse_listen(const char *s, char *addr, size_t addr_len,
                        uint16_t *port);

/* The section of a host subsystem ("ws", "push"), or NULL. Borrowed. */
const json_t *config_section(const struct config *cfg, const char *name);
/* Reads an integer key of a section with bounds; logs and returns
 * CHATD_EINVAL if it is there but wrong. */
int config_int(const json_t *section, const char *section_name,
               const char *key, int64_t def, int64_t min, int64_t max,
               int64_t *out);
int config_str(const json_t *section, const char *section_name,
               const char *key, const char *def, const char **out);

#endif /* CLI_CONFIG_H */
