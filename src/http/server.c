#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/core.h"
#include "http/internal.h"

/* --- MHD callbacks that are not the access handler --- */

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[1024];
    size_t n;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    core_log(CORE_LOG_WARN, "http", "libmicrohttpd: %s", msg);
}

/* Leaves the path and query arguments as sent: the router decodes each
 * path segment itself, so an encoded '/' (%2F) stays inside its
 * parameter, and http_router_add_arg decodes the arguments. */
static size_t on_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    return strlen(s);
}

static void on_connection(void *cls, struct MHD_Connection *c,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct http_server *s = cls;

    metrics_add(s->connections, code == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct chatd_req *r = *con_cls;

    if (r == NULL)
        return;
    if (r->phase == PHASE_DEFERRED && !atomic_load(&r->finished))
        core_log(CORE_LOG_ERROR, "http",
                 "%s %s (request %s) ended while still deferred", r->method,
                 r->route_label, r->request_id);
    http_req_free(r);
    *con_cls = NULL;
}

/* --- sending --- */

static void response_headers(struct chatd_req *r, struct MHD_Response *resp)
{
    const struct http_hdr *h;

    if (http_reply_header_find(r, "Content-Type") == NULL)
        MHD_add_response_header(resp, "Content-Type",
                                r->content_type != NULL ? r->content_type
                                                        : "application/json");
    MHD_add_response_header(resp, "X-Request-Id", r->request_id);
    http_cors_headers(r, resp);
    for (h = r->headers; h != NULL; h = h->next) {
        if (strcasecmp(h->name, "X-Request-Id") == 0)
            continue;
        if (MHD_add_response_header(resp, h->name, h->value) != MHD_YES)
            core_log(CORE_LOG_WARN, "http",
                     "%s %s (request %s): header \"%s\" refused by "
                     "libmicrohttpd; dropped",
                     r->method, r->route_label, r->request_id, h->name);
    }
    /* An early answer leaves the body unread: the connection cannot be
     * reused for another request. */
    if (r->body_unread)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
}

static struct MHD_Response *response_new(struct chatd_req *r)
{
    struct MHD_Response *resp;
    const char *text;

    if (r->reply != NULL) {
        /* MHD frees the body with free() when done with it. */
        resp = MHD_create_response_from_buffer(r->reply_len, r->reply,
                                               MHD_RESPMEM_MUST_FREE);
        if (resp != NULL)
            r->reply = NULL;
        return resp;
    }
    text = r->reply_static != NULL ? r->reply_static : "";
    return MHD_create_response_from_buffer(
        r->reply_static != NULL ? r->reply_len : 0, (void *)text,
        MHD_RESPMEM_PERSISTENT);
}

enum MHD_Result http_server_send(struct chatd_req *r)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = response_new(r);
    if (resp == NULL) {
        core_log(CORE_LOG_ERROR, "http",
                 "%s %s (request %s): cannot build the response; closing",
                 r->method, r->route_label, r->request_id);
        return MHD_NO;
    }
    response_headers(r, resp);
    http_stats_request(r);
    ret = MHD_queue_response(r->conn, r->status, resp);
    MHD_destroy_response(resp);
    r->phase = PHASE_SENT;
    if (ret != MHD_YES)
        core_log(CORE_LOG_ERROR, "http",
                 "%s %s (request %s): libmicrohttpd refused the %u "
                 "response; closing",
                 r->method, r->route_label, r->request_id, r->status);
    return ret;
}

/* --- the access handler --- */

static bool is_write_method(const char *m)
{
    return strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 ||
           strcmp(m, "PATCH") == 0;
}

/* `application/json`, any case, optionally followed by parameters. */
static bool content_type_json(const char *ct)
{
    size_t n;

    if (ct == NULL)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    if (strncasecmp(ct, "application/json", 16) != 0)
        return false;
    for (n = 16; ct[n] == ' ' || ct[n] == '\t'; n++)
        ;
    return ct[n] == '\0' || ct[n] == ';';
}

