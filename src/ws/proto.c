/*
 * proto — the client frames (auth, resume, send, read, typing, ping) and
 * the answers to the ones mapped onto REST routes with http_dispatch. The
 * only file of ws that uses jansson.
 */
#include "ws/internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

#define ROOM_MAX 128

static void send_text(struct conn *c, const char *s, size_t n)
{
    if (conn_queue_text(c, s, n, false))
        conn_flush_later(c);
}

static void send_error(struct conn *c, const char *code, const char *message,
                       const char *id_json)
{
    struct wsbuf *b = &c->ws->scratch;
    wsbuf_reset(b);
    frame_error(b, code, message, id_json);
    if (!b->failed)
        send_text(c, b->data, b->len);
}

static void send_json(struct conn *c, json_t *obj)
{
    char *s = json_dumps(obj, JSON_COMPACT);
    if (s) {
        send_text(c, s, strlen(s));
        free(s);
    }
}

/* --- session start and resume --- */

static void resync(struct conn *c, const char *reason, uint64_t pos)
{
    struct wsbuf *b = &c->ws->scratch;
    wsbuf_reset(b);
    frame_resync(b, reason, pos, c->ws->epoch);
    if (!b->failed)
        send_text(c, b->data, b->len);
}

void proto_resume(struct conn *c, bool has_after, uint64_t after,
                  const char *epoch)
{
    struct ws_server *ws = c->ws;
    uint64_t last;

    c->state = CONN_LIVE;
    c->caught_up = false;
    if (has_after) {
        if (epoch && strcmp(epoch, ws->epoch) != 0) {
            resync(c, "epoch_mismatch", c->sent_pos);
        } else if (deliver_read_last_pos(ws, c->user->id, &last) != CHATD_OK) {
            conn_close(c, WSLAY_CODE_INTERNAL_SERVER_ERROR, "storage error");
            return;
        } else if (after > last) {
            resync(c, "position_ahead", c->sent_pos);
        } else if (epoch == NULL && after > 0) {
            /* Without the epoch a position from another data directory
             * would resume silently in the wrong place. */
            resync(c, "epoch_required", c->sent_pos);
        } else {
            c->sent_pos = after;
        }
    }
    deliver_want_pump(c);
}

int proto_start_session(struct conn *c, const char *user, bool header_auth,
                        bool has_after, uint64_t after, const char *epoch)
{
    struct ws_server *ws = c->ws;
    uint64_t last;

    if (strlen(user) == 0 || strlen(user) > USERFEED_USER_MAX ||
        deliver_read_last_pos(ws, user, &last) != CHATD_OK ||
        ws_user_attach(ws, c, user) != CHATD_OK) {
        conn_close(c, WSLAY_CODE_INTERNAL_SERVER_ERROR, "cannot start");
        return CHATD_EIO;
    }
    struct wsbuf *b = &ws->scratch;
    wsbuf_reset(b);
    frame_hello(b, ws->epoch, user, last);
    if (!b->failed)
        send_text(c, b->data, b->len);
    c->sent_pos = last;
    if (header_auth) {
        c->state = CONN_HOLD;
        c->deadline_ms = ws_now_ms() + ws->opt.resume_window_ms;
        return CHATD_OK;
    }
    proto_resume(c, has_after, after, epoch);
    return CHATD_OK;
}

/* Reads "after" (non-negative integer) and "epoch" (string) of a frame.
 * False if either is present with a wrong type. */
static bool resume_args(json_t *j, bool *has_after, uint64_t *after,
                        const char **epoch)
{
    json_t *a = json_object_get(j, "after");
    json_t *e = json_object_get(j, "epoch");
    *has_after = a && !json_is_null(a);
    *epoch = NULL;
    if (*has_after) {
        if (!json_is_integer(a) || json_integer_value(a) < 0)
            return false;
        *after = (uint64_t)json_integer_value(a);
    }
    if (e && !json_is_null(e)) {
        if (!json_is_string(e))
            return false;
        *epoch = json_string_value(e);
    }
    return true;
}

