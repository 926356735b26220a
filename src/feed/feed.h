/*
 * feed — GET /v1/events: the log as JSON for external consumers and
 * extracted modules (admin or service credentials), with long-polling:
 * `wait=SECONDS` parks the request until something newer is committed or
 * the time is up. Parked requests are woken from the commit writer
 * (feed_notify) and answered on the loop thread.
 */
#ifndef FEED_FEED_H
#define FEED_FEED_H

#include <stdint.h>

struct feed;
struct http_server;
struct evlog;
struct event_base;

/* Registers the route (before http_start). Main thread. */
int feed_open(struct feed **out, struct http_server *http, struct evlog *log,
              struct event_base *base);
/* Any thread, never blocks: events up to `last` are committed. */
void feed_notify(struct feed *f, uint64_t last);
/* Loop thread: answers every parked request now (shutdown). */
void feed_shutdown(struct feed *f);
/* Loop thread, after feed_shutdown and http_close. */
void feed_close(struct feed *f);

#endif /* FEED_FEED_H */
