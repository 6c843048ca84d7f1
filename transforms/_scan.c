/* steplens.transforms._scan: the field-coverage pass's reading of one JSON line, in C.
 *
 * Why (benchmarks/README.md, "The phases", 8): the coverage pass read every line again
 * with orjson and walked the dicts in Python, about a fifth of an ingest's CPU. This
 * scanner reads a line's bytes once and returns its *skeleton*: the line with every
 * null dropped, every string, number and boolean written `0`, and runs of identical
 * array items written once. A skeleton has exactly the line's non-null paths (a path
 * holds a value in the line iff it does in the skeleton), and most lines of an export
 * share a few hundred skeletons, so transforms/coverage.py walks each skeleton once.
 *
 * The contract stays orjson's (transforms/coverage.py): a line counts only if orjson
 * reads it. So the scanner accepts only what it can prove orjson reads the same way,
 * and returns None for everything else, which coverage.py then reads with orjson as
 * before: invalid UTF-8, control characters, bad escapes or surrogate escapes, numbers
 * that might overflow a double, nesting deeper than 500, a repeated key (orjson keeps
 * the last: the scanner does not try), an escaped key or kind, a float `created_at`, a
 * page inside a page, an envelope inside a page, an SSE block without `object` or `type`.
 * An envelope (`event` without `object`) is read as its `data` object and a list page
 * as its items, as coverage.py's `records` does.
 * tests/transforms/test_coverage_scan.py holds it to that on random and mutated lines.
 *
 * scan(text: bytes, plain: bool) -> (key: bytes, micros: int | None, ...) | None
 *   a pair per record: one for a record or an envelope, one per object item of a list
 *   page (none for an empty page); None: read the line with orjson.
 *   key: the record's kind (`object`, else `type`, else the envelope's `event`, else
 *   `request` for a body with `input`, else `unknown`), a newline, the skeleton (JSON).
 *   micros: `created_at` (else `response.created_at`) in Unix microseconds when an
 *   integer in 0..MAX_TS, None when absent or not a number or out of range.
 *   plain: the text is a line of its own (not an SSE block's data), where an
 *   `event` key without `object` makes an envelope.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_DEPTH 500
#define MAX_TS 253402300799LL /* transforms/rulebook.py MAX_TS */

struct Item;

/* What a record's own keys hold: its kind and its time. */
typedef struct {
    const unsigned char *obj, *type;
    Py_ssize_t obj_len, type_len;
    int has_input, has_object, has_event;
    int ts_kind; /* 0 none, 1 an integer (in ts), 2 a float: orjson reads it */
    long long ts;
    int rts_kind; /* the same for response.created_at */
    long long rts;
} Record;

typedef struct {
    const unsigned char *p, *end;
    char *out;
    size_t len, cap;
    int fail;
    /* rec[0]: the line's object; rec[1]: its `data` object, the record of an envelope;
     * item: the list page item being read, items: those read (a page's records) */
    Record rec[2];
    Record item;
    struct Item *items;
    Py_ssize_t nitems, item_cap;
    const unsigned char *event; /* the `event` key's string value, if any */
    Py_ssize_t event_len;
    int event_escaped;
    size_t data_start, data_end; /* `data`'s skeleton in out, when an object */
    int has_items; /* `data` is an array: its object items are in items */
    /* the keys of the objects being read, innermost last: a repeated key is found here */
    const unsigned char **keys;
    Py_ssize_t *key_lens;
    Py_ssize_t nkeys, key_cap;
} Scan;

/* A list page's item that is an object: what it holds, and its skeleton in out. */
struct Item {
    Record rec;
    size_t start, end;
};

static int push_item(Scan *s, size_t start, size_t end) {
    if (s->nitems == s->item_cap) {
        Py_ssize_t cap = s->item_cap ? s->item_cap * 2 : 64;
        struct Item *items = PyMem_Realloc(s->items, cap * sizeof *items);
        if (!items) { s->fail = 1; return 0; }
        s->items = items;
        s->item_cap = cap;
    }
    s->items[s->nitems].rec = s->item;
    s->items[s->nitems].start = start;
    s->items[s->nitems++].end = end;
    return 1;
}

static int push_key(Scan *s, const unsigned char *key, Py_ssize_t len) {
    if (s->nkeys == s->key_cap) {
        Py_ssize_t cap = s->key_cap ? s->key_cap * 2 : 64;
        const unsigned char **keys = PyMem_Realloc(s->keys, cap * sizeof *keys);
        if (!keys) { s->fail = 1; return 0; }
        s->keys = keys;
        Py_ssize_t *lens = PyMem_Realloc(s->key_lens, cap * sizeof *lens);
        if (!lens) { s->fail = 1; return 0; }
        s->key_lens = lens;
        s->key_cap = cap;
    }
    s->keys[s->nkeys] = key;
    s->key_lens[s->nkeys++] = len;
    return 1;
}