static void do_auth(struct conn *c, json_t *j)
{
    struct ws_server *ws = c->ws;
    struct http_principal p = {0};
    const char *token = json_string_value(json_object_get(j, "token"));
    bool has_after;
    uint64_t after = 0;
    const char *epoch;

    if (!token || !*token || !resume_args(j, &has_after, &after, &epoch)) {
        conn_close(c, WSLAY_CODE_POLICY_VIOLATION, "bad auth frame");
        return;
    }
    if (ws->deps.auth(ws->deps.auth_ctx, token, &p) != CHATD_OK ||
        p.kind != CHATD_PRINCIPAL_USER) {
        conn_close(c, WSLAY_CODE_POLICY_VIOLATION, "authentication failed");
        return;
    }
    c->token_expires_ms = p.expires_ms;
    proto_start_session(c, p.id, false, has_after, after, epoch);
}

/* --- frames mapped onto routes --- */

static bool room_ok(const char *r)
{
    size_t n = r ? strlen(r) : 0;
    if (n == 0 || n > ROOM_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = r[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' ||
                  ch == '.' || ch == ':' || ch == '~';
        if (!ok)
            return false;
    }
    return true;
}

static void route(struct conn *c, enum answer_kind k, const char *room,
                  const char *suffix, json_t *body, const char *ref_json)
{
    struct ws_server *ws = c->ws;
    char path[64 + ROOM_MAX];
    struct http_principal who = {.kind = CHATD_PRINCIPAL_USER};

    if (c->inflight >= ws->opt.max_inflight) {
        send_error(c, "rate_limited", "too many frames awaiting an answer",
                   ref_json);
        return;
    }
    snprintf(who.id, sizeof who.id, "%s", c->user->id);
    snprintf(path, sizeof path, "/v1/rooms/%s/%s", room, suffix);
    char *s = json_dumps(body, JSON_COMPACT);
    int rc = s ? ws_dispatch(ws, c, k, "POST", path, s, strlen(s), &who,
                             ref_json)
               : CHATD_ENOMEM;
    free(s);
    if (rc != CHATD_OK)
        send_error(c, "unavailable", core_strerror(rc), ref_json);
}

static void do_room_frame(struct conn *c, const char *type, json_t *j,
                          const char *id_json)
{
    const char *room = json_string_value(json_object_get(j, "room"));
    if (!room_ok(room)) {
        send_error(c, "invalid_argument", "\"room\" must be a room id",
                   id_json);
        return;
    }
    json_t *body = json_object();
    if (strcmp(type, "send") == 0) {
        json_t *cmid = json_object_get(j, "client_msg_id");
        json_t *text = json_object_get(j, "text");
        char *ref = cmid ? json_dumps(cmid, JSON_COMPACT | JSON_ENCODE_ANY)
                         : NULL;
        if (text)
            json_object_set(body, "text", text);
        if (cmid)
            json_object_set(body, "client_msg_id", cmid);
        route(c, A_SEND, room, "messages", body, ref ? ref : "null");
        free(ref);
    } else if (strcmp(type, "read") == 0) {
        json_t *seq = json_object_get(j, "seq");
        if (seq)
            json_object_set(body, "seq", seq);
        route(c, A_READ, room, "read", body, id_json);
    } else {
        route(c, A_TYPING, room, "typing", body, id_json);
    }
    json_decref(body);
}

static void do_live_frame(struct conn *c, const char *type, json_t *j,
                          const char *id_json)
{
    if (!type) {
        send_error(c, "invalid_argument", "frame without \"type\"", id_json);
    } else if (strcmp(type, "send") == 0 || strcmp(type, "read") == 0 ||
               strcmp(type, "typing") == 0) {
        do_room_frame(c, type, j, id_json);
    } else if (strcmp(type, "ping") == 0) {
        json_t *o = json_pack("{s:s}", "type", "pong");
        json_t *id = json_object_get(j, "id");
        if (o && id)
            json_object_set(o, "id", id);
        if (o)
            send_json(c, o);
        json_decref(o);
    } else if (strcmp(type, "resume") == 0 || strcmp(type, "auth") == 0) {
        send_error(c, "invalid_argument",
                   "resume and auth are only accepted as the first frame",
                   id_json);
    } else {
        send_error(c, "invalid_argument", "unknown frame type", id_json);
    }
}

void proto_handle_text(struct conn *c, const char *msg, size_t len)
{
    json_error_t err;
    json_t *j = json_loadb(msg, len, 0, &err);
    const char *type = j ? json_string_value(json_object_get(j, "type")) : NULL;

    if (c->state == CONN_AUTH) {
        if (type && strcmp(type, "auth") == 0)
            do_auth(c, j);
        else
            conn_close(c, WSLAY_CODE_POLICY_VIOLATION,
                       "the first frame must be auth");
        json_decref(j);
        return;
    }
    if (!j || !json_is_object(j)) {
        send_error(c, "invalid_json", "a frame is one JSON object", NULL);
        json_decref(j);
        return;
    }
    json_t *id = json_object_get(j, "id");
    char *id_json = id ? json_dumps(id, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (c->state == CONN_HOLD) {
        if (type && strcmp(type, "resume") == 0) {
            bool has_after;
            uint64_t after = 0;
            const char *epoch;
            if (resume_args(j, &has_after, &after, &epoch))
                proto_resume(c, has_after, after, epoch);
            else {
                proto_resume(c, false, 0, NULL);
                send_error(c, "invalid_argument", "bad resume frame", id_json);
            }
            goto out;
        }
        proto_resume(c, false, 0, NULL); /* live from hello's pos */
    }
    if (c->state == CONN_LIVE)
        do_live_frame(c, type, j, id_json);
out:
    free(id_json);
    json_decref(j);
}

/* --- answers of dispatched frames (loop thread) --- */

static json_t *answer_json(const struct xitem *it)
{
    static const char *const refs[] = {[A_SEND] = "send", [A_READ] = "read",
                                       [A_TYPING] = "typing"};
    json_t *o = json_pack("{s:s, s:I}", "type", "ack", "status",
                          (json_int_t)it->status);
    json_t *body = it->data ? json_loadb(it->data, it->len, 0, NULL) : NULL;
    json_t *ref = it->ref_json ? json_loads(it->ref_json, JSON_DECODE_ANY, NULL)
                               : NULL;
    if (!o)
        goto out;
    if (it->akind == A_SEND) {
        json_object_set_new(o, "client_msg_id", ref ? ref : json_null());
        ref = NULL;
    } else {
        json_object_set_new(o, "ref", json_string(refs[it->akind]));
        if (ref) {
            json_object_set_new(o, "id", ref);
            ref = NULL;
        }
    }
    if (it->status >= 200 && it->status < 300) {
        if (it->akind == A_SEND && json_is_object(body))
            json_object_set(o, "message", body);
    } else {
        json_t *e = json_is_object(body) ? json_object_get(body, "error") : NULL;
        if (json_is_object(e))
            json_object_set(o, "error", e);
        else
            json_object_set_new(o, "error",
                                json_pack("{s:s, s:s}", "code", "internal",
                                          "message", "no error body"));
    }
out:
    json_decref(body);
    json_decref(ref);
    return o;
}

void proto_answer(struct ws_server *ws, struct xitem *it)
{
    struct conn *c = it->conn;
    if (!c)
        return;
    c->inflight--;
    bool quiet = it->akind != A_SEND && !it->ref_json && it->status < 400;
    if (!quiet && (c->state == CONN_LIVE || c->state == CONN_HOLD)) {
        json_t *o = answer_json(it);
        if (o)
            send_json(c, o);
        json_decref(o);
    }
    conn_unref(c);
}
