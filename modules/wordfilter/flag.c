/*
 * The flagger: an async subscriber on chat.message_posted. For a user's
 * text message that contains configured words it runs a command (through
 * host->exec) that appends one wordfilter.message_flagged.
 *
 * At least once in, exactly once out. The host may hand the same event to
 * the subscriber again (after a crash, or after a failed try). The command
 * runs on the writer, after every earlier command, and looks the source
 * event's seq up in the "seen" store, which the projection fills in the
 * same transaction as the flag itself: if it is there, the flag exists
 * and nothing is appended. Commands never run concurrently, so two tries
 * cannot both miss it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wordfilter.h"

struct flag_cmd {
    struct wordfilter *wf;
    const struct wf_source *src;
    const bool *hit;
    bool appended; /* out: false when the flag already existed */
};

static int append_flag(struct flag_cmd *a, struct chatd_txn *txn)
{
    const struct chatd_host *host = a->wf->host;
    char stream[16 + WF_ID_MAX];
    struct chatd_append ap = {.size = sizeof(ap),
                              .type = WF_TYPE_FLAGGED,
                              .stream = stream,
                              .expected_ver = CHATD_ANY_VERSION};
    char *data;
    size_t len = 0;
    int rc;

    data = wf_flag_data(a->src, &a->wf->words, a->hit, &len);
    if (data == NULL)
        return CHATD_ENOMEM;
    snprintf(stream, sizeof(stream), "wordfilter:%s", a->src->room);
    ap.data = data;
    ap.data_len = len;
    rc = host->append(txn, &ap, NULL);
    free(data);
    return rc;
}

/* The command: on the writer thread, inside the group commit. `req` is
 * NULL (exec). Whatever it returns other than CHATD_OK discards its
 * append. */
static int cmd_flag(void *arg, struct chatd_txn *txn, struct chatd_req *req)
{
    struct flag_cmd *a = arg;
    unsigned char key[8];
    struct chatd_val v;
    int rc;

    (void)req;
    wf_be64_put(key, a->src->source_seq);
    rc = a->wf->host->get(txn, a->wf->st.seen, key, sizeof(key), &v);
    if (rc == CHATD_OK)
        return CHATD_OK; /* flagged on an earlier delivery */
    if (rc != CHATD_ENOTFOUND)
        return rc;
    rc = append_flag(a, txn);
    a->appended = rc == CHATD_OK;
    return rc;
}

static int flag(struct wordfilter *wf, const struct chatd_event *ev,
                const struct wf_source *src, const bool *hit)
{
    struct flag_cmd a = {.wf = wf, .src = src, .hit = hit};
    int rc = wf->host->exec(wf->mod, cmd_flag, &a, ev->correlation_id);

    if (rc != CHATD_OK) {
        /* Returning the error makes the host retry this event. */
        wf->host->log(wf->mod, CHATD_LOG_WARN,
                      "event %llu: flag not recorded (%s); will retry",
                      (unsigned long long)ev->seq, wf->host->strerror(rc));
        return rc;
    }
    if (a.appended)
        wf->host->metric_add(wf->flagged_total, 1);
    else
        wf->host->log(wf->mod, CHATD_LOG_DEBUG,
                      "event %llu delivered again: already flagged",
                      (unsigned long long)ev->seq);
    return CHATD_OK;
}

/* The subscriber: on its own thread; `ev` is borrowed for the call. */
int wf_on_message(void *state, const struct chatd_event *ev)
{
    struct wordfilter *wf = state;
    bool hit[WF_WORDS_MAX] = {false};
    struct wf_source src;
    void *doc = NULL;
    int rc = CHATD_OK;

    switch (wf_source_read(ev, &doc, &src)) {
    case WF_PARSE_SKIP:
        return CHATD_OK;
    case WF_PARSE_MALFORMED:
        /* Retrying cannot fix the data: count it, say so, go on. */
        wf->host->metric_add(wf->skipped_total, 1);
        wf->host->log(wf->mod, CHATD_LOG_WARN,
                      "event %llu (%s v%u): data not as expected; skipped",
                      (unsigned long long)ev->seq, ev->type, ev->v);
        return CHATD_OK;
    case WF_PARSE_OK:
        break;
    }
    if (wf_match(&wf->words, src.text, src.text_len, hit) > 0)
        rc = flag(wf, ev, &src, hit);
    wf_doc_free(doc);
    return rc;
}