static int grow(Scan *s, size_t need) {
    if (s->len + need <= s->cap) return 1;
    size_t cap = s->cap * 2;
    while (cap < s->len + need) cap *= 2;
    char *out = PyMem_Realloc(s->out, cap);
    if (!out) { s->fail = 1; return 0; }
    s->out = out;
    s->cap = cap;
    return 1;
}

static inline void put(Scan *s, char c) {
    if (grow(s, 1)) s->out[s->len++] = c;
}

static inline void ws(Scan *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static inline int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Does any of these 8 bytes end or escape a string, or need checking (a control
 * character, a byte of a multi-byte UTF-8 sequence)? False positives only after a true
 * one: the caller then looks byte by byte. */
static inline int special8(uint64_t v) {
    uint64_t quote = v ^ (ONES * '"'), slash = v ^ (ONES * '\\');
    return (((v - ONES * 0x20) | (quote - ONES) | (slash - ONES)) & ~v & HIGHS) != 0 ||
           (v & HIGHS) != 0;
}

/* A string at s->p (the opening quote). Sets *escaped when it holds a backslash. */
static int string(Scan *s, int *escaped) {
    const unsigned char *p = s->p + 1, *end = s->end;
    *escaped = 0;
    while (p < end) {
        while (end - p >= 8) { /* plain ASCII, 8 bytes at a time */
            uint64_t v;
            memcpy(&v, p, 8);
            if (special8(v)) break;
            p += 8;
        }
        if (p >= end) break;
        unsigned char c = *p;
        if (c == '"') { s->p = p + 1; return 1; }
        if (c < 0x20) return 0;
        if (c == '\\') {
            *escaped = 1;
            if (p + 1 >= end) return 0;
            c = p[1];
            if (c == 'u') {
                if (p + 6 > end) return 0;
                int v = 0;
                for (int i = 2; i < 6; i++) {
                    int h = hexval(p[i]);
                    if (h < 0) return 0;
                    v = v * 16 + h;
                }
                if (v >= 0xD800 && v <= 0xDFFF) return 0; /* surrogates: orjson decides */
                p += 6;
                continue;
            }
            if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' ||
                c == 'r' || c == 't') {
                p += 2;
                continue;
            }
            return 0;
        }
        if (c < 0x80) { p++; continue; }
        /* UTF-8, strictly: no overlong forms, no surrogates, nothing above U+10FFFF */
        if (c >= 0xC2 && c <= 0xDF) {
            if (p + 1 >= end || (p[1] & 0xC0) != 0x80) return 0;
            p += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            if (p + 2 >= end || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
            if (c == 0xE0 && p[1] < 0xA0) return 0;
            if (c == 0xED && p[1] > 0x9F) return 0;
            p += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            if (p + 3 >= end || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 ||
                (p[3] & 0xC0) != 0x80) return 0;
            if (c == 0xF0 && p[1] < 0x90) return 0;
            if (c == 0xF4 && p[1] > 0x8F) return 0;
            p += 4;
        } else {
            return 0;
        }
    }
    return 0;
}

/* A number at s->p. *integer: an integer of at most 15 digits, its value in *value. */
static int number(Scan *s, int *integer, long long *value) {
    const unsigned char *p = s->p, *end = s->end;
    int negative = 0, digits = 0, exp_digits = 0, exp_negative = 0;
    long long v = 0, e = 0;
    *integer = 0;
    if (p < end && *p == '-') { negative = 1; p++; }
    if (p >= end) return 0;
    if (*p == '0') {
        p++;
        digits = 1;
        if (p < end && *p >= '0' && *p <= '9') return 0; /* leading zero */
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9') {
            if (digits < 16) v = v * 10 + (*p - '0');
            digits++;
            p++;
        }
    } else {
        return 0;
    }
    int is_int = 1;
    if (p < end && *p == '.') {
        is_int = 0;
        p++;
        if (p >= end || *p < '0' || *p > '9') return 0;
        while (p < end && *p >= '0' && *p <= '9') p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        is_int = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-')) { exp_negative = *p == '-'; p++; }
        if (p >= end || *p < '0' || *p > '9') return 0;
        while (p < end && *p >= '0' && *p <= '9') {
            if (exp_digits < 6) e = e * 10 + (*p - '0');
            exp_digits++;
            p++;
        }
        if (exp_digits > 5) return 0;
    }
    /* a double overflows only beyond 1.8e308: below 10^300 it cannot */
    if (digits + (exp_negative ? 0 : e) > 300) return 0;
    s->p = p;
    if (is_int && digits <= 15) {
        *integer = 1;
        *value = negative ? -v : v;
    } else if (is_int) {
        *integer = 1;
        *value = negative ? -1 : MAX_TS + 1; /* out of range either way */
    }
    return 1;
}

