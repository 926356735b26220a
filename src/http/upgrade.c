#include <string.h>
#include <strings.h>

#include "core/core.h"
#include "crypto/crypto.h"
#include "http/internal.h"

/* Whether the comma-separated token list has `token` (case-insensitive);
 * "websocket/13"-style versions are compared by their name only. */
static bool token_list_has(const char *list, const char *token)
{
    size_t n, t = strlen(token);

    if (list == NULL)
        return false;
    while (*list != '\0') {
        list += strspn(list, " \t,");
        n = strcspn(list, ",");
        while (n > 0 && (list[n - 1] == ' ' || list[n - 1] == '\t'))
            n--;
        if ((n == t || (n > t && list[t] == '/')) &&
            strncasecmp(list, token, t) == 0)
            return true;
        list += strcspn(list, ",");
    }
    return false;
}

static bool base64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* Base64 of exactly 16 bytes: 22 characters and "==". */
static bool ws_key_valid(const char *key)
{
    size_t i;

    if (key == NULL || strlen(key) != 24 || strcmp(key + 22, "==") != 0)
        return false;
    for (i = 0; i < 22; i++)
        if (!base64_char(key[i]))
            return false;
    return true;
}

/* Runs on the MHD thread once the 101 is sent. MHD frees the request
 * (on_completed) only after this returns, so r->who is valid here. */
static void on_upgraded(void *cls, struct MHD_Connection *c, void *con_cls,
                        const char *extra_in, size_t extra_in_size,
                        MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
    const struct http_route *rt = cls;
    const struct chatd_req *r = con_cls;
    char token[HTTP_TOKEN_MAX];
    const char *h = r->who.kind == CHATD_PRINCIPAL_NONE
                        ? NULL
                        : MHD_lookup_connection_value(
                              c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    bool has_token = h != NULL && http_bearer_token(h, token, sizeof(token));

    rt->upgrade(rt->ctx, sock, extra_in, extra_in_size, urh, &r->who,
                has_token ? token : NULL);
    explicit_bzero(token, sizeof(token));
}

/* The handshake per RFC 6455 section 4.2.1; false with an error reply. */
static bool handshake_check(struct chatd_req *r, const char *version)
{
    const char *v;

    if (version == NULL || strcmp(version, MHD_HTTP_VERSION_1_1) != 0 ||
        !token_list_has(
            MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Upgrade"),
            "websocket") ||
        !token_list_has(
            MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Connection"),
            "upgrade")) {
        http_reply_error(r, 400, "invalid_argument",
                         "expected a WebSocket handshake: HTTP/1.1 GET with "
                         "Upgrade: websocket and Connection: Upgrade");
        return false;
    }
    v = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                    "Sec-WebSocket-Version");
    if (v == NULL || strcmp(v, "13") != 0) {
        http_reply_error(r, 426, "upgrade_required",
                         "only WebSocket version 13 is supported");
        http_reply_header(r, "Sec-WebSocket-Version", "13");
        return false;
    }
    if (!ws_key_valid(MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                  "Sec-WebSocket-Key"))) {
        http_reply_error(r, 400, "invalid_argument",
                         "Sec-WebSocket-Key must be the base64 of 16 bytes");
        return false;
    }
    return true;
}

/*
 * "Connection: Upgrade" on the 101. STACK-NOTES says MHD refuses a 101
 * without it; measured with 0.9.75 here, MHD adds the token itself to an
 * upgrade response, and adding it too gives "Connection: Upgrade,
 * Upgrade". So it is added only for older versions.
 */
static bool connection_upgrade(struct MHD_Response *resp)
{
#if MHD_VERSION >= 0x00097500
    (void)resp;
    return true;
#else
    return MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION,
                                   "Upgrade") == MHD_YES;
#endif
}

static enum MHD_Result switch_protocols(struct chatd_req *r)
{
    char accept[CRYPTO_WS_ACCEPT_LEN];
    struct MHD_Response *resp;
    enum MHD_Result ret;

    crypto_ws_accept(MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                 "Sec-WebSocket-Key"),
                     accept);
    resp = MHD_create_response_for_upgrade(on_upgraded, r->route);
    if (resp == NULL)
        return MHD_NO;
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket") !=
            MHD_YES ||
        !connection_upgrade(resp) ||
        MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept) !=
            MHD_YES ||
        MHD_add_response_header(resp, "X-Request-Id", r->request_id) !=
            MHD_YES) {
        MHD_destroy_response(resp);
        return MHD_NO;
    }
    r->status = MHD_HTTP_SWITCHING_PROTOCOLS;
    http_stats_request(r);
    ret = MHD_queue_response(r->conn, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
    MHD_destroy_response(resp);
    r->phase = PHASE_SENT;
    if (ret != MHD_YES)
        core_log(CORE_LOG_ERROR, "http",
                 "GET %s (request %s): libmicrohttpd refused the 101",
                 r->route_label, r->request_id);
    return ret;
}

enum MHD_Result http_upgrade_begin(struct chatd_req *r, const char *version)
{
    if (!handshake_check(r, version) ||
        !http_auth_optional(
            r, MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                           MHD_HTTP_HEADER_AUTHORIZATION)))
        return http_server_send(r);
    return switch_protocols(r);
}
