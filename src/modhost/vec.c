#include <stdlib.h>

#include "modhost/modhost_int.h"

int vec_push(struct modhost_vec *v, void *item)
{
    void **grown;
    size_t cap;

    if (v->len == v->cap) {
        cap = v->cap ? v->cap * 2 : 8;
        grown = realloc(v->items, cap * sizeof(*grown));
        if (grown == NULL)
            return CHATD_ENOMEM;
        v->items = grown;
        v->cap = cap;
    }
    v->items[v->len++] = item;
    return CHATD_OK;
}

void vec_free(struct modhost_vec *v)
{
    free(v->items);
    v->items = NULL;
    v->len = 0;
    v->cap = 0;
}