static int value(Scan *s, int depth, int level);
static int page_items(Scan *s, int depth);
static int members(Scan *s, int depth, int level);

/* level 1: the record itself; 2: its `response` object; 0: anything deeper. */
static int object(Scan *s, int depth, int level) {
    Py_ssize_t base = s->nkeys;
    int ok = members(s, depth, level);
    s->nkeys = base;
    return ok;
}

static int members(Scan *s, int depth, int level) {
    Py_ssize_t base = s->nkeys;
    uint64_t seen = 0;
    int written = 0;
    s->p++; /* { */
    put(s, '{');
    ws(s);
    if (s->p < s->end && *s->p == '}') { s->p++; put(s, '}'); return 1; }
    for (;;) {
        if (s->p >= s->end || *s->p != '"') return 0;
        const unsigned char *key = s->p + 1;
        int escaped;
        if (!string(s, &escaped) || escaped) return 0;
        Py_ssize_t klen = (s->p - 1) - key;
        /* a repeated key: orjson keeps the last value, the scanner leaves it to orjson */
        unsigned h = klen ? (key[0] * 31u + key[klen - 1] + (unsigned)klen) & 63u : 0;
        if (seen & (1ULL << h)) {
            for (Py_ssize_t i = base; i < s->nkeys; i++)
                if (s->key_lens[i] == klen && memcmp(s->keys[i], key, klen) == 0) return 0;
        }
        seen |= 1ULL << h;
        if (!push_key(s, key, klen)) return 0;
        ws(s);
        if (s->p >= s->end || *s->p != ':') return 0;
        s->p++;
        ws(s);
        if (s->p >= s->end) return 0;
        size_t mark = s->len;
        if (written) put(s, ',');
        if (!grow(s, klen + 3)) return 0;
        s->out[s->len++] = '"';
        memcpy(s->out + s->len, key, klen);
        s->len += klen;
        s->out[s->len++] = '"';
        s->out[s->len++] = ':';
        /* level 1: the line's object; 3: its `data` object; 5: an item of its `data`
         * array; 2, 4 and 6: their `response` */
        Record *rec = level >= 5 ? &s->item : &s->rec[level >= 3];
        int sub = 0;
        if (level == 1 || level == 3 || level == 5) {
            if (klen == 6 && memcmp(key, "object", 6) == 0) {
                rec->has_object = 1;
                sub = 3;
            } else if (klen == 4 && memcmp(key, "type", 4) == 0) {
                sub = 4;
            } else if (klen == 10 && memcmp(key, "created_at", 10) == 0) {
                sub = 5;
            } else if (klen == 8 && memcmp(key, "response", 8) == 0) {
                sub = 2;
            } else if (klen == 5 && memcmp(key, "input", 5) == 0) {
                rec->has_input = 1; /* `"input" in record`: the key, whatever its value */
            } else if (level != 3 && klen == 5 && memcmp(key, "event", 5) == 0) {
                rec->has_event = 1;
                sub = level == 1 ? 7 : 0;
            } else if (level == 1 && klen == 4 && memcmp(key, "data", 4) == 0) {
                sub = 8;
            }
        } else if ((level == 2 || level == 4 || level == 6) && klen == 10 &&
                   memcmp(key, "created_at", 10) == 0) {
            sub = 6;
        }
        unsigned char c = *s->p;
        if (c == 'n') { /* null: no path, dropped from the skeleton */
            if (s->end - s->p < 4 || memcmp(s->p, "null", 4) != 0) return 0;
            s->p += 4;
            s->len = mark;
        } else if (sub >= 3 && sub <= 7 && c == '"') {
            const unsigned char *str = s->p + 1;
            int esc;
            if (!string(s, &esc)) return 0;
            Py_ssize_t n = (s->p - 1) - str;
            if (sub == 7) {
                s->event = str;
                s->event_len = n;
                s->event_escaped = esc;
            } else if (sub == 3 || sub == 4) {
                if (esc) return 0; /* a kind written with escapes: orjson reads it */
                if (sub == 3) { rec->obj = str; rec->obj_len = n; }
                else { rec->type = str; rec->type_len = n; }
            }
            put(s, '0');
            written = 1;
        } else if ((sub == 5 || sub == 6) && (c == '-' || (c >= '0' && c <= '9'))) {
            int integer;
            long long v;
            if (!number(s, &integer, &v)) return 0;
            int kind = integer ? 1 : 2;
            if (sub == 5) { rec->ts_kind = kind; rec->ts = v; }
            else { rec->rts_kind = kind; rec->rts = v; }
            put(s, '0');
            written = 1;
        } else if (sub == 8 && c == '{') {
            s->data_start = s->len;
            if (!value(s, depth + 1, 3)) return 0;
            s->data_end = s->len;
            written = 1;
        } else if (sub == 8 && c == '[') {
            if (!page_items(s, depth + 1)) return 0;
            s->has_items = 1;
            written = 1;
        } else {
            if (!value(s, depth + 1, sub == 2 ? level + 1 : 0)) return 0;
            written = 1;
        }
        ws(s);
        if (s->p >= s->end) return 0;
        if (*s->p == ',') {
            s->p++;
            ws(s);
            continue;
        }
        if (*s->p == '}') { s->p++; put(s, '}'); return !s->fail; }
        return 0;
    }
}

