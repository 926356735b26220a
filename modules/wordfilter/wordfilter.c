/*
 * wordfilter — the example module of docs/MODULES.md: flags chat messages
 * that contain configured words (README.md).
 *
 * This file is its declaration to the host, from static tables: one event
 * type of its own (with an upcaster), four stores written by one inline
 * projection, one async subscriber on chat.message_posted, two admin
 * routes, two config keys and two metrics.
 *
 * Why a subscriber and not an inline projection on chat's events: a
 * projection cannot append events, and a flag should be an event (the
 * decision is recorded as a fact, so changing the word list later does
 * not rewrite history and a rebuild gives the same counts). It also keeps
 * the filter off the chat's write path: a projection's error would abort
 * the chat command that posted the message, while a subscriber that fails
 * only retries, and a slow word list never delays a post.
 */
#include <stdlib.h>
#include <string.h>

#include "wordfilter.h"

static const struct chatd_event_type event_types[] = {
    {WF_TYPE_FLAGGED, WF_FLAGGED_VERSION, wf_upcast_flag},
};

static const char *const store_names[] = {"seen", "flags", "counts",
                                          "totals", NULL};

static const struct chatd_projection projection = {
    .name = "counts",
    .version = 1,
    .stores = store_names,
    .apply = wf_project,
};

static const struct chatd_subscriber subscriber = {
    .name = "flagger",
    .prefix = WF_SOURCE_TYPE,
    .handle = wf_on_message,
};

static const struct chatd_route routes[] = {
    {"GET", "/v1/wordfilter/stats", CHATD_AUTH_ADMIN, wf_route_stats},
    {"GET", "/v1/wordfilter/rooms/{room_id}/flags", CHATD_AUTH_ADMIN,
     wf_route_room_flags},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Reads wordfilter.words and wordfilter.case_sensitive, then parses the
 * list, so a bad list refuses the start with a sentence saying why. */
static int register_config(struct wordfilter *wf)
{
    const struct chatd_config_item items[] = {
        {.key = "words", .type = CHATD_CONFIG_STRING, .def_str = "spam,scam",
         .target = &wf->words_conf},
        {.key = "case_sensitive", .type = CHATD_CONFIG_BOOL, .def_int = 0,
         .target = &wf->case_sensitive},
        {.key = NULL},
    };
    char err[200];
    int rc = wf->host->config(wf->mod, items);

    if (rc != CHATD_OK)
        return rc;
    rc = wf_words_parse(wf->words_conf, wf->case_sensitive, &wf->words, err,
                        sizeof(err));
    if (rc == -2)
        return CHATD_ENOMEM;
    if (rc != 0) {
        wf->host->log(wf->mod, CHATD_LOG_ERROR, "wordfilter.words: %s", err);
        return CHATD_EINVAL;
    }
    return CHATD_OK;
}

static int register_stores(struct wordfilter *wf)
{
    struct chatd_store **slots[] = {&wf->st.seen, &wf->st.flags,
                                    &wf->st.counts, &wf->st.totals};
    size_t i;
    int rc = CHATD_OK;

    for (i = 0; i < N(slots) && rc == CHATD_OK; i++)
        rc = wf->host->store(wf->mod, store_names[i], slots[i]);
    return rc;
}

static int register_metrics(struct wordfilter *wf)
{
    int rc = wf->host->metric(wf->mod, CHATD_METRIC_COUNTER, "flagged_total",
                              "Chat messages flagged by the word filter",
                              &wf->flagged_total);

    if (rc == CHATD_OK)
        rc = wf->host->metric(wf->mod, CHATD_METRIC_COUNTER, "skipped_total",
                              "chat.message_posted events the filter could "
                              "not read (malformed data)",
                              &wf->skipped_total);
    return rc;
}

static int register_all(struct wordfilter *wf)
{
    size_t i;
    int rc = register_config(wf);

    for (i = 0; i < N(event_types) && rc == CHATD_OK; i++)
        rc = wf->host->event_type(wf->mod, &event_types[i]);
    if (rc == CHATD_OK)
        rc = register_stores(wf);
    if (rc == CHATD_OK)
        rc = wf->host->projection(wf->mod, &projection);
    if (rc == CHATD_OK)
        rc = wf->host->subscriber(wf->mod, &subscriber);
    for (i = 0; i < N(routes) && rc == CHATD_OK; i++)
        rc = wf->host->route(wf->mod, &routes[i]);
    if (rc == CHATD_OK)
        rc = register_metrics(wf);
    return rc;
}

static void wf_fini(void *state)
{
    struct wordfilter *wf = state;

    if (wf == NULL)
        return;
    wf_words_free(&wf->words);
    free(wf);
}

static int wf_init(struct chatd_module *mod, const struct chatd_host *host,
                   void **state)
{
    struct wordfilter *wf;
    int rc;

    /* Every entry this module calls exists in a table at least this big;
     * the loader already refused a host older than our ABI minor. */
    if (host->size < sizeof(struct chatd_host))
        return CHATD_EABI;
    wf = calloc(1, sizeof(*wf));
    if (wf == NULL)
        return CHATD_ENOMEM;
    wf->mod = mod;
    wf->host = host;
    rc = register_all(wf);
    if (rc != CHATD_OK) {
        host->log(mod, CHATD_LOG_ERROR, "registration failed: %s",
                  host->strerror(rc));
        wf_fini(wf);
        return rc;
    }
    *state = wf;
    return CHATD_OK;
}

static int wf_start(void *state)
{
    const struct wordfilter *wf = state;

    wf->host->log(wf->mod, CHATD_LOG_INFO,
                  "flagging chat messages with any of %zu word(s): %s%s",
                  wf->words.n, wf->words_conf,
                  wf->case_sensitive ? " (case-sensitive)" : "");
    return CHATD_OK;
}

CHATD_MODULE(.name = "wordfilter", .version = "1.0.0",
             .description = "flags chat messages containing configured words",
             .init = wf_init, .start = wf_start, .fini = wf_fini);
