/*
 * Which modules to load and from where: the config's list, or by default
 * the shipped modules that exist; from the config's module_dir, else the
 * build tree when the binary runs from it, else the installed directory.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/core.h"
#include "identity/identity.h"
#include "modhost/modhost.h"

static const char *const default_modules[] = {"chat", "payment_notice",
                                              "analytics", NULL};

static const char *module_dir(const struct config *cfg)
{
    static const char build_dir[] = CHATD_BUILD_MODDIR;
    char exe[PATH_MAX];
    ssize_t n;
    size_t top = sizeof(build_dir) - 1 - strlen("/modules");

    if (cfg->module_dir[0] != '\0')
        return cfg->module_dir;
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        if (strncmp(exe, build_dir, top) == 0 && exe[top] == '/')
            return build_dir;
    }
    return CHATD_MODDIR;
}

static int load_one(struct modhost *mh, const char *dir, const char *entry,
                    bool required)
{
    char path[PATH_MAX];
    char why[512];

    if (strchr(entry, '/') != NULL)
        snprintf(path, sizeof(path), "%s", entry);
    else if (modhost_find(dir, entry, path, sizeof(path)) != CHATD_OK) {
        if (!required)
            return CHATD_OK;
        core_log(CORE_LOG_ERROR, "chatd",
                 "module %s: not found in %s (expected %s/%s.so)", entry, dir,
                 dir, entry);
        return CHATD_ENOTFOUND;
    }
    return modhost_load(mh, path, why, sizeof(why));
}

static int check_sections(const struct config *cfg, const struct modhost *mh)
{
    static const char *const host[] = {"http", "ws", "push", "commit", NULL};
    const char *key;
    const char *const *h;
    json_t *v;
    int rc = CHATD_OK;

    json_object_foreach(cfg->root, key, v) {
        if (!json_is_object(v) || modhost_has_module(mh, key))
            continue;
        for (h = host; *h != NULL && strcmp(*h, key) != 0; h++)
            ;
        if (*h == NULL) {
            core_log(CORE_LOG_ERROR, "config",
                     "section \"%s\" names no loaded module", key);
            rc = CHATD_EINVAL;
        }
    }
    return rc;
}

int cli_modules_load(const struct config *cfg, struct metrics *metrics,
                     struct modhost **out)
{
    const char *dir = module_dir(cfg);
    struct modhost *mh;
    size_t i;
    int rc;

    rc = modhost_new(&mh, cfg->root, metrics);
    if (rc != CHATD_OK)
        return rc;
    rc = modhost_add_builtin(mh, identity_module_info());
    for (i = 0; rc == CHATD_OK && cfg->modules_explicit &&
                i < json_array_size(cfg->modules);
         i++)
        rc = load_one(mh, dir,
                      json_string_value(json_array_get(cfg->modules, i)),
                      true);
    for (i = 0; rc == CHATD_OK && !cfg->modules_explicit &&
                default_modules[i] != NULL;
         i++)
        rc = load_one(mh, dir, default_modules[i], false);
    if (rc == CHATD_OK)
        rc = check_sections(cfg, mh);
    if (rc != CHATD_OK) {
        modhost_free(mh);
        return rc;
    }
    *out = mh;
    return CHATD_OK;
}