static const char *header(struct chatd_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

static bool reject_415(struct chatd_req *r)
{
    http_reply_error(r, 415, "unsupported_media_type",
                     "send the body as Content-Type: application/json");
    return false;
}

static bool reject_413(struct chatd_req *r)
{
    char msg[96];

    snprintf(msg, sizeof(msg), "the body is larger than %zu bytes",
             r->srv->max_body);
    http_reply_error(r, 413, "too_large", msg);
    return false;
}

/* Content-Length (`cl`, the header or NULL) and Content-Type, before any
 * body byte is read. */
static bool body_precheck(struct chatd_req *r, const char *cl)
{
    uint64_t n = 0;

    if (cl != NULL && core_parse_u64(cl, 0, UINT64_MAX, &n) &&
        n > r->srv->max_body)
        return reject_413(r);
    if (n > 0) {
        r->ctype_checked = true;
        if (is_write_method(r->method) &&
            !content_type_json(header(r, MHD_HTTP_HEADER_CONTENT_TYPE)))
            return reject_415(r);
    }
    return true;
}

static enum MHD_Result arg_iter(void *cls, enum MHD_ValueKind kind,
                                const char *key, const char *value)
{
    return http_router_add_arg(cls, key, value, true) ? MHD_YES : MHD_NO;
}

static bool args_collect(struct chatd_req *r)
{
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, arg_iter, r);
    return r->status == 0;
}

static void method_copy(struct chatd_req *r, const char *method)
{
    if (strlen(method) < sizeof(r->method))
        strcpy(r->method, method);
    else
        strcpy(r->method, "?"); /* matches no route */
}

/*
 * An error found from the headers alone. With a body on its way, answer
 * now and close (MHD then skips the body). Without one, answer in the
 * final call: MHD closes the connection after a response queued in the
 * first call (measured with 0.9.75), and a 404 should not cost the client
 * its keep-alive connection.
 */
static enum MHD_Result reject_early(struct chatd_req *r)
{
    if (!r->body_expected) {
        r->phase = PHASE_REJECTED;
        return MHD_YES;
    }
    r->body_unread = true;
    return http_server_send(r);
}

static enum MHD_Result on_first(struct http_server *s,
                                struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version,
                                void **con_cls)
{
    struct chatd_req *r = http_req_alloc(s, REQ_MHD);
    const char *cl, *origin = NULL;

    if (r == NULL)
        return MHD_NO;
    *con_cls = r; /* from now on on_completed frees it */
    r->conn = conn;
    method_copy(r, method);
    r->path = strdup(url);
    if (r->path == NULL)
        return MHD_NO;
    http_req_set_id(r, header(r, "X-Request-Id"));
    cl = header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    r->body_expected =
        header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL ||
        (cl != NULL && strcmp(cl, "0") != 0);
    if (s->ncors > 0) { /* no header lookups without a list */
        origin = header(r, "Origin");
        r->cors_origin = http_cors_match(s, origin);
        if (r->cors_origin != NULL && strcmp(r->method, "OPTIONS") == 0 &&
            http_cors_preflight(r,
                                header(r, "Access-Control-Request-Method")))
            return reject_early(r);
    }
    if (!http_router_resolve(r))
        return reject_early(r);
    if (r->route->kind == ROUTE_UPGRADE) {
        if (s->ncors > 0 && origin != NULL && r->cors_origin == NULL) {
            http_reply_error(r, 403, "forbidden",
                             "pages of this origin may not open a WebSocket "
                             "here (http.cors_origins)");
            return reject_early(r);
        }
        return http_upgrade_begin(r, version);
    }
    if (!http_auth_check(r, header(r, MHD_HTTP_HEADER_AUTHORIZATION)) ||
        !args_collect(r) || !body_precheck(r, cl))
        return reject_early(r);
    return MHD_YES;
}

/* How much of a rejected body is read (and dropped) before giving up on
 * the connection without an answer. */
static size_t discard_limit(const struct http_server *s)
{
    return 4 * s->max_body + 65536;
}

