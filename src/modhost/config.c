/*
 * Module configuration: each module reads its own object in the config
 * file, named after the module. Keys are typed and bounded at init, and a
 * key nobody registered is an error at start (PostgreSQL's reserved GUC
 * prefixes), so a typo never silently falls back to a default.
 */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "modhost/modhost_int.h"

static int config_fail(const struct chatd_module *mod, const char *key,
                       const char *expected)
{
    core_log(CORE_LOG_ERROR, "config", "%s.%s: expected %s", mod->name, key,
             expected);
    return CHATD_EINVAL;
}

static int apply_int(const struct chatd_module *mod,
                     const struct chatd_config_item *it, const json_t *v)
{
    int64_t value = it->def_int;
    char expected[96];

    if (v != NULL) {
        if (!json_is_integer(v))
            return config_fail(mod, it->key, "an integer");
        value = json_integer_value(v);
    }
    if (value < it->min || value > it->max) {
        snprintf(expected, sizeof(expected), "an integer from %lld to %lld",
                 (long long)it->min, (long long)it->max);
        return config_fail(mod, it->key, expected);
    }
    *(int64_t *)it->target = value;
    return CHATD_OK;
}

static int apply_one(const struct chatd_module *mod,
                     const struct chatd_config_item *it, const json_t *v)
{
    switch (it->type) {
    case CHATD_CONFIG_INT:
        return apply_int(mod, it, v);
    case CHATD_CONFIG_STRING:
        if (v != NULL && !json_is_string(v))
            return config_fail(mod, it->key, "a string");
        /* The config object outlives every module, so its strings do. */
        *(const char **)it->target = v ? json_string_value(v) : it->def_str;
        return CHATD_OK;
    case CHATD_CONFIG_BOOL:
        if (v != NULL && !json_is_boolean(v))
            return config_fail(mod, it->key, "true or false");
        *(bool *)it->target = v ? json_is_true(v) : it->def_int != 0;
        return CHATD_OK;
    }
    return config_fail(mod, it->key, "a known config type");
}

int modhost_config_apply(struct chatd_module *mod,
                         const struct chatd_config_item *items)
{
    const json_t *section = json_object_get(mod->mh->config, mod->name);
    const struct chatd_config_item *it;
    int rc;

    if (section != NULL && !json_is_object(section))
        return config_fail(mod, "", "an object");
    for (it = items; it != NULL && it->key != NULL; it++) {
        if (it->target == NULL || !modhost_name_valid(it->key))
            return config_fail(mod, it->key ? it->key : "(null)",
                               "a valid key name with a target");
        rc = apply_one(mod, it, section ? json_object_get(section, it->key)
                                        : NULL);
        if (rc != CHATD_OK)
            return rc;
        rc = vec_push(&mod->config_names, (void *)it->key);
        if (rc != CHATD_OK)
            return rc;
    }
    return CHATD_OK;
}

static bool key_registered(const struct chatd_module *mod, const char *key)
{
    size_t i;

    for (i = 0; i < mod->config_names.len; i++)
        if (strcmp(mod->config_names.items[i], key) == 0)
            return true;
    return false;
}

int modhost_config_check_unknown(struct modhost *mh)
{
    const struct chatd_module *mod;
    const json_t *section;
    const char *key;
    const json_t *v;
    size_t i;
    int rc = CHATD_OK;

    for (i = 0; i < mh->modules.len; i++) {
        mod = mh->modules.items[i];
        section = json_object_get(mh->config, mod->name);
        if (section == NULL)
            continue;
        json_object_foreach((json_t *)section, key, v) {
            if (key_registered(mod, key))
                continue;
            core_log(CORE_LOG_ERROR, "config",
                     "unknown key %s.%s (module %s has no such setting)",
                     mod->name, key, mod->name);
            rc = CHATD_EINVAL;
        }
    }
    return rc;
}
