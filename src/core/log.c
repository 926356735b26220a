#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"

/* Set once before threads start; read-only afterwards. */
static enum core_log_level log_threshold = CORE_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void core_log_set_level(enum core_log_level level)
{
    log_threshold = level;
}

bool core_log_enabled(enum core_log_level level)
{
    return level >= log_threshold;
}

/* Appends `s` JSON-escaped; stops before overflowing `cap`. */
static size_t json_escape(char *out, size_t pos, size_t cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char c;

    for (; *s != '\0' && pos + 7 < cap; s++) {
        c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[pos++] = '\\';
            out[pos++] = (char)c;
        } else if (c < 0x20) {
            memcpy(out + pos, "\\u00", 4);
            out[pos + 4] = hex[c >> 4];
            out[pos + 5] = hex[c & 15];
            pos += 6;
        } else {
            out[pos++] = (char)c;
        }
    }
    return pos;
}

void core_logv(enum core_log_level level, const char *component,
               const char *fmt, va_list ap)
{
    char msg[2048];
    char line[4600];
    char ts[CORE_TIME_LEN];
    size_t pos;

    if (!core_log_enabled(level))
        return;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    pos = (size_t)snprintf(line, sizeof(line),
                           "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":\"",
                           core_format_time(core_now_ms(), ts),
                           level_names[level & 3]);
    pos = json_escape(line, pos, sizeof(line) - 16, component);
    memcpy(line + pos, "\",\"msg\":\"", 9);
    pos = json_escape(line, pos + 9, sizeof(line) - 4, msg);
    memcpy(line + pos, "\"}\n", 3);
    if (write(STDERR_FILENO, line, pos + 3) < 0)
        return; /* nowhere left to report it */
}

void core_log(enum core_log_level level, const char *component,
              const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    core_logv(level, component, fmt, ap);
    va_end(ap);
}
