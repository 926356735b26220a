/*
 * core — small dependency-free helpers every subsystem uses: status names,
 * clocks, random ids, UTF-8 checks and structured log lines.
 * All functions are thread-safe.
 */
#ifndef CORE_CORE_H
#define CORE_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chatd/module.h"

/* Human name of a CHATD_* status ("conflict", ...). Never NULL. */
const char *core_strerror(int status);

/* Wall clock, Unix epoch milliseconds. */
int64_t core_now_ms(void);
/* Monotonic clock in nanoseconds, for durations. */
uint64_t core_mono_ns(void);
/* RFC 3339 UTC with milliseconds: "2026-11-22T09:30:00.123Z". `out` must
 * hold CORE_TIME_LEN bytes. Returns out. */
#define CORE_TIME_LEN 32
char *core_format_time(int64_t ms, char *out);

/* Fills out[0..2*nbytes] with 2*nbytes lowercase hex chars of random bytes
 * (getrandom) and a NUL. CHATD_EIO if the kernel refuses. */
int core_random_hex(char *out, size_t nbytes);

/* Strict UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF). */
bool core_utf8_valid(const void *s, size_t len);
/* Number of code points in valid UTF-8. */
size_t core_utf8_length(const void *s, size_t len);

/* XXH3 (64-bit, libxxhash) of p[0..len): for in-memory hash tables, not
 * on disk. */
uint64_t core_hash(const void *p, size_t len);

/* Big-endian 64-bit integers (keys that sort as bytes, fixed-width
 * values). */
void core_be64_put(unsigned char *p, uint64_t v);
uint64_t core_be64_get(const unsigned char *p);

/* Parses a whole decimal string into [min, max]; false if it is not one. */
bool core_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

enum core_log_level {
    CORE_LOG_DEBUG = CHATD_LOG_DEBUG,
    CORE_LOG_INFO = CHATD_LOG_INFO,
    CORE_LOG_WARN = CHATD_LOG_WARN,
    CORE_LOG_ERROR = CHATD_LOG_ERROR,
};

/* Lines below this level are dropped. Set once at start-up, before threads
 * exist (the one process-wide setting, like a signal flag). */
void core_log_set_level(enum core_log_level level);
bool core_log_enabled(enum core_log_level level);
/*
 * Writes one JSON line to stderr:
 *   {"ts":"...","level":"info","component":"http","msg":"..."}
 * `component` names the subsystem or module. One write(2) per line, so
 * lines from different threads never interleave.
 */
void core_log(enum core_log_level level, const char *component,
              const char *fmt, ...) CHATD_PRINTF(3, 4);
void core_logv(enum core_log_level level, const char *component,
               const char *fmt, va_list ap);

#endif /* CORE_CORE_H */