static enum MHD_Result on_upload(struct chatd_req *r, const char *data,
                                 size_t *size)
{
    size_t n = *size;
    int rc;

    *size = 0;
    if (r->phase == PHASE_BODY && !r->ctype_checked) {
        /* A chunked body: its type is checked at its first byte. */
        r->ctype_checked = true;
        if (is_write_method(r->method) &&
            !content_type_json(header(r, MHD_HTTP_HEADER_CONTENT_TYPE))) {
            reject_415(r);
            r->phase = PHASE_REJECTED;
        }
    }
    if (r->phase == PHASE_BODY) {
        rc = http_req_body_append(r, data, n);
        if (rc == CHATD_EFULL)
            reject_413(r);
        else if (rc != CHATD_OK)
            http_reply_error(r, 500, "internal", "out of memory");
        if (rc != CHATD_OK) {
            free(r->body);
            r->body = NULL;
            r->body_len = 0;
            r->phase = PHASE_REJECTED;
        }
    }
    if (r->phase == PHASE_BODY)
        return MHD_YES;
    /* MHD allows no answer while the body is still arriving: drop it and
     * answer at the end, unless the client keeps sending far too much. */
    r->discarded += n;
    if (r->discarded > discard_limit(r->srv)) {
        core_log(CORE_LOG_WARN, "http",
                 "%s %s (request %s): %zu body bytes after a %u; closing "
                 "without an answer",
                 r->method, r->route_label, r->request_id, r->discarded,
                 r->status);
        return MHD_NO;
    }
    return MHD_YES;
}

static enum MHD_Result on_final(struct chatd_req *r)
{
    switch (r->phase) {
    case PHASE_BODY:
        if (http_req_run(r)) {
            r->phase = PHASE_DEFERRED;
            return MHD_YES;
        }
        return http_server_send(r);
    case PHASE_REJECTED:
        return http_server_send(r);
    case PHASE_DEFERRED:
        if (atomic_load(&r->finished))
            return http_server_send(r);
        core_log(CORE_LOG_ERROR, "http",
                 "%s %s (request %s): resumed before http_req_finish",
                 r->method, r->route_label, r->request_id);
        return MHD_YES;
    case PHASE_SENT:
        break;
    }
    return MHD_YES;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn,
                                 const char *url, const char *method,
                                 const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    if (*con_cls == NULL)
        return on_first(cls, conn, url, method, version, con_cls);
    if (*upload_data_size > 0)
        return on_upload(*con_cls, upload_data, upload_data_size);
    return on_final(*con_cls);
}

/* --- life cycle --- */

static int sockaddr_make(const char *address, uint16_t port,
                         struct sockaddr_storage *ss, bool *ipv6)
{
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, address, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        *ipv6 = false;
        return CHATD_OK;
    }
    if (inet_pton(AF_INET6, address, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        *ipv6 = true;
        return CHATD_OK;
    }
    return CHATD_EINVAL;
}

int http_open(struct http_server **out, const struct http_options *opt,
              const struct http_deps *deps)
{
    struct sockaddr_storage ss;
    struct http_server *s;
    bool ipv6;
    int rc;

    *out = NULL;
    if (opt == NULL || opt->address == NULL ||
        sockaddr_make(opt->address, opt->port, &ss, &ipv6) != CHATD_OK)
        return CHATD_EINVAL;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return CHATD_ENOMEM;
    s->address = strdup(opt->address);
    if (s->address == NULL) {
        free(s);
        return CHATD_ENOMEM;
    }
    s->port = opt->port;
    s->max_body = opt->max_body ? opt->max_body : HTTP_DEFAULT_MAX_BODY;
    s->max_connections =
        opt->max_connections ? opt->max_connections : HTTP_DEFAULT_CONNECTIONS;
    s->connection_memory =
        opt->connection_memory ? opt->connection_memory : HTTP_DEFAULT_MEMORY;
    s->timeout_s = opt->timeout_s ? opt->timeout_s : HTTP_DEFAULT_TIMEOUT;
    s->threads = opt->threads ? opt->threads : 1;
    if (deps != NULL)
        s->deps = *deps;
    s->quiesced_fd = -1;
    s->id_used = sizeof(s->id_pool); /* empty: filled at the first id */
    if (pthread_mutex_init(&s->id_lock, NULL) != 0) {
        free(s->address);
        free(s);
        return CHATD_ENOMEM;
    }
    http_stats_open(s);
    rc = http_cors_set(s, opt->cors_origins);
    if (rc == CHATD_OK)
        rc = http_builtin_add(s);
    if (rc != CHATD_OK) {
        http_close(s);
        return rc;
    }
    *out = s;
    return CHATD_OK;
}

