/*
 * cli — the operator commands. Each returns a process exit status
 * (0 success, 1 failure, 2 usage) and logs its own errors.
 */
#ifndef CLI_CLI_H
#define CLI_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "cli/config.h"

struct modhost;
struct metrics;

int cli_serve(const struct config *cfg);
int cli_rebuild(const struct config *cfg, const char *name);
int cli_verify(const struct config *cfg);
int cli_backup(const struct config *cfg, const char *dest);
int cli_dump(const struct config *cfg, uint64_t after);
int cli_check_module(const char *path);
/* Sets async subscriber NAME's checkpoint to `after` (offline), so that
 * at the next start it handles every event after it again. */
int cli_reset_subscriber(const struct config *cfg, const char *name,
                         uint64_t after);
/* Takes DATA/chatd.lock for the life of the process; CHATD_ESTATE if
 * another chatd holds it. */
int cli_lock_data(const struct config *cfg, const char *what);

/* Before serve maps the read models writable: if they are behind the log
 * (an unclean stop, a machine crash that emptied them, an older layout),
 * catches them up the way the offline commands open them, through pwrite,
 * which replays a long stretch of the log far faster. The caller holds
 * the data directory's lock. Why opening failed goes to err (as
 * evlog_options.err). */
int cli_views_catch_up(const struct config *cfg, char *err, size_t err_size);

/* Creates the data directory (0700) if missing. */
int cli_data_dir(const struct config *cfg);
/* The admin token: CHATD_ADMIN_TOKEN, else DATA/admin.token, else a new
 * one written there (0600) and its path logged. */
int cli_admin_token(const struct config *cfg, char *out, size_t len);
/* Makes the module host and loads identity plus the configured modules. */
int cli_modules_load(const struct config *cfg, struct metrics *metrics,
                     struct modhost **out);

#endif /* CLI_CLI_H */