static int array(Scan *s, int depth) {
    size_t prev = 0, prev_len = 0; /* the last item written: a run of equal ones once */
    int written = 0;
    s->p++; /* [ */
    put(s, '[');
    ws(s);
    if (s->p < s->end && *s->p == ']') { s->p++; put(s, ']'); return 1; }
    for (;;) {
        if (s->p >= s->end) return 0;
        if (*s->p == 'n') {
            if (s->end - s->p < 4 || memcmp(s->p, "null", 4) != 0) return 0;
            s->p += 4;
        } else {
            size_t mark = s->len;
            if (written) put(s, ',');
            size_t start = s->len;
            if (!value(s, depth + 1, 0)) return 0;
            size_t n = s->len - start;
            if (written && n == prev_len && memcmp(s->out + prev, s->out + start, n) == 0) {
                s->len = mark;
            } else {
                prev = start;
                prev_len = n;
                written = 1;
            }
        }
        ws(s);
        if (s->p >= s->end) return 0;
        if (*s->p == ',') {
            s->p++;
            ws(s);
            continue;
        }
        if (*s->p == ']') { s->p++; put(s, ']'); return !s->fail; }
        return 0;
    }
}

/* The line's `data` array: every item that is an object is kept apart (items), each
 * with its own skeleton (no run of equal items written once here). */
static int page_items(Scan *s, int depth) {
    int written = 0;
    if (depth > MAX_DEPTH) return 0;
    s->p++; /* [ */
    put(s, '[');
    ws(s);
    if (s->p < s->end && *s->p == ']') { s->p++; put(s, ']'); return !s->fail; }
    for (;;) {
        if (s->p >= s->end) return 0;
        if (*s->p == 'n') {
            if (s->end - s->p < 4 || memcmp(s->p, "null", 4) != 0) return 0;
            s->p += 4;
        } else {
            if (written) put(s, ',');
            size_t start = s->len;
            if (*s->p == '{') {
                memset(&s->item, 0, sizeof s->item);
                if (!value(s, depth + 1, 5)) return 0;
                if (!push_item(s, start, s->len)) return 0;
            } else if (!value(s, depth + 1, 0)) {
                return 0;
            }
            written = 1;
        }
        ws(s);
        if (s->p >= s->end) return 0;
        if (*s->p == ',') {
            s->p++;
            ws(s);
            continue;
        }
        if (*s->p == ']') { s->p++; put(s, ']'); return !s->fail; }
        return 0;
    }
}

static int value(Scan *s, int depth, int level) {
    if (depth > MAX_DEPTH || s->p >= s->end) return 0;
    unsigned char c = *s->p;
    int escaped, integer;
    long long v;
    switch (c) {
    case '{':
        return object(s, depth, level);
    case '[':
        return array(s, depth);
    case '"':
        if (!string(s, &escaped)) return 0;
        put(s, '0');
        return !s->fail;
    case 't':
        if (s->end - s->p < 4 || memcmp(s->p, "true", 4) != 0) return 0;
        s->p += 4;
        put(s, '0');
        return !s->fail;
    case 'f':
        if (s->end - s->p < 5 || memcmp(s->p, "false", 5) != 0) return 0;
        s->p += 5;
        put(s, '0');
        return !s->fail;
    case 'n': /* null inside an array or object is handled there; here: a bare null */
        return 0;
    default:
        if (c == '-' || (c >= '0' && c <= '9')) {
            if (!number(s, &integer, &v)) return 0;
            put(s, '0');
            return !s->fail;
        }
        return 0;
    }
}

