#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/config.h"
#include "core/core.h"
#include "http/http.h"

/* Keys of the file that belong to the host; everything else must be the
 * name of a loaded module (checked by the module host). */
static const char *const host_keys[] = {
    "listen", "data", "modules", "module_dir", "log_level", "durability",
    "http",   "ws",   "push",    "commit",     "map_size_mb",
    "writable_map", NULL};

static const char *const http_keys[] = {"max_body", "max_connections",
                                        "connection_memory", "timeout_s",
                                        "threads", "cors_origins", NULL};

int config_parse_listen(const char *s, char *addr, size_t addr_len,
                        uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    const char *host = s;
    size_t hlen;
    uint64_t p;

    if (colon == NULL || !core_parse_u64(colon + 1, 0, 65535, &p))
        return CHATD_EINVAL;
    hlen = (size_t)(colon - s);
    if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') {
        host = s + 1;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= addr_len)
        return CHATD_EINVAL;
    memcpy(addr, host, hlen);
    addr[hlen] = '\0';
    *port = (uint16_t)p;
    return CHATD_OK;
}

int config_int(const json_t *section, const char *section_name,
               const char *key, int64_t def, int64_t min, int64_t max,
               int64_t *out)
{
    const json_t *v = section ? json_object_get(section, key) : NULL;

    *out = def;
    if (v == NULL)
        return CHATD_OK;
    if (!json_is_integer(v) || json_integer_value(v) < min ||
        json_integer_value(v) > max) {
        core_log(CORE_LOG_ERROR, "config",
                 "%s.%s: expected an integer from %lld to %lld",
                 section_name, key, (long long)min, (long long)max);
        return CHATD_EINVAL;
    }
    *out = json_integer_value(v);
    return CHATD_OK;
}

int config_str(const json_t *section, const char *section_name,
               const char *key, const char *def, const char **out)
{
    const json_t *v = section ? json_object_get(section, key) : NULL;

    *out = def;
    if (v == NULL)
        return CHATD_OK;
    if (!json_is_string(v)) {
        core_log(CORE_LOG_ERROR, "config", "%s.%s: expected a string",
                 section_name, key);
        return CHATD_EINVAL;
    }
    *out = json_string_value(v);
    return CHATD_OK;
}

const json_t *config_section(const struct config *cfg, const char *name)
{
    const json_t *s = json_object_get(cfg->root, name);

    return json_is_object(s) ? s : NULL;
}

static bool in_list(const char *const *list, const char *key)
{
    for (; *list != NULL; list++)
        if (strcmp(*list, key) == 0)
            return true;
    return false;
}

/* Unknown keys inside a host section are refused. */
static int check_keys(const json_t *section, const char *name,
                      const char *const *known)
{
    const char *key;
    json_t *v;
    int rc = CHATD_OK;

    if (section == NULL)
        return CHATD_OK;
    json_object_foreach((json_t *)section, key, v) {
        if (!in_list(known, key)) {
            core_log(CORE_LOG_ERROR, "config", "unknown key %s.%s", name, key);
            rc = CHATD_EINVAL;
        }
    }
    return rc;
}

static int read_file(struct config *cfg, const char *path)
{
    json_error_t err;

    cfg->root = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (cfg->root == NULL) {
        core_log(CORE_LOG_ERROR, "config", "%s:%d:%d: %s", path, err.line,
                 err.column, err.text);
        return CHATD_EINVAL;
    }
    if (!json_is_object(cfg->root)) {
        core_log(CORE_LOG_ERROR, "config", "%s: expected a JSON object", path);
        return CHATD_EINVAL;
    }
    snprintf(cfg->config_path, sizeof(cfg->config_path), "%s", path);
    return CHATD_OK;
}

/* flag > environment > file > default, for one string setting. */
static const char *pick(const char *flag, const char *env_name,
                        const json_t *file_value, const char *def)
{
    const char *env = getenv(env_name);

    if (flag != NULL)
        return flag;
    if (env != NULL && env[0] != '\0')
        return env;
    if (json_is_string(file_value))
        return json_string_value(file_value);
    return def;
}

