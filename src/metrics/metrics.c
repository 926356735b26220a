#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "metrics/internal.h"

#define INITIAL_TABLE 64

int metrics_open(struct metrics **out)
{
    struct metrics *m;

    *out = NULL;
    m = calloc(1, sizeof(*m));
    if (m == NULL)
        return CHATD_ENOMEM;
    m->table = calloc(INITIAL_TABLE, sizeof(*m->table));
    if (m->table == NULL)
        goto free_m;
    if (pthread_mutex_init(&m->mu, NULL) != 0)
        goto free_table;
    m->table_size = INITIAL_TABLE;
    m->ftail = &m->families;
    m->ctail = &m->collectors;
    *out = m;
    return CHATD_OK;

free_table:
    free(m->table);
free_m:
    free(m);
    return CHATD_ENOMEM;
}

static void family_free(struct family *f)
{
    struct series *s, *next;

    for (s = f->first; s != NULL; s = next) {
        next = s->next;
        free(s->labels);
        free(s);
    }
    free(f->name);
    free(f->help);
    free(f->bounds);
    free(f);
}

void metrics_close(struct metrics *m)
{
    struct family *f, *fnext;
    struct collector *c, *cnext;

    if (m == NULL)
        return;
    for (f = m->families; f != NULL; f = fnext) {
        fnext = f->next;
        family_free(f);
    }
    for (c = m->collectors; c != NULL; c = cnext) {
        cnext = c->next;
        free(c);
    }
    pthread_mutex_destroy(&m->mu);
    free(m->table);
    free(m);
}

static bool name_valid(const char *name)
{
    const char *p;

    if (name == NULL || *name == '\0' || (*name >= '0' && *name <= '9'))
        return false;
    for (p = name; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '_' || *p == ':'))
            return false;
    return true;
}

static bool label_name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
}

static const char *skip_blanks(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Copies one quoted, escaped value from *pp (at the opening quote) to out;
 * false if it is malformed. */
static bool copy_value(const char **pp, char **out)
{
    const char *p = *pp;

    if (*p++ != '"')
        return false;
    *(*out)++ = '"';
    for (; *p != '"'; p++) {
        if (*p == '\0' || *p == '\n')
            return false;
        if (*p == '\\') {
            if (p[1] != '\\' && p[1] != '"' && p[1] != 'n')
                return false;
            *(*out)++ = *p++;
        }
        *(*out)++ = *p;
    }
    *(*out)++ = '"';
    *pp = p + 1;
    return true;
}

/* True if the label called name[0..len) already appears in canon. */
static bool label_repeated(const char *canon, const char *end, const char *name,
                           size_t len)
{
    const char *p = canon;
    bool in_value = false;

    /* Names start at the beginning and after each ',' outside a value. */
    while (p < end) {
        if (strncmp(p, name, len) == 0 && p[len] == '=')
            return true;
        for (; p < end; p++) {
            if (*p == '\\' && in_value) {
                p++;
            } else if (*p == '"') {
                in_value = !in_value;
            } else if (*p == ',' && !in_value) {
                p++;
                break;
            }
        }
    }
    return false;
}

/*
 * Parses `labels` into the canonical form `a="x",b="y"`: a malloc()ed
 * string ("" for NULL or empty input), or NULL if malformed or out of
 * memory. The canonical form is never longer than the input.
 */
static char *labels_canon(const char *labels, bool refuse_le)
{
    const char *p = labels == NULL ? "" : labels, *name;
    char *canon, *o;
    size_t n;

    canon = malloc(strlen(p) + 1);
    if (canon == NULL)
        return NULL;
    o = canon;
    for (p = skip_blanks(p); *p != '\0'; p = skip_blanks(p)) {
        name = p;
        if (!label_name_char(*p, true))
            goto bad;
        while (label_name_char(*p, false))
            p++;
        n = (size_t)(p - name);
        if ((refuse_le && n == 2 && strncmp(name, "le", 2) == 0) ||
            label_repeated(canon, o, name, n))
            goto bad;
        if (o != canon)
            *o++ = ',';
        memcpy(o, name, n);
        o += n;
        p = skip_blanks(p);
        if (*p++ != '=')
            goto bad;
        *o++ = '=';
        p = skip_blanks(p);
        if (!copy_value(&p, &o))
            goto bad;
        p = skip_blanks(p);
        if (*p == ',')
            p++;
        else if (*p != '\0')
            goto bad;
    }
    *o = '\0';
    return canon;

bad:
    free(canon);
    return NULL;
}

static uint64_t series_hash(const struct family *f, const char *labels)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)(uintptr_t)f;

    for (; *labels != '\0'; labels++) {
        h ^= (unsigned char)*labels;
        h *= 1099511628211ull;
    }
    return h;
}