/* One record a line holds, as found by `found_records`. */
typedef struct {
    const unsigned char *kind;
    Py_ssize_t kind_len;
    size_t start, end; /* its skeleton in out */
    int has_ts;
    long long micros;
} Found;

/* The buffers of the last call, reused by the next. The functions hold the GIL from
 * start to end and are not re-entrant: one thread at a time, as the coverage pass runs
 * (one per parse worker process). */
static struct {
    char *out;
    size_t cap;
    const unsigned char **keys;
    Py_ssize_t *key_lens;
    Py_ssize_t key_cap;
    struct Item *items;
    Py_ssize_t item_cap;
    Found *found;
    Py_ssize_t found_cap;
} kept;

/* Fill `f` with one record's kind and time; 0 when they are orjson's to read.
 * `event`: the envelope's event name (NULL: none); plain: not an SSE block's data. */
static int resolve(Found *f, const Record *rec, int plain, const unsigned char *event,
                   Py_ssize_t event_len, int event_escaped) {
    const unsigned char *kind = rec->obj ? rec->obj : rec->type;
    Py_ssize_t kind_len = rec->obj ? rec->obj_len : rec->type_len;
    if (!kind && event) {
        if (event_escaped) return 0;
        kind = event;
        kind_len = event_len;
    }
    if (!kind) {
        if (!plain) return 0; /* an SSE block's event name */
        kind = (const unsigned char *)(rec->has_input ? "request" : "unknown");
        kind_len = 7;
    }
    int ts_kind = rec->ts_kind;
    long long ts = rec->ts;
    if (ts_kind == 0) { ts_kind = rec->rts_kind; ts = rec->rts; }
    if (ts_kind == 2) return 0; /* a float time */
    f->kind = kind;
    f->kind_len = kind_len;
    f->has_ts = ts_kind == 1 && ts >= 0 && ts <= MAX_TS;
    f->micros = f->has_ts ? ts * 1000000LL : 0;
    return 1;
}

static int is_page(const Record *rec) {
    return rec->obj && rec->obj_len == 4 &&
           (memcmp(rec->obj, "list", 4) == 0 || memcmp(rec->obj, "page", 4) == 0);
}

static Found *found_slots(Py_ssize_t n) {
    if (n > kept.found_cap) {
        Py_ssize_t cap = n < 64 ? 64 : n;
        Found *found = PyMem_Realloc(kept.found, cap * sizeof *found);
        if (!found) return NULL;
        kept.found = found;
        kept.found_cap = cap;
    }
    return kept.found;
}

/* Scan one text and find its records (transforms/coverage.py, `records` and `_object`)
 * into kept.found: how many (0: none, a valid record-less line), -1 for orjson's path,
 * -2 on a memory error. The skeletons are in s->out, which the caller frees or keeps. */
static Py_ssize_t found_records(Scan *s, const char *text, Py_ssize_t size, int plain) {
    memset(s, 0, sizeof *s);
    s->p = (const unsigned char *)text;
    s->end = s->p + size;
    ws(s);
    if (s->p >= s->end || *s->p != '{') return -1; /* not an object: orjson decides */
    s->out = kept.out;
    s->cap = kept.cap;
    s->keys = kept.keys;
    s->key_lens = kept.key_lens;
    s->key_cap = kept.key_cap;
    s->items = kept.items;
    s->item_cap = kept.item_cap;
    if (!s->out) {
        s->cap = 4096;
        if (!(s->out = PyMem_Malloc(s->cap))) return -2;
    }
    int ok = object(s, 1, 1);
    if (ok) {
        ws(s);
        ok = s->p == s->end && !s->fail;
    }
    if (s->fail) ok = 0;
    if (!ok) return -1;
    const Record *top = &s->rec[0];
    Found *found;
    if (plain && top->has_event && !top->has_object) { /* an envelope: its data */
        if (s->data_end == 0) return 0; /* data not an object: no record */
        if (!(found = found_slots(1))) return -2;
        if (!resolve(&found[0], &s->rec[1], plain, s->event, s->event_len, s->event_escaped))
            return -1;
        found[0].start = s->data_start;
        found[0].end = s->data_end;
        return 1;
    }
    if (is_page(top)) {
        if (!plain || !s->has_items) return -1; /* a record of kind list: rare */
        if (s->nitems == 0) return 0; /* no object among the items: no record */
        if (!(found = found_slots(s->nitems))) return -2;
        for (Py_ssize_t i = 0; i < s->nitems; i++) {
            const struct Item *item = &s->items[i];
            if ((item->rec.has_event && !item->rec.has_object) || is_page(&item->rec))
                return -1; /* an envelope or a page as an item */
            if (!resolve(&found[i], &item->rec, 1, NULL, 0, 0)) return -1;
            found[i].start = item->start;
            found[i].end = item->end;
        }
        return s->nitems;
    }
    if (!(found = found_slots(1))) return -2;
    if (!resolve(&found[0], top, plain, NULL, 0, 0)) return -1;
    found[0].start = 0;
    found[0].end = s->len;
    return 1;
}

