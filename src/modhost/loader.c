/*
 * Loading a module: every refusal is one log line that names the file,
 * what was expected and what was found (PostgreSQL's
 * incompatible_module_error), and nothing of a refused module stays.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "modhost/modhost_int.h"

typedef const struct chatd_module_info *(*info_fn)(void);

/* The fields of the descriptor that must be there for the checks below;
 * a module older than today's layout is still at least this large. */
#define INFO_MIN_SIZE offsetof(struct chatd_module_info, start)

static int refuse(char *why, size_t why_len, int status, const char *fmt, ...)
    CHATD_PRINTF(4, 5);

static int refuse(char *why, size_t why_len, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    core_log(CORE_LOG_ERROR, "modhost", "%s", msg);
    if (why != NULL && why_len > 0)
        snprintf(why, why_len, "%s", msg);
    return status;
}

/* Checks the descriptor itself: size, ABI numbers and tag, name. */
static int check_info(const struct chatd_module_info *info, const char *file,
                      char *why, size_t why_len)
{
    if (info->size < INFO_MIN_SIZE)
        return refuse(why, why_len, CHATD_EABI,
                      "module %s: descriptor is %u bytes, expected at least "
                      "%zu (not built with CHATD_MODULE?)",
                      file, info->size, (size_t)INFO_MIN_SIZE);
    if (info->abi_major != CHATD_ABI_MAJOR)
        return refuse(why, why_len, CHATD_EABI,
                      "module %s: built for ABI %u.%u, this chatd has ABI "
                      "%d.%d (major versions must match; rebuild the module "
                      "against this chatd's headers)",
                      file, info->abi_major, info->abi_minor, CHATD_ABI_MAJOR,
                      CHATD_ABI_MINOR);
    if (info->abi_minor > CHATD_ABI_MINOR)
        return refuse(why, why_len, CHATD_EABI,
                      "module %s: built for ABI %u.%u, newer than this "
                      "chatd's %d.%d (upgrade chatd or build against older "
                      "headers)",
                      file, info->abi_major, info->abi_minor, CHATD_ABI_MAJOR,
                      CHATD_ABI_MINOR);
    if (info->abi_tag == NULL || strcmp(info->abi_tag, CHATD_ABI_TAG) != 0)
        return refuse(why, why_len, CHATD_EABI,
                      "module %s: built with ABI tag \"%s\", this chatd has "
                      "\"%s\" (different pointer/long size or byte order)",
                      file, info->abi_tag ? info->abi_tag : "(none)",
                      CHATD_ABI_TAG);
    if (info->name == NULL || !modhost_name_valid(info->name))
        return refuse(why, why_len, CHATD_EINVAL,
                      "module %s: name \"%s\" is not valid (expected "
                      "[a-z][a-z0-9_]{0,31})",
                      file, info->name ? info->name : "(none)");
    if (info->init == NULL)
        return refuse(why, why_len, CHATD_EINVAL,
                      "module %s: descriptor has no init function", file);
    return CHATD_OK;
}

static const struct chatd_module_info *open_module(const char *path,
                                                   void **dl, char *why,
                                                   size_t why_len, int *rc)
{
    info_fn fn;
    const struct chatd_module_info *info;

    *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (*dl == NULL) {
        *rc = refuse(why, why_len, CHATD_ENOTFOUND,
                     "module %s: cannot load: %s", path, dlerror());
        return NULL;
    }
    *(void **)&fn = dlsym(*dl, CHATD_MODULE_SYMBOL);
    if (fn == NULL) {
        *rc = refuse(why, why_len, CHATD_EABI,
                     "module %s: no symbol %s (expected a module built with "
                     "CHATD_MODULE() from <chatd/module.h>)",
                     path, CHATD_MODULE_SYMBOL);
        goto out_close;
    }
    info = fn();
    if (info == NULL) {
        *rc = refuse(why, why_len, CHATD_EABI,
                     "module %s: %s() returned NULL", path,
                     CHATD_MODULE_SYMBOL);
        goto out_close;
    }
    *rc = check_info(info, path, why, why_len);
    if (*rc != CHATD_OK)
        goto out_close;
    return info;

out_close:
    dlclose(*dl);
    *dl = NULL;
    return NULL;
}

int modhost_load(struct modhost *mh, const char *path, char *why,
                 size_t why_len)
{
    const struct chatd_module_info *info;
    void *dl;
    int rc;

    info = open_module(path, &dl, why, why_len, &rc);
    if (info == NULL)
        return rc;
    rc = modhost_register(mh, info, path, dl, why, why_len);
    if (rc != CHATD_OK)
        dlclose(dl);
    return rc;
}

int modhost_add_builtin(struct modhost *mh,
                        const struct chatd_module_info *info)
{
    int rc = check_info(info, "(built-in)", NULL, 0);

    if (rc != CHATD_OK)
        return rc;
    return modhost_register(mh, info, NULL, NULL, NULL, 0);
}

int modhost_check_file(const char *path, char *why, size_t why_len)
{
    struct modhost *mh;
    json_t *config = json_object();
    int rc;

    if (config == NULL)
        return CHATD_ENOMEM;
    rc = modhost_new(&mh, config, NULL);
    if (rc == CHATD_OK) {
        rc = modhost_load(mh, path, why, why_len);
        modhost_free(mh);
    }
    json_decref(config);
    return rc;
}

int modhost_find(const char *dir, const char *name, char *out, size_t out_len)
{
    snprintf(out, out_len, "%s/%s.so", dir, name);
    if (access(out, R_OK) == 0)
        return CHATD_OK;
    snprintf(out, out_len, "%s/%s/.libs/%s.so", dir, name, name);
    if (access(out, R_OK) == 0)
        return CHATD_OK;
    return CHATD_ENOTFOUND;
}
