/*
 * push — offline push through a webhook. An async subscriber (sub_runner,
 * checkpoint "host.push") looks at each committed event of the configured
 * types, finds the users it was delivered to (userfeed's seq index) that
 * have no live WebSocket connection, and POSTs for each
 *   {"user": ID, "event": {...}, "idempotency_key": "<seq>:<user>"}
 * (and the header `Idempotency-Key: <seq>:<user>`) to the webhook URL,
 * with libcurl's multi interface driven by the host's libevent loop.
 *
 * Delivery is at least once: the checkpoint passes an event only once every
 * push of it got a 2xx; failed ones are retried with the runner's
 * exponential backoff (100 ms doubling to 10 s) until the receiver takes
 * them, so a receiver that is down gets everything when it is back. The
 * receiver deduplicates by the idempotency key. A push that succeeded is
 * not sent again while its event is being retried for other users (in
 * memory; after a restart it may be).
 *
 * When the checkpoint does not exist yet (push newly configured), it is
 * created at the current end of the log: history is not pushed.
 */
#ifndef PUSH_PUSH_H
#define PUSH_PUSH_H

#include <stdbool.h>
#include <stdint.h>

#include "commit/commit.h"
#include "evlog/evlog.h"
#include "metrics/metrics.h"
#include "ws/userfeed.h"
#include "ws/ws.h"

struct event_base;
struct push;

struct push_options {
    const char *webhook_url; /* http(s) URL; NULL or "" = push disabled */
    const char *types;       /* comma-separated event types; NULL or "" =
                                "chat.message_posted" */
    unsigned timeout_ms;     /* per request, connect included; 0 = 5000 */
};

/*
 * Starts pushing. Main thread, with the commit writer open and the loop
 * not yet running or running (requests are handed to it thread-safely;
 * evthread_use_pthreads() must have been called). `ws` may be NULL (then
 * every user counts as offline); `m` may be NULL. Everything borrowed must
 * outlive push_close. With no webhook URL, *out = NULL and CHATD_OK: every
 * push_* function accepts NULL. Errors: CHATD_EINVAL (bad arguments),
 * CHATD_ENOMEM, CHATD_EIO (libcurl init), or the checkpoint write's or
 * sub_runner_start's error.
 */
int push_open(struct push **out, const struct push_options *opt,
              struct evlog *log, struct commit *c, struct userfeed *uf,
              struct ws_server *ws, struct event_base *base,
              struct metrics *m);

/* New events up to `last_seq` are committed (from the commit's
 * after_commit hook, next to ws_notify). Any thread, cheap. Optional: the
 * runner also polls once a second. */
void push_notify(struct push *p, uint64_t last_seq);

/* Last seq fully pushed (in memory). Any thread. 0 for NULL. */
uint64_t push_position(const struct push *p);

/*
 * Stops the runner (its position is persisted through the commit writer,
 * which must still be open), cancels transfers in flight (they will be
 * sent again after a restart) and frees. On the loop thread, or on the
 * main thread once the loop has stopped. NULL is a no-op.
 */
void push_close(struct push *p);

#endif /* PUSH_PUSH_H */
