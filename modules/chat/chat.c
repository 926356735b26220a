/*
 * The chat module: rooms, messages, history, inbox, unread counts, read
 * receipts, edits and deletes (README.md). This file is its declaration
 * to the host: event types, stores, the projection, the payment
 * subscriber, configuration and routes, all from static tables.
 */
#include <stdlib.h>
#include <string.h>

#include "chat.h"

static const struct chatd_event_type event_types[] = {
    {"chat.room_created", 1, NULL},   {"chat.member_added", 1, NULL},
    {"chat.member_removed", 1, NULL}, {"chat.message_posted", 1, NULL},
    {"chat.message_edited", 1, NULL}, {"chat.message_deleted", 1, NULL},
    {"chat.read_marked", 1, NULL},    {"chat.user_blocked", 1, NULL},
    {"chat.user_unblocked", 1, NULL},
};

static const char *const store_names[] = {
    "users", "rooms", "members", "messages", "inbox",
    "direct", "blocks", "idem", "notices", NULL,
};

static const struct chatd_route routes[] = {
    {"POST", "/v1/rooms", CHATD_AUTH_USER, chat_route_room_create},
    {"GET", "/v1/rooms", CHATD_AUTH_USER, chat_route_inbox},
    {"GET", "/v1/rooms/{room_id}", CHATD_AUTH_USER, chat_route_room_get},
    {"POST", "/v1/rooms/{room_id}/members", CHATD_AUTH_USER,
     chat_route_member_add},
    {"GET", "/v1/rooms/{room_id}/members", CHATD_AUTH_USER,
     chat_route_member_list},
    {"DELETE", "/v1/rooms/{room_id}/members/{user_id}", CHATD_AUTH_USER,
     chat_route_member_remove},
    {"POST", "/v1/rooms/{room_id}/messages", CHATD_AUTH_USER,
     chat_route_message_post},
    {"GET", "/v1/rooms/{room_id}/messages", CHATD_AUTH_USER,
     chat_route_history},
    {"PATCH", "/v1/rooms/{room_id}/messages/{seq}", CHATD_AUTH_USER,
     chat_route_message_edit},
    {"DELETE", "/v1/rooms/{room_id}/messages/{seq}", CHATD_AUTH_USER,
     chat_route_message_delete},
    {"POST", "/v1/rooms/{room_id}/read", CHATD_AUTH_USER, chat_route_read},
    {"POST", "/v1/rooms/{room_id}/typing", CHATD_AUTH_USER,
     chat_route_typing},
    {"GET", "/v1/rooms/{room_id}/presence", CHATD_AUTH_USER,
     chat_route_presence},
    {"POST", "/v1/presence", CHATD_AUTH_USER, chat_route_presence_announce},
    {"POST", "/v1/users/{user_id}/block", CHATD_AUTH_USER, chat_route_block},
    {"DELETE", "/v1/users/{user_id}/block", CHATD_AUTH_USER,
     chat_route_unblock},
};

/* Version 4: the idempotency store's digest of a text is XXH3, not
 * FNV-1a (README.md, "Stores"). Version 3: unread counts computed from
 * the room's last seq (members keep their own messages after the read
 * position; rooms the seq of their last message's event). Version 2:
 * messages and rooms stored as their final JSON text behind binary
 * headers (README.md, "Stores"); version 1 stored JSON records. */
static const struct chatd_projection projection = {
    .name = "chat",
    .version = 4,
    .stores = store_names,
    .apply = chat_project,
};

/* Notices from the payment module (module "payment_notice", so its types
 * start "payment_notice.") and from any module named "payment"
 * (README.md, "Payment notices"). The prefixes do not overlap. */
static const struct chatd_subscriber subscribers[] = {
    {"payment_notices", "payment.", chat_payment_notice},
    {"payment_notice_notices", "payment_notice.", chat_payment_notice},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int register_stores(struct chat *c)
{
    struct chatd_store **slots[] = {
        &c->st.users,  &c->st.rooms,  &c->st.members,
        &c->st.messages, &c->st.inbox, &c->st.direct,
        &c->st.blocks, &c->st.idem,   &c->st.notices,
    };
    size_t i;
    int rc = CHATD_OK;

    for (i = 0; i < N(slots) && rc == CHATD_OK; i++)
        rc = c->host->store(c->mod, store_names[i], slots[i]);
    return rc;
}

static int register_config(struct chat *c)
{
    const struct chatd_config_item items[] = {
        {"max_members", CHATD_CONFIG_INT, 100, NULL, 2, 10000,
         &c->max_members},
        {"max_text_chars", CHATD_CONFIG_INT, 4000, NULL, 1, 65536,
         &c->max_text_chars},
        {"typing_interval_ms", CHATD_CONFIG_INT, 1000, NULL, 0, 3600000,
         &c->typing_interval_ms},
        {NULL, 0, 0, NULL, 0, 0, NULL},
    };

    return c->host->config(c->mod, items);
}

static int register_all(struct chat *c)
{
    size_t i;
    int rc = register_config(c);

    for (i = 0; i < N(event_types) && rc == CHATD_OK; i++)
        rc = c->host->event_type(c->mod, &event_types[i]);
    if (rc == CHATD_OK)
        rc = register_stores(c);
    if (rc == CHATD_OK)
        rc = c->host->projection(c->mod, &projection);
    if (rc == CHATD_OK)
        rc = c->host->projection_hooks(c->mod, projection.name, chat_flush,
                                       chat_discard);
    for (i = 0; i < N(subscribers) && rc == CHATD_OK; i++)
        rc = c->host->subscriber(c->mod, &subscribers[i]);
    for (i = 0; i < N(routes) && rc == CHATD_OK; i++)
        rc = c->host->route(c->mod, &routes[i]);
    return rc;
}

static void chat_fini(void *state)
{
    struct chat *c = state;

    if (c == NULL)
        return;
    chat_typing_fini(&c->typing);
    chat_pending_free(c);
    free(c);
}

static int chat_init(struct chatd_module *mod, const struct chatd_host *host,
                     void **state)
{
    struct chat *c;
    int rc;

    if (host->size < sizeof(struct chatd_host))
        return CHATD_EABI;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return CHATD_ENOMEM;
    c->mod = mod;
    c->host = host;
    rc = chat_typing_init(&c->typing);
    if (rc != CHATD_OK) {
        free(c);
        return rc;
    }
    rc = register_all(c);
    if (rc != CHATD_OK) {
        host->log(mod, CHATD_LOG_ERROR, "chat: registration failed: %s",
                  host->strerror(rc));
        chat_fini(c);
        return rc;
    }
    *state = c;
    return CHATD_OK;
}

CHATD_MODULE(.name = "chat", .version = "1.0.0",
             .description = "rooms, messages, history, inbox, unread counts, "
                            "read receipts, edits and deletes",
             .init = chat_init, .fini = chat_fini);