/* Keep the buffers for the next text, unless a huge text grew them. */
static void keep_buffers(Scan *s) {
    if (s->cap > (1 << 20) || s->key_cap > 65536 || s->item_cap > 65536 ||
        kept.found_cap > 65536) {
        PyMem_Free(s->out);
        PyMem_Free(s->keys);
        PyMem_Free(s->key_lens);
        PyMem_Free(s->items);
        PyMem_Free(kept.found);
        memset(&kept, 0, sizeof kept);
        return;
    }
    kept.out = s->out;
    kept.cap = s->cap;
    kept.keys = s->keys;
    kept.key_lens = s->key_lens;
    kept.key_cap = s->key_cap;
    kept.items = s->items;
    kept.item_cap = s->item_cap;
}

/* kind + "\n" + skeleton, as bytes. */
static PyObject *found_key(const Scan *s, const Found *f) {
    size_t n = f->end - f->start;
    PyObject *key = PyBytes_FromStringAndSize(NULL, f->kind_len + 1 + (Py_ssize_t)n);
    if (!key) return NULL;
    char *k = PyBytes_AS_STRING(key);
    memcpy(k, f->kind, f->kind_len);
    k[f->kind_len] = '\n';
    memcpy(k + f->kind_len + 1, s->out + f->start, n);
    return key;
}

static PyObject *micros_or_none(const Found *f) {
    if (!f->has_ts) Py_RETURN_NONE;
    return PyLong_FromLongLong(f->micros);
}

static PyObject *scan(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 2 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "scan(text: bytes, plain: bool)");
        return NULL;
    }
    int plain = PyObject_IsTrue(args[1]);
    if (plain < 0) return NULL;
    Scan s;
    Py_ssize_t n = found_records(&s, PyBytes_AS_STRING(args[0]), PyBytes_GET_SIZE(args[0]),
                                 plain);
    PyObject *out = NULL;
    if (n == -2) {
        PyErr_NoMemory();
    } else if (n == -1) {
        out = Py_None;
        Py_INCREF(out);
    } else if ((out = PyTuple_New(2 * n))) {
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *key = found_key(&s, &kept.found[i]), *when = NULL;
            if (key) when = micros_or_none(&kept.found[i]);
            if (!key || !when) {
                Py_XDECREF(key);
                Py_CLEAR(out);
                break;
            }
            PyTuple_SET_ITEM(out, 2 * i, key);
            PyTuple_SET_ITEM(out, 2 * i + 1, when);
        }
    }
    if (s.out) keep_buffers(&s);
    return out;
}

/* ---- a batch of texts: records of one key counted together, in C ----------------- */

typedef struct {
    size_t offset, len; /* the key in the arena */
    uint64_t hash;
    long long count, first, last;
    int has_ts;
} Group;

typedef struct {
    Group *slots; /* open addressing; len 0: empty */
    size_t cap, used;
    char *arena;
    size_t arena_len, arena_cap;
} Groups;

static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

static int groups_grow(Groups *g) {
    size_t cap = g->cap ? g->cap * 2 : 1024;
    Group *slots = PyMem_Calloc(cap, sizeof *slots);
    if (!slots) return 0;
    for (size_t i = 0; i < g->cap; i++) {
        Group *old = &g->slots[i];
        if (!old->len) continue;
        size_t j = old->hash & (cap - 1);
        while (slots[j].len) j = (j + 1) & (cap - 1);
        slots[j] = *old;
    }
    PyMem_Free(g->slots);
    g->slots = slots;
    g->cap = cap;
    return 1;
}

