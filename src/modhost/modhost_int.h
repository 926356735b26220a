/* Private to src/modhost: the shapes behind the opaque public handles. */
#ifndef MODHOST_MODHOST_INT_H
#define MODHOST_MODHOST_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "chatd/module.h"
#include "modhost/modhost.h"

#define MODHOST_NAME_MAX 32

struct evlog_txn;
struct evlog_store;
struct sub_runner;
struct event;

struct chatd_store {
    struct chatd_module *owner;
    char *name;                /* "<module>/<store>" */
    size_t index;              /* position in modhost.stores */
    struct evlog_store *live;  /* in the serving environment */
    bool written;              /* some projection declared it */
};

struct modhost_type {
    struct chatd_module *owner;
    struct chatd_event_type et; /* et.type points at `name` */
    char *name;
};

struct modhost_proj {
    struct chatd_module *owner;
    char *name;                 /* "<module>.<projection>" */
    uint32_t version;
    chatd_project_fn apply;
    int (*flush)(void *state, struct chatd_txn *txn);  /* may be NULL */
    void (*discard)(void *state);                      /* may be NULL */
    size_t *stores;             /* indexes into modhost.stores */
    size_t nstores;
    bool selected;              /* part of the current replay */
    bool touched;               /* apply ran since the last flush */
};

struct modhost_sub {
    struct chatd_module *owner;
    char *name;                 /* "<module>.<subscriber>" */
    char *prefix;
    chatd_subscribe_fn handle;
    int (*flush)(void *state);  /* chatd_host.subscriber_hooks; may be NULL */
    struct sub_runner *runner;
};

struct modhost_route {
    struct chatd_module *owner;
    struct chatd_route r;       /* strings point at owned copies */
    char *method;
    char *pattern;
};

struct modhost_timer {
    struct chatd_module *owner;
    unsigned interval_ms;
    chatd_timer_fn fn;
    struct event *ev;
};

struct chatd_metric {
    struct metrics_value *value;
};

/* Growable array of pointers. */
struct modhost_vec {
    void **items;
    size_t len;
    size_t cap;
};

struct chatd_module {
    struct modhost *mh;
    char name[MODHOST_NAME_MAX + 1];
    char *path;               /* NULL for built-ins */
    void *dl;                 /* dlopen handle, NULL for built-ins */
    const struct chatd_module_info *info;
    void *state;
    bool registering;         /* inside init */
    bool initialised;
    bool started;
    struct modhost_vec config_names; /* char *: keys it registered */
};

struct modhost {
    const json_t *config;
    struct modhost_deps deps;
    struct modhost_vec modules;  /* struct chatd_module * in load order */
    struct modhost_vec types;    /* struct modhost_type * */
    struct modhost_vec stores;   /* struct chatd_store * */
    struct modhost_vec projs;    /* struct modhost_proj * */
    struct modhost_vec subs;     /* struct modhost_sub * */
    struct modhost_vec routes;   /* struct modhost_route * */
    struct modhost_vec timers;   /* struct modhost_timer * */
    struct modhost_vec metrics;  /* struct chatd_metric * */
    char admin_token[256];
    uint8_t admin_hash[32]; /* SHA-256 of admin_token, when it is set */
    void *identity_state; /* the built-in identity's, once initialised */
};

enum modhost_txn_kind {
    MODHOST_TXN_READ = 1,
    MODHOST_TXN_COMMAND = 2,
    MODHOST_TXN_PROJECTION = 3,
};

/* The public `struct chatd_txn`: an evlog transaction plus who is using it
 * and for what, so every store access can be checked. */
struct chatd_txn {
    struct evlog_txn *t;
    struct modhost *mh;
    struct chatd_module *mod;        /* the caller's module */
    enum modhost_txn_kind kind;
    struct chatd_req *req;           /* commands from requests */
    const char *correlation_id;      /* commands */
    const char *actor;               /* commands */
    const struct chatd_event *ev;    /* projections: the event applied */
    const struct modhost_proj *proj; /* projections */
    struct evlog_store **store_map;  /* replay into another env, or NULL */
    struct userfeed *userfeed;       /* where deliver() writes; NULL = off */
    bool own_txn;                    /* read txns opened by read_begin */
    bool selected_only;              /* replay: only selected projections */
};

struct chatd_cursor {
    struct evlog_cursor *c;
};

extern const struct chatd_host modhost_host_table;

/* vec.c */
int vec_push(struct modhost_vec *v, void *item);
void vec_free(struct modhost_vec *v);

/* registry.c: the registration entries of the host table */
struct modhost_type *modhost_type_find(const struct modhost *mh,
                                       const char *type);
bool modhost_name_valid(const char *name);
int modhost_reg_event_type(struct chatd_module *mod,
                           const struct chatd_event_type *et);
int modhost_reg_store(struct chatd_module *mod, const char *name,
                      struct chatd_store **out);
int modhost_reg_projection(struct chatd_module *mod,
                           const struct chatd_projection *p);
int modhost_reg_projection_hooks(struct chatd_module *mod, const char *name,
                                 int (*flush)(void *, struct chatd_txn *),
                                 void (*discard)(void *));
int modhost_reg_subscriber(struct chatd_module *mod,
                           const struct chatd_subscriber *s);
int modhost_reg_subscriber_hooks(struct chatd_module *mod, const char *name,
                                 int (*flush)(void *state));
int modhost_reg_route(struct chatd_module *mod, const struct chatd_route *r);
int modhost_reg_config(struct chatd_module *mod,
                       const struct chatd_config_item *items);
int modhost_reg_timer(struct chatd_module *mod, unsigned interval_ms,
                      chatd_timer_fn fn);
int modhost_reg_metric(struct chatd_module *mod, enum chatd_metric_kind kind,
                       const char *name, const char *help,
                       struct chatd_metric **out);
/* Removes everything `mod` registered (init failed). */
void modhost_drop_owned(struct modhost *mh, const struct chatd_module *mod);

/* command.c */
int modhost_apply_projections(struct chatd_txn *ctx,
                              const struct chatd_event *ev);
int modhost_host_submit(struct chatd_req *req, chatd_command_fn fn, void *arg,
                        void (*free_arg)(void *arg));
int modhost_host_exec(struct chatd_module *mod, chatd_command_fn fn,
                      void *arg, const char *correlation_id);
int modhost_host_append(struct chatd_txn *txn, const struct chatd_append *a,
                        uint64_t *seq_out);
/* Upcasts ev into *scratch when older than its type's current version;
 * returns the event to use (ev or scratch). *owned is set to data the
 * caller must free(). */
const struct chatd_event *modhost_upcast(const struct modhost *mh,
                                         const struct chatd_event *ev,
                                         struct chatd_event *scratch,
                                         char **owned, int *status);

/* store.c: resolves a module store for a transaction. */
struct evlog_store *modhost_store_resolve(const struct chatd_txn *txn,
                                          const struct chatd_store *st);

/* config.c */
int modhost_config_apply(struct chatd_module *mod,
                         const struct chatd_config_item *items);
int modhost_config_check_unknown(struct modhost *mh);

/* loader.c */
int modhost_register(struct modhost *mh, const struct chatd_module_info *info,
                     const char *path, void *dl, char *why, size_t why_len);

#endif /* MODHOST_MODHOST_INT_H */
