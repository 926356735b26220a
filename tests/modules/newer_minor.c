/* Claims a minor newer than the host's: must be refused. */
#include "chatd/module.h"

static int init(struct chatd_module *mod, const struct chatd_host *host,
                void **state)
{
    return CHATD_OK;
}

CHATD_EXPORT const struct chatd_module_info *chatd_module_info(void);
CHATD_EXPORT const struct chatd_module_info *chatd_module_info(void)
{
    static const struct chatd_module_info info = {
        .size = sizeof(info), .abi_major = CHATD_ABI_MAJOR,
        .abi_minor = CHATD_ABI_MINOR + 1, .abi_tag = CHATD_ABI_TAG,
        .name = "newer_minor", .init = init};
    return &info;
}
