#include "core/core.h"

static const char *const status_names[] = {
    "ok",          "invalid argument",   "out of memory",
    "not found",   "conflict",           "already exists",
    "I/O error",   "limit reached",      "not permitted",
    "wrong state", "ABI mismatch",       "temporarily unavailable",
    "rejected",    "shutting down",
};

const char *core_strerror(int status)
{
    size_t i = status <= 0 ? (size_t)-(long)status : SIZE_MAX;

    if (i >= sizeof(status_names) / sizeof(status_names[0]))
        return "unknown status";
    return status_names[i];
}
