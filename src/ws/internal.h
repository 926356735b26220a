/*
 * ws internals shared by ws.c (server, hand-off, sweeper, cross-thread
 * queues), conn.c (one connection: I/O through wslay, close), proto.c
 * (client frames) and deliver.c (fan-out and catch-up). Loop thread
 * unless a comment says otherwise.
 */
#ifndef WS_INTERNAL_H
#define WS_INTERNAL_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <pthread.h>
#include <stdatomic.h>
#include <wslay/wslay.h>

#include "ws/frame.h"
#include "ws/tracker.h"
#include "ws/ws.h"

/* Bytes of frames written to a socket per send(2) (conn.c). */
#define WS_STAGE (64 * 1024)

/* Close codes of our own (RFC 6455 leaves 4000-4999 to applications). */
#define WS_CLOSE_SLOW_CONSUMER 4008

enum conn_state {
    CONN_AUTH = 1, /* waiting for the auth frame */
    CONN_HOLD,     /* header auth: hello sent, waiting for resume */
    CONN_LIVE,     /* authenticated, receiving events */
    CONN_CLOSING,  /* close frame queued; flushing until sent or linger */
    CONN_DEAD,     /* released; memory kept while answers are pending */
};

/* A user with at least one authenticated connection. The hash table and
 * `nconn` change only on the loop thread, under ws->lock; other threads
 * read them under the lock. */
struct wsuser {
    struct wsuser *hnext;
    struct conn *conns; /* linked by conn->unext */
    unsigned nconn;
    char id[];
};

struct conn {
    struct ws_server *ws;
    struct conn *prev, *next; /* ws->conns */
    struct conn *unext;       /* user->conns */
    struct conn *pump_next;   /* ws->pump_list */
    struct conn *flush_next;  /* ws->flush_list */
    struct wsuser *user;      /* NULL until authenticated */
    int64_t token_expires_ms; /* of the token it authenticated with; 0:
                                 never. The sweeper closes it then (1008) */
    void *urh;
    wslay_event_context_ptr wctx; /* NULL while idle */
    char *extra;                  /* bytes pipelined after the handshake */
    uint32_t extra_len, extra_off;
    /* Bytes that go before anything more of wslay's: our own text frames
     * (see conn_queue_text) and what the socket refused of wslay's. */
    char *pend;
    uint32_t pend_len, pend_off, pend_cap;
    int fd;
    uint16_t refs;     /* 1 while alive + 1 per answer pending */
    uint16_t inflight; /* client frames awaiting their answer */
    uint8_t state;
    uint8_t evflags;   /* flags the event is registered with */
    bool caught_up;    /* every feed entry <= user's last pos was queued */
    bool pump_queued;  /* on ws->pump_list */
    bool flush_queued; /* on ws->flush_list */
    bool io_recent;    /* bytes moved since the last sweep */
    bool eof;          /* peer closed or a socket error */
    struct frame_tracker ft;
    uint64_t sent_pos; /* last feed pos queued to this connection */
    int64_t last_rx_ms, last_ping_ms, deadline_ms;
    struct event ev;
};

/* An item crossing threads into the loop: hand-off, answer, ephemeral. */
enum xitem_kind { X_HANDOFF = 1, X_ANSWER, X_EPHEMERAL, X_CLOSE_USER };
enum answer_kind { A_SEND = 1, A_READ, A_TYPING, A_PRESENCE };

struct xitem {
    struct xitem *next;
    enum xitem_kind kind;
    /* X_HANDOFF */
    int sock;
    void *urh;
    struct http_principal who;
    char *token; /* the bearer token `who` came from, checked again at the
                    hand-off; NULL for none */
    /* X_ANSWER */
    struct conn *conn; /* referenced; NULL for presence */
    enum answer_kind akind;
    unsigned status;
    char *ref_json; /* client_msg_id (send) or id, raw JSON; may be NULL */
    /* X_ANSWER body / X_HANDOFF extra / X_EPHEMERAL json */
    char *data;
    size_t len;
    char user[USERFEED_USER_MAX + 1]; /* X_EPHEMERAL, X_CLOSE_USER ("":
                                         every user) */
};

struct ws_server {
    struct ws_options opt;
    struct ws_deps deps;
    size_t low_water;
    char epoch[64];

    struct event *ev_wake;   /* cross-thread items */
    struct event *ev_notify; /* commits */
    struct event *ev_pump;   /* catch-up reading */
    struct event *ev_sweep;  /* timeouts, pings, idle contexts */