/* Count one record under its key (kind, "\n", skeleton): 0 on a memory error. */
static int groups_add(Groups *g, const Scan *s, const Found *f) {
    const unsigned char *skel = (const unsigned char *)s->out + f->start;
    size_t n = f->end - f->start, len = f->kind_len + 1 + n;
    uint64_t h = fnv(14695981039346656037ULL, f->kind, f->kind_len);
    h = fnv(h, (const unsigned char *)"\n", 1);
    h = fnv(h, skel, n);
    if (2 * (g->used + 1) > g->cap && !groups_grow(g)) return 0;
    size_t j = h & (g->cap - 1);
    for (;; j = (j + 1) & (g->cap - 1)) {
        Group *slot = &g->slots[j];
        if (!slot->len) break;
        if (slot->hash == h && slot->len == len) {
            const char *k = g->arena + slot->offset;
            if (memcmp(k, f->kind, f->kind_len) == 0 && k[f->kind_len] == '\n' &&
                memcmp(k + f->kind_len + 1, skel, n) == 0) {
                slot->count++;
                if (f->has_ts) {
                    if (!slot->has_ts || f->micros < slot->first) slot->first = f->micros;
                    if (!slot->has_ts || f->micros > slot->last) slot->last = f->micros;
                    slot->has_ts = 1;
                }
                return 1;
            }
        }
    }
    if (g->arena_len + len > g->arena_cap) {
        size_t cap = g->arena_cap ? g->arena_cap : 65536;
        while (cap < g->arena_len + len) cap *= 2;
        char *arena = PyMem_Realloc(g->arena, cap);
        if (!arena) return 0;
        g->arena = arena;
        g->arena_cap = cap;
    }
    char *k = g->arena + g->arena_len;
    memcpy(k, f->kind, f->kind_len);
    k[f->kind_len] = '\n';
    memcpy(k + f->kind_len + 1, skel, n);
    Group *slot = &g->slots[j];
    slot->offset = g->arena_len;
    slot->len = len;
    slot->hash = h;
    slot->count = 1;
    slot->has_ts = f->has_ts;
    slot->first = slot->last = f->micros;
    g->arena_len += len;
    g->used++;
    return 1;
}

static PyObject *groups_list(const Groups *g) {
    PyObject *out = PyList_New(0);
    if (!out) return NULL;
    for (size_t i = 0; i < g->cap; i++) {
        const Group *slot = &g->slots[i];
        if (!slot->len) continue;
        PyObject *row;
        if (slot->has_ts)
            row = Py_BuildValue("(y#LLL)", g->arena + slot->offset, (Py_ssize_t)slot->len,
                                slot->count, slot->first, slot->last);
        else
            row = Py_BuildValue("(y#LOO)", g->arena + slot->offset, (Py_ssize_t)slot->len,
                                slot->count, Py_None, Py_None);
        if (!row || PyList_Append(out, row) < 0) {
            Py_XDECREF(row);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(row);
    }
    return out;
}

/* scan_batch(texts: list[bytes], events: list[str | None] | None)
 *   -> ([(key, records, first, last), ...], [index of a text for orjson's path, ...])
 * The records of every text the scanner reads, counted by key (first, last: the
 * records' times in Unix microseconds, None when none has one); events: each text's
 * SSE event name (None: a line of its own), or None for lines only. */
static PyObject *scan_batch(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 2 || !PyList_Check(args[0]) ||
        (args[1] != Py_None && (!PyList_Check(args[1]) ||
                                PyList_GET_SIZE(args[1]) != PyList_GET_SIZE(args[0])))) {
        PyErr_SetString(PyExc_TypeError,
                        "scan_batch(texts: list[bytes], events: list | None)");
        return NULL;
    }
    PyObject *texts = args[0], *events = args[1] == Py_None ? NULL : args[1];
    Groups g;
    memset(&g, 0, sizeof g);
    PyObject *declined = PyList_New(0), *out = NULL;
    if (!declined) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(texts);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *text = PyList_GET_ITEM(texts, i);
        if (!PyBytes_Check(text)) {
            PyErr_SetString(PyExc_TypeError, "scan_batch: texts must be bytes");
            goto done;
        }
        int plain = !events || PyList_GET_ITEM(events, i) == Py_None;
        Scan s;
        Py_ssize_t found = found_records(&s, PyBytes_AS_STRING(text), PyBytes_GET_SIZE(text),
                                         plain);
        int failed = found == -2;
        for (Py_ssize_t r = 0; r < found && !failed; r++)
            failed = !groups_add(&g, &s, &kept.found[r]);
        if (s.out) keep_buffers(&s);
        if (failed) {
            PyErr_NoMemory();
            goto done;
        }
        if (found == -1) {
            PyObject *index = PyLong_FromSsize_t(i);
            if (!index || PyList_Append(declined, index) < 0) {
                Py_XDECREF(index);
                goto done;
            }
            Py_DECREF(index);
        }
    }
    PyObject *groups = groups_list(&g);
    if (groups) {
        out = PyTuple_Pack(2, groups, declined);
        Py_DECREF(groups);
    }