static int resolve_log_level(struct config *cfg)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    const char *level = "info";
    int i;

    if (config_str(cfg->root, "", "log_level", "info", &level) != CHATD_OK)
        return CHATD_EINVAL;
    for (i = 0; i < 4; i++)
        if (strcmp(level, names[i]) == 0) {
            cfg->log_level = i;
            return CHATD_OK;
        }
    core_log(CORE_LOG_ERROR, "config",
             "log_level: expected debug, info, warn or error, found \"%s\"",
             level);
    return CHATD_EINVAL;
}

/* "writable_map": the read models in a writable map (src/evlog/vspace.c);
 * false keeps them read-only mapped and written with pwrite. */
static int resolve_writable_map(struct config *cfg)
{
    const json_t *v = json_object_get(cfg->root, "writable_map");

    cfg->writable_map = true;
    if (v == NULL)
        return CHATD_OK;
    if (!json_is_boolean(v)) {
        core_log(CORE_LOG_ERROR, "config", "writable_map: expected true or "
                 "false");
        return CHATD_EINVAL;
    }
    cfg->writable_map = json_is_true(v);
    return CHATD_OK;
}

static int resolve_durability(struct config *cfg)
{
    const char *d = "sync";

    if (config_str(cfg->root, "", "durability", "sync", &d) != CHATD_OK)
        return CHATD_EINVAL;
    if (strcmp(d, "sync") != 0 && strcmp(d, "relaxed") != 0) {
        core_log(CORE_LOG_ERROR, "config",
                 "durability: expected \"sync\" or \"relaxed\", found \"%s\"",
                 d);
        return CHATD_EINVAL;
    }
    cfg->nosync = strcmp(d, "relaxed") == 0;
    return CHATD_OK;
}

static int resolve_modules(struct config *cfg)
{
    const json_t *m = json_object_get(cfg->root, "modules");
    const char *dir = NULL;
    size_t i;

    if (config_str(cfg->root, "", "module_dir", NULL, &dir) != CHATD_OK)
        return CHATD_EINVAL;
    if (dir != NULL)
        snprintf(cfg->module_dir, sizeof(cfg->module_dir), "%s", dir);
    if (m == NULL)
        return CHATD_OK;
    for (i = 0; json_is_array(m) && i < json_array_size(m); i++)
        if (!json_is_string(json_array_get(m, i)))
            break;
    if (!json_is_array(m) || i < json_array_size(m)) {
        core_log(CORE_LOG_ERROR, "config",
                 "modules: expected an array of module names or paths");
        return CHATD_EINVAL;
    }
    cfg->modules = json_incref((json_t *)m);
    cfg->modules_explicit = true;
    return CHATD_OK;
}

/* http.cors_origins: an array of origins, or absent. */
static int resolve_cors(struct config *cfg, const json_t *h)
{
    const json_t *a = h ? json_object_get(h, "cors_origins") : NULL;
    size_t i, n;

    if (a == NULL)
        return CHATD_OK;
    n = json_is_array(a) ? json_array_size(a) : 0;
    for (i = 0; i < n; i++) {
        const json_t *o = json_array_get(a, i);
        if (!json_is_string(o) || !http_cors_origin_valid(json_string_value(o)))
            break;
    }
    if (!json_is_array(a) || i < n) {
        core_log(CORE_LOG_ERROR, "config",
                 "http.cors_origins: expected an array of origins as "
                 "browsers send them (\"https://app.example.com\", "
                 "\"http://localhost:3000\": scheme, lower-case host, "
                 "optional port, no path), or [\"*\"] alone");
        return CHATD_EINVAL;
    }
    for (i = 0; n > 1 && i < n; i++)
        if (strcmp(json_string_value(json_array_get(a, i)), "*") == 0) {
            core_log(CORE_LOG_ERROR, "config",
                     "http.cors_origins: \"*\" must be the only entry");
            return CHATD_EINVAL;
        }
    cfg->cors_origins = calloc(n + 1, sizeof(*cfg->cors_origins));
    if (cfg->cors_origins == NULL)
        return CHATD_ENOMEM;
    for (i = 0; i < n; i++) /* borrowed from cfg->root */
        cfg->cors_origins[i] = json_string_value(json_array_get(a, i));
    return CHATD_OK;
}