    pthread_mutex_t lock; /* guards the fields below it */
    pthread_cond_t cond;
    struct xitem *xhead, *xtail;
    unsigned xcount;
    unsigned dispatches; /* http_dispatch calls whose done has not run */
    bool shutting_down;
    struct wsuser **users; /* hash table, `nbuckets` chains */
    size_t nbuckets, nusers;

    _Atomic uint64_t notified_seq;
    _Atomic size_t nconns;
    uint64_t processed_seq;

    struct conn *conns; /* every connection, loop thread */
    struct conn *pump_list;
    struct conn *flush_list;
    struct wsbuf scratch, evcache;
    uint64_t evcache_seq;
    /* conn.c: frames on their way from wslay to one send(2) */
    uint8_t stage[WS_STAGE];
    size_t stage_len;
    /* conn.c: frames our text messages into framer_conn->pend */
    wslay_frame_context_ptr framer;
    struct conn *framer_conn;

    struct metrics_value *m_conns, *m_frames, *m_slow, *m_deliveries;
    /* counted here per frame and added to m_frames / m_deliveries by
     * conn_flush_pending: an atomic add per frame stalls on every store
     * of the frame copied before it */
    uint64_t frames_unpub, deliveries_unpub;
};

/* ws.c */
int64_t ws_now_ms(void);
struct wsuser *ws_user_find(struct ws_server *ws, const char *id);
/* The same for an id of known length (id[len] must be '\0'). */
struct wsuser *ws_user_find_n(struct ws_server *ws, const char *id,
                              size_t len);
/* Loop thread: links/unlinks an authenticated connection to its user;
 * the first and last one dispatch presence. */
int ws_user_attach(struct ws_server *ws, struct conn *c, const char *id);
void ws_user_detach(struct ws_server *ws, struct conn *c);
void ws_metric_add(struct metrics_value *v, int64_t d);
/* Runs http_dispatch counting it for ws_close; `conn` (may be NULL) is
 * referenced until the answer was handled on the loop thread. */
int ws_dispatch(struct ws_server *ws, struct conn *c, enum answer_kind k,
                const char *method, const char *path, const char *body,
                size_t len, const struct http_principal *who,
                const char *ref_json);

/* conn.c */
/* The server's frame encoder for conn_queue_text (ws_open / ws_close). */
int conn_framer_init(struct ws_server *ws);
void conn_framer_free(struct ws_server *ws);
struct conn *conn_new(struct ws_server *ws, int sock, void *urh,
                      const char *extra, size_t extra_len);
void conn_unref(struct conn *c);
/* Queues one text message. `droppable` messages (ephemeral) are skipped
 * when the buffer is half full; others past max_outbuf close the
 * connection with 4008. Returns false if the message was not queued. */
bool conn_queue_text(struct conn *c, const char *s, size_t n, bool droppable);
/* Queues a close frame and enters CLOSING (no-op if already closing). */
void conn_close(struct conn *c, uint16_t code, const char *reason);
/* Sends what is queued, tears down when finished, updates the event. */
void conn_flush(struct conn *c);
/* Flushes later (after a read txn ended). */
void conn_flush_later(struct conn *c);
void conn_flush_pending(struct ws_server *ws);
/* Releases the socket now (shutdown path, linger expiry). */
void conn_release(struct conn *c);
void conn_sweep(struct conn *c, int64_t now);
size_t conn_queued(const struct conn *c);

/* proto.c */
void proto_handle_text(struct conn *c, const char *msg, size_t len);
void proto_answer(struct ws_server *ws, struct xitem *it);
/* Sends hello (and resync) for a user that just authenticated. */
int proto_start_session(struct conn *c, const char *user, bool header_auth,
                        bool has_after, uint64_t after, const char *epoch);
void proto_resume(struct conn *c, bool has_after, uint64_t after,
                  const char *epoch);

/* deliver.c */
void deliver_notify_cb(evutil_socket_t fd, short what, void *arg);
void deliver_pump_cb(evutil_socket_t fd, short what, void *arg);
/* Asks for catch-up reading (if the connection is behind and its buffer
 * is below the low-water mark). */
void deliver_want_pump(struct conn *c);
int deliver_read_last_pos(struct ws_server *ws, const char *user,
                          uint64_t *out);

#endif /* WS_INTERNAL_H */