done:
    Py_DECREF(declined);
    PyMem_Free(g.slots);
    PyMem_Free(g.arena);
    return out;
}

static int blank(const char *p, const char *end) {
    for (; p < end; p++)
        if (!(*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == '\x0b' ||
              *p == '\x0c'))
            return 0;
    return 1;
}

/* scan_block(data: bytes) -> (groups, declined, first, last, start, end)
 * The lines of `data` (split at b"\n", numbered from 0, as `data.split(b"\n")` would
 * give them): groups as scan_batch's, of every line the scanner reads before the last
 * non-blank one (that one is the caller's, kept apart); declined: (index, start, end)
 * of every other non-blank line before it, for orjson's path; first, last: the indexes
 * of the first and last non-blank lines (-1, -1 when every line is blank); start, end:
 * the last one's bytes. No Python object is made per line. */
static PyObject *scan_block(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 1 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "scan_block(data: bytes)");
        return NULL;
    }
    const char *data = PyBytes_AS_STRING(args[0]), *end = data + PyBytes_GET_SIZE(args[0]);
    /* the last non-blank line, found first: it is not scanned */
    Py_ssize_t nlines = 1;
    for (const char *q = data; (q = memchr(q, '\n', end - q)); q++) nlines++;
    const char *last_start = NULL, *last_end = NULL;
    Py_ssize_t last = -1;
    {
        const char *e = end;
        Py_ssize_t index = nlines - 1;
        for (;;) {
            const char *b = e;
            while (b > data && b[-1] != '\n') b--;
            if (!blank(b, e)) {
                last_start = b;
                last_end = e;
                last = index;
                break;
            }
            if (b == data) break;
            e = b - 1;
            index--;
        }
    }
    Groups g;
    memset(&g, 0, sizeof g);
    PyObject *declined = PyList_New(0), *out = NULL;
    if (!declined) return NULL;
    Py_ssize_t first = -1, index = 0;
    for (const char *p = data; last >= 0 && p < last_start; index++) {
        const char *nl = memchr(p, '\n', end - p);
        const char *e = nl ? nl : end;
        if (!blank(p, e)) {
            if (first < 0) first = index;
            Scan s;
            Py_ssize_t found = found_records(&s, p, e - p, 1);
            int failed = found == -2;
            for (Py_ssize_t r = 0; r < found && !failed; r++)
                failed = !groups_add(&g, &s, &kept.found[r]);
            if (s.out) keep_buffers(&s);
            if (failed) {
                PyErr_NoMemory();
                goto done;
            }
            if (found == -1) {
                PyObject *row = Py_BuildValue("(nnn)", index, (Py_ssize_t)(p - data),
                                              (Py_ssize_t)(e - data));
                if (!row || PyList_Append(declined, row) < 0) {
                    Py_XDECREF(row);
                    goto done;
                }
                Py_DECREF(row);
            }
        }
        p = e + 1;
    }
    if (first < 0) first = last;
    PyObject *groups = groups_list(&g);
    if (groups) {
        out = Py_BuildValue("(NOnnnn)", groups, declined, first, last,
                            (Py_ssize_t)(last >= 0 ? last_start - data : 0),
                            (Py_ssize_t)(last >= 0 ? last_end - data : 0));
    }
done:
    Py_DECREF(declined);
    PyMem_Free(g.slots);
    PyMem_Free(g.arena);
    return out;
}

static PyMethodDef methods[] = {
    {"scan", (PyCFunction)(void (*)(void))scan, METH_FASTCALL,
     "scan(text, plain) -> (key, micros, ...) per record, or None (read it with orjson)"},
    {"scan_block", (PyCFunction)(void (*)(void))scan_block, METH_FASTCALL,
     "scan_block(data) -> (groups, [(index, start, end)], first, last, start, end)"},
    {"scan_batch", (PyCFunction)(void (*)(void))scan_batch, METH_FASTCALL,
     "scan_batch(texts, events) -> ([(key, records, first, last)], [declined index])"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_scan",
                                    "The coverage pass's line scanner (see _scan.c).", -1,
                                    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__scan(void) { return PyModule_Create(&module); }