static int resolve_http(struct config *cfg)
{
    const json_t *h = config_section(cfg, "http");
    const json_t *c = config_section(cfg, "commit");
    int rc = check_keys(h, "http", http_keys);

    if (rc == CHATD_OK)
        rc = config_int(h, "http", "max_body", 1 << 20, 1024, 64 << 20,
                        &cfg->max_body);
    if (rc == CHATD_OK)
        rc = config_int(h, "http", "max_connections", 10000, 16, 1000000,
                        &cfg->max_connections);
    if (rc == CHATD_OK)
        rc = config_int(h, "http", "connection_memory", 8192, 4096, 1 << 20,
                        &cfg->connection_memory);
    if (rc == CHATD_OK)
        rc = config_int(h, "http", "timeout_s", 60, 1, 3600,
                        &cfg->http_timeout_s);
    if (rc == CHATD_OK)
        rc = config_int(h, "http", "threads", 1, 1, 64, &cfg->http_threads);
    if (rc == CHATD_OK)
        rc = resolve_cors(cfg, h);
    if (rc == CHATD_OK)
        rc = config_int(cfg->root, "", "map_size_mb", 65536, 16, 1 << 24,
                        &cfg->map_size);
    cfg->map_size *= 1024 * 1024;
    if (rc == CHATD_OK)
        rc = config_int(c, "commit", "max_queue", 65536, 16, 1 << 24,
                        &cfg->max_queue);
    return rc;
}

static int resolve_paths(struct config *cfg, const struct config_flags *flags)
{
    const char *listen = pick(flags->listen, "CHATD_LISTEN",
                              json_object_get(cfg->root, "listen"),
                              CONFIG_DEFAULT_LISTEN);
    const char *data = pick(flags->data, "CHATD_DATA",
                            json_object_get(cfg->root, "data"),
                            CONFIG_DEFAULT_DATA);

    snprintf(cfg->listen, sizeof(cfg->listen), "%s", listen);
    snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s", data);
    if (config_parse_listen(listen, cfg->address, sizeof(cfg->address),
                            &cfg->port) != CHATD_OK) {
        core_log(CORE_LOG_ERROR, "config",
                 "listen: expected ADDRESS:PORT (e.g. 127.0.0.1:8080 or "
                 "[::1]:8080), found \"%s\"",
                 listen);
        return CHATD_EINVAL;
    }
    return CHATD_OK;
}

int config_load(struct config *cfg, const struct config_flags *flags)
{
    const char *path;
    const char *key;
    json_t *v;
    int rc = CHATD_OK;

    memset(cfg, 0, sizeof(*cfg));
    path = pick(flags->config, "CHATD_CONFIG", NULL, NULL);
    if (path != NULL)
        rc = read_file(cfg, path);
    else
        cfg->root = json_object();
    if (rc != CHATD_OK || cfg->root == NULL)
        return rc != CHATD_OK ? rc : CHATD_ENOMEM;
    json_object_foreach(cfg->root, key, v) {
        if (in_list(host_keys, key))
            continue;
        if (!json_is_object(v)) {
            core_log(CORE_LOG_ERROR, "config",
                     "%s: unknown setting (module sections are objects)", key);
            rc = CHATD_EINVAL;
        }
    }
    if (rc == CHATD_OK)
        rc = resolve_paths(cfg, flags);
    if (rc == CHATD_OK)
        rc = resolve_log_level(cfg);
    if (rc == CHATD_OK)
        rc = resolve_durability(cfg);
    if (rc == CHATD_OK)
        rc = resolve_writable_map(cfg);
    if (rc == CHATD_OK)
        rc = resolve_modules(cfg);
    if (rc == CHATD_OK)
        rc = resolve_http(cfg);
    return rc;
}

void config_free(struct config *cfg)
{
    free(cfg->cors_origins);
    cfg->cors_origins = NULL;
    json_decref(cfg->modules);
    json_decref(cfg->root);
    cfg->modules = NULL;
    cfg->root = NULL;
}
