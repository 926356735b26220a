/* Claims ABI major 99: must be refused naming both versions. */
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
        .size = sizeof(info), .abi_major = 99, .abi_minor = 0,
        .abi_tag = CHATD_ABI_TAG, .name = "bad_major", .init = init};
    return &info;
}