static struct family *family_find(struct metrics *m, const char *name)
{
    struct family *f;

    for (f = m->families; f != NULL; f = f->next)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

static struct family *family_new(struct metrics *m, const char *name,
                                 const char *help, enum family_kind kind,
                                 const double *bounds, size_t n)
{
    struct family *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return NULL;
    f->name = strdup(name);
    f->help = strdup(help == NULL ? "" : help);
    if (n > 0)
        f->bounds = malloc(n * sizeof(*bounds));
    if (f->name == NULL || f->help == NULL || (n > 0 && f->bounds == NULL)) {
        family_free(f);
        return NULL;
    }
    if (n > 0)
        memcpy(f->bounds, bounds, n * sizeof(*bounds));
    f->nbounds = n;
    f->kind = kind;
    f->tail = &f->first;
    *m->ftail = f;
    m->ftail = &f->next;
    return f;
}

static struct series *series_find(struct metrics *m, const struct family *f,
                                  const char *labels, uint64_t hash)
{
    struct series *s;

    for (s = m->table[hash & (m->table_size - 1)]; s != NULL; s = s->hnext)
        if (s->hash == hash && s->fam == f && strcmp(s->labels, labels) == 0)
            return s;
    return NULL;
}

/* Doubles the hash table when it gets full; failure only costs speed. */
static void table_grow(struct metrics *m)
{
    size_t size = m->table_size * 2, i;
    struct series **table, *s, *next;

    if (m->nseries < m->table_size)
        return;
    table = calloc(size, sizeof(*table));
    if (table == NULL)
        return;
    for (i = 0; i < m->table_size; i++) {
        for (s = m->table[i]; s != NULL; s = next) {
            next = s->hnext;
            s->hnext = table[s->hash & (size - 1)];
            table[s->hash & (size - 1)] = s;
        }
    }
    free(m->table);
    m->table = table;
    m->table_size = size;
}

static void series_link(struct metrics *m, struct family *f, struct series *s,
                        char *labels, uint64_t hash)
{
    size_t b;

    s->fam = f;
    s->labels = labels;
    s->hash = hash;
    *f->tail = s;
    f->tail = &s->next;
    b = hash & (m->table_size - 1);
    s->hnext = m->table[b];
    m->table[b] = s;
    m->nseries++;
    table_grow(m);
}

static bool bounds_equal(const struct family *f, const double *bounds, size_t n)
{
    return f->nbounds == n &&
           (n == 0 || memcmp(f->bounds, bounds, n * sizeof(*bounds)) == 0);
}

/* Finds or creates the series; the caller holds m->mu. */
static struct series *series_get(struct metrics *m, const char *name,
                                 const char *help, const char *labels,
                                 enum family_kind kind, const double *bounds,
                                 size_t n)
{
    struct family *f;
    struct series *s;
    char *canon;
    uint64_t hash;
    size_t size;

    canon = labels_canon(labels, kind == FAMILY_HISTOGRAM);
    if (canon == NULL)
        return NULL;
    f = family_find(m, name);
    if (f != NULL && (f->kind != kind || (kind == FAMILY_HISTOGRAM &&
                                          !bounds_equal(f, bounds, n))))
        goto free_canon;
    hash = series_hash(f, canon);
    s = f == NULL ? NULL : series_find(m, f, canon, hash);
    if (s != NULL) {
        free(canon);
        return s;
    }
    size = kind == FAMILY_HISTOGRAM
               ? sizeof(struct metrics_hist) + (n + 1) * sizeof(uint64_t)
               : sizeof(struct metrics_value);
    s = calloc(1, size);
    if (s == NULL)
        goto free_canon;
    if (f == NULL)
        f = family_new(m, name, help, kind, bounds, n);
    if (f == NULL)
        goto free_s;
    series_link(m, f, s, canon, series_hash(f, canon));
    return s;

free_s:
    free(s);
free_canon:
    free(canon);
    return NULL;
}

static struct series *series_locked(struct metrics *m, const char *name,
                                    const char *help, const char *labels,
                                    enum family_kind kind, const double *bounds,
                                    size_t n)
{
    struct series *s;

    if (m == NULL || !name_valid(name))
        return NULL;
    pthread_mutex_lock(&m->mu);
    s = series_get(m, name, help, labels, kind, bounds, n);
    pthread_mutex_unlock(&m->mu);
    return s;
}

struct metrics_value *metrics_counter(struct metrics *m, const char *name,
                                      const char *help, const char *labels)
{
    return (struct metrics_value *)series_locked(m, name, help, labels,
                                                 FAMILY_COUNTER, NULL, 0);
}

struct metrics_value *metrics_gauge(struct metrics *m, const char *name,
                                    const char *help, const char *labels)
{
    return (struct metrics_value *)series_locked(m, name, help, labels,
                                                 FAMILY_GAUGE, NULL, 0);
}

static bool bounds_valid(const double *bounds, size_t n)
{
    size_t i;

    if (n > METRICS_MAX_BOUNDS || (n > 0 && bounds == NULL))
        return false;
    for (i = 0; i < n; i++)
        if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
            return false;
    return true;
}

struct metrics_hist *metrics_histogram(struct metrics *m, const char *name,
                                       const char *help, const char *labels,
                                       const double *bounds, size_t n)
{
    if (!bounds_valid(bounds, n))
        return NULL;
    return (struct metrics_hist *)series_locked(m, name, help, labels,
                                                FAMILY_HISTOGRAM, bounds, n);
}

void metrics_add(struct metrics_value *v, int64_t delta)
{
    if (v == NULL || (delta < 0 && v->s.fam->kind == FAMILY_COUNTER))
        return;
    atomic_fetch_add_explicit(&v->v, delta, memory_order_relaxed);
}

void metrics_set(struct metrics_value *v, int64_t value)
{
    if (v != NULL)
        atomic_store_explicit(&v->v, value, memory_order_relaxed);
}

int64_t metrics_get(const struct metrics_value *v)
{
    if (v == NULL)
        return 0;
    return atomic_load_explicit(&v->v, memory_order_relaxed);
}

static uint64_t double_bits(double d)
{
    uint64_t u;

    memcpy(&u, &d, sizeof(u));
    return u;
}

static double bits_double(uint64_t u)
{
    double d;

    memcpy(&d, &u, sizeof(d));
    return d;
}

void metrics_observe(struct metrics_hist *h, double value)
{
    const struct family *f;
    uint64_t old, upd;
    size_t i;

    if (h == NULL || isnan(value))
        return;
    f = h->s.fam;
    for (i = 0; i < f->nbounds && value > f->bounds[i]; i++)
        ;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    old = atomic_load_explicit(&h->sum_bits, memory_order_relaxed);
    do {
        upd = double_bits(bits_double(old) + value);
    } while (!atomic_compare_exchange_weak_explicit(
        &h->sum_bits, &old, upd, memory_order_relaxed, memory_order_relaxed));
}

int metrics_collector(struct metrics *m, metrics_collect_fn fn, void *ctx)
{
    struct collector *c;

    if (m == NULL || fn == NULL)
        return CHATD_EINVAL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return CHATD_ENOMEM;
    c->fn = fn;
    c->ctx = ctx;
    pthread_mutex_lock(&m->mu);
    *m->ctail = c;
    m->ctail = &c->next;
    pthread_mutex_unlock(&m->mu);
    return CHATD_OK;
}

size_t metrics_escape_label(char *out, size_t cap, const char *value)
{
    size_t need = 0;
    const char *esc;
    char one[2] = {0, 0};

    for (; *value != '\0'; value++) {
        if (*value == '\\')
            esc = "\\\\";
        else if (*value == '"')
            esc = "\\\"";
        else if (*value == '\n')
            esc = "\\n";
        else
            esc = (one[0] = *value, one);
        for (; *esc != '\0'; esc++, need++)
            if (need + 1 < cap)
                out[need] = *esc;
    }
    if (cap > 0)
        out[need < cap ? need : cap - 1] = '\0';
    return need;
}
