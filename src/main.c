/* chatd: argument parsing and dispatch only; the work is in src/cli. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "config.h"
#include "core/core.h"

static const char usage[] =
    "Usage: chatd [COMMAND] [OPTIONS]\n"
    "\n"
    "A chat server in one process: rooms and messages over REST and\n"
    "WebSocket, on an append-only event log with modules as plugins.\n"
    "\n"
    "Commands:\n"
    "  serve                 run the server (the default)\n"
    "  rebuild [NAME]        drop and replay read models from the log: all\n"
    "                        (the old ones never read: works on damaged\n"
    "                        ones), one module (\"chat\") or one\n"
    "                        projection (\"chat.rooms\"); the server must\n"
    "                        be stopped\n"
    "  verify                check the log (gapless, decodable, stream\n"
    "                        versions) and that read models equal a rebuild;\n"
    "                        the server must be stopped\n"
    "  backup DEST_DIR       consistent copy of the data, safe while serving\n"
    "  dump [--after SEQ]    print events as NDJSON, safe while serving\n"
    "  reset-subscriber NAME [--after SEQ]\n"
    "                        make async subscriber NAME (\"analytics.export\",\n"
    "                        \"host.push\") handle every event after SEQ\n"
    "                        (default 0: all) again at the next start; the\n"
    "                        server must be stopped\n"
    "  check-module PATH     run the module loader's checks on a .so\n"
    "\n"
    "Options (flags beat environment beats config file beats defaults):\n"
    "  --listen ADDR:PORT    listen address [CHATD_LISTEN] (127.0.0.1:8080)\n"
    "  --data DIR            data directory [CHATD_DATA] (./var)\n"
    "  --config FILE         JSON config file [CHATD_CONFIG]\n"
    "  --after SEQ           dump: only events after SEQ; reset-subscriber:\n"
    "                        the new checkpoint\n"
    "  -h, --help            this help\n"
    "  -V, --version         version and module ABI\n"
    "\n"
    "Environment: CHATD_ADMIN_TOKEN (admin credential; if unset one is\n"
    "generated into DATA/admin.token on first start).\n"
    "Docs: README.md, docs/OPERATIONS.md, docs/API.md.\n";

struct args {
    struct config_flags flags;
    const char *command;
    const char *operand;
    const char *after;
};

/* Returns 0 to go on, or an exit status + 1. */
static int parse_args(int argc, char **argv, struct args *a)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"data", required_argument, NULL, 'd'},
        {"config", required_argument, NULL, 'c'},
        {"after", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    int c;

    while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
        switch (c) {
        case 'l': a->flags.listen = optarg; break;
        case 'd': a->flags.data = optarg; break;
        case 'c': a->flags.config = optarg; break;
        case 'a': a->after = optarg; break;
        case 'h': fputs(usage, stdout); return 1;
        case 'V':
            printf("chatd %s (module ABI %d.%d, %s)\n", PACKAGE_VERSION,
                   CHATD_ABI_MAJOR, CHATD_ABI_MINOR, CHATD_ABI_TAG);
            return 1;
        default: fputs(usage, stderr); return 3;
        }
    }
    a->command = optind < argc ? argv[optind++] : "serve";
    a->operand = optind < argc ? argv[optind++] : NULL;
    if (optind < argc) {
        fprintf(stderr, "chatd: unexpected argument \"%s\"\n", argv[optind]);
        return 3;
    }
    return 0;
}

static int run(const struct args *a, const struct config *cfg)
{
    uint64_t after = 0;

    if (strcmp(a->command, "serve") == 0 && a->operand == NULL)
        return cli_serve(cfg);
    if (strcmp(a->command, "rebuild") == 0)
        return cli_rebuild(cfg, a->operand);
    if (strcmp(a->command, "verify") == 0 && a->operand == NULL)
        return cli_verify(cfg);
    if (strcmp(a->command, "backup") == 0 && a->operand != NULL)
        return cli_backup(cfg, a->operand);
    if (strcmp(a->command, "dump") == 0 && a->operand == NULL) {
        if (a->after && !core_parse_u64(a->after, 0, UINT64_MAX, &after)) {
            fprintf(stderr, "chatd: --after needs a sequence number\n");
            return 2;
        }
        return cli_dump(cfg, after);
    }
    if (strcmp(a->command, "reset-subscriber") == 0 && a->operand != NULL) {
        if (a->after && !core_parse_u64(a->after, 0, UINT64_MAX, &after)) {
            fprintf(stderr, "chatd: --after needs a sequence number\n");
            return 2;
        }
        return cli_reset_subscriber(cfg, a->operand, after);
    }
    fprintf(stderr, "chatd: unknown command or missing operand: %s (see "
            "chatd --help)\n", a->command);
    return 2;
}

int main(int argc, char **argv)
{
    struct args a = {0};
    struct config cfg;
    int rc = parse_args(argc, argv, &a);

    if (rc != 0)
        return rc - 1;
    if (strcmp(a.command, "check-module") == 0)
        return a.operand ? cli_check_module(a.operand) : 2;
    if (config_load(&cfg, &a.flags) != CHATD_OK) {
        config_free(&cfg);
        return 2;
    }
    core_log_set_level((enum core_log_level)cfg.log_level);
    rc = run(&a, &cfg);
    config_free(&cfg);
    return rc;
}