int http_route_add(struct http_server *s, const char *method,
                   const char *pattern, enum chatd_auth auth,
                   http_handler_fn fn, void *ctx, const char *owner)
{
    if (fn == NULL)
        return CHATD_EINVAL;
    return http_router_add(s, method, pattern, auth, fn, NULL, ctx, owner);
}

int http_upgrade_add(struct http_server *s, const char *path,
                     http_upgrade_fn fn, void *ctx)
{
    if (fn == NULL)
        return CHATD_EINVAL;
    return http_router_add(s, "GET", path, CHATD_AUTH_NONE, NULL, fn, ctx,
                           "ws");
}

static struct MHD_Daemon *daemon_start(struct http_server *s,
                                       const struct sockaddr_storage *ss,
                                       bool ipv6)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE |
                     MHD_USE_ERROR_LOG;

    if (ipv6)
        flags |= MHD_USE_IPv6;
    /* The logger goes first so that MHD logs nothing through its own. */
    return MHD_start_daemon(
        flags, s->port, NULL, NULL, on_access, s, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_log, s, MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)ss,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)s->max_connections,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)4096,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)s->connection_memory,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)s->timeout_s,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_UNESCAPE_CALLBACK, on_unescape, s,
        /* One thread is MHD's default (no pool), and MHD warns when told
         * so: the list then ends here. */
        s->threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END,
        s->threads, MHD_OPTION_END);
}

int http_start(struct http_server *s)
{
    const union MHD_DaemonInfo *info;
    struct sockaddr_storage ss;
    bool ipv6;

    if (atomic_exchange(&s->started, true))
        return CHATD_ESTATE;
    sockaddr_make(s->address, s->port, &ss, &ipv6);
    s->daemon = daemon_start(s, &ss, ipv6);
    if (s->daemon == NULL) {
        core_log(CORE_LOG_ERROR, "http",
                 "cannot listen on %s%s%s:%u; expected a free port and a "
                 "local address (is another server running?)",
                 ipv6 ? "[" : "", s->address, ipv6 ? "]" : "",
                 (unsigned)s->port);
        atomic_store(&s->started, false);
        return CHATD_EIO;
    }
    info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (info != NULL && info->port != 0)
        s->port = info->port;
    core_log(CORE_LOG_INFO, "http", "listening on %s%s%s:%u", ipv6 ? "[" : "",
             s->address, ipv6 ? "]" : "", (unsigned)s->port);
    return CHATD_OK;
}

uint16_t http_port(const struct http_server *s)
{
    return s->daemon == NULL ? 0 : s->port;
}

void http_set_ready(struct http_server *s, bool ready)
{
    atomic_store(&s->ready, ready);
}

void http_quiesce(struct http_server *s)
{
    atomic_store(&s->closing, true);
    if (s->daemon == NULL || s->quiesced_fd >= 0)
        return;
    s->quiesced_fd = MHD_quiesce_daemon(s->daemon);
}

void http_close(struct http_server *s)
{
    if (s == NULL)
        return;
    atomic_store(&s->closing, true);
    if (s->daemon != NULL)
        MHD_stop_daemon(s->daemon);
    /* MHD hands the quiesced listen socket to us, to close only after the
     * daemon's threads are gone. */
    if (s->quiesced_fd >= 0)
        close(s->quiesced_fd);
    http_router_free(s);
    http_cors_free(s);
    pthread_mutex_destroy(&s->id_lock);
    free(s->address);
    free(s);
}

void http_upgrade_close(void *urh)
{
    if (MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE) != MHD_YES)
        core_log(CORE_LOG_ERROR, "http",
                 "closing an upgraded connection failed (closed twice?)");
}
