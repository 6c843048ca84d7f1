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

static PyObject *micros(int kind, long long v) {
    if (kind != 1 || v < 0 || v > MAX_TS) Py_RETURN_NONE;
    return PyLong_FromLongLong(v * 1000000LL);
}

/* Put (kind + "\n" + skeleton, micros) of one record at out[i], out[i + 1]; 0 when the
 * record's kind or time is orjson's to read (-1 on a Python error). `event`: the
 * envelope's event name (NULL: none); plain: not an SSE block's data. */
static int put_record(PyObject *out, Py_ssize_t i, const Record *rec, const char *skeleton,
                      size_t skeleton_len, int plain, const unsigned char *event,
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
    PyObject *key = PyBytes_FromStringAndSize(NULL, kind_len + 1 + (Py_ssize_t)skeleton_len);
    if (!key) return -1;
    char *k = PyBytes_AS_STRING(key);
    memcpy(k, kind, kind_len);
    k[kind_len] = '\n';
    memcpy(k + kind_len + 1, skeleton, skeleton_len);
    PyObject *when = micros(ts_kind, ts);
    if (!when) { Py_DECREF(key); return -1; }
    PyTuple_SET_ITEM(out, i, key);
    PyTuple_SET_ITEM(out, i + 1, when);
    return 1;
}

static int is_page(const Record *rec) {
    return rec->obj && rec->obj_len == 4 &&
           (memcmp(rec->obj, "list", 4) == 0 || memcmp(rec->obj, "page", 4) == 0);
}

/* The records of a line read whole (transforms/coverage.py, `records` and `_object`):
 * a tuple (key, micros, key, micros, ...), or None for orjson's path. */
static PyObject *line_records(Scan *s, int plain) {
    const Record *top = &s->rec[0];
    PyObject *out;
    int done;
    if (plain && top->has_event && !top->has_object) { /* an envelope: its data */
        if (s->data_end == 0) return PyTuple_New(0); /* data not an object: no record */
        if (!(out = PyTuple_New(2))) return NULL;
        done = put_record(out, 0, &s->rec[1], s->out + s->data_start,
                          s->data_end - s->data_start, plain, s->event, s->event_len,
                          s->event_escaped);
    } else if (is_page(top)) {
        if (!plain || !s->has_items) Py_RETURN_NONE; /* a record of kind list: rare */
        if (!(out = PyTuple_New(2 * s->nitems))) return NULL;
        done = 1;
        for (Py_ssize_t i = 0; i < s->nitems && done == 1; i++) {
            const struct Item *item = &s->items[i];
            if ((item->rec.has_event && !item->rec.has_object) || is_page(&item->rec))
                done = 0; /* an envelope or a page as an item */
            else
                done = put_record(out, 2 * i, &item->rec, s->out + item->start,
                                  item->end - item->start, 1, NULL, 0, 0);
        }
    } else {
        if (!(out = PyTuple_New(2))) return NULL;
        done = put_record(out, 0, top, s->out, s->len, plain, NULL, 0, 0);
    }
    if (done == 1) return out;
    Py_DECREF(out); /* the items not set are NULL: Py_DECREF of a tuple skips them */
    if (done < 0) return NULL;
    Py_RETURN_NONE;
}

/* The buffers of the last call, reused by the next (the GIL is held throughout). */
static struct {
    char *out;
    size_t cap;
    const unsigned char **keys;
    Py_ssize_t *key_lens;
    Py_ssize_t key_cap;
    struct Item *items;
    Py_ssize_t item_cap;
} kept;

static PyObject *scan(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 2 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "scan(text: bytes, plain: bool)");
        return NULL;
    }
    int plain = PyObject_IsTrue(args[1]);
    if (plain < 0) return NULL;
    Scan s;
    memset(&s, 0, sizeof s);
    s.p = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    s.end = s.p + PyBytes_GET_SIZE(args[0]);
    ws(&s);
    if (s.p >= s.end || *s.p != '{') Py_RETURN_NONE; /* not a record: orjson decides */
    s.out = kept.out;
    s.cap = kept.cap;
    s.keys = kept.keys;
    s.key_lens = kept.key_lens;
    s.key_cap = kept.key_cap;
    s.items = kept.items;
    s.item_cap = kept.item_cap;
    if (!s.out) {
        s.cap = 4096;
        s.out = PyMem_Malloc(s.cap);
        if (!s.out) return PyErr_NoMemory();
    }
    int ok = object(&s, 1, 1);
    if (ok) {
        ws(&s);
        ok = s.p == s.end && !s.fail;
    }
    PyObject *out;
    if (ok) {
        out = line_records(&s, plain);
    } else {
        out = Py_None;
        Py_INCREF(out);
    }
    if (s.cap > (1 << 20) || s.key_cap > 65536 || s.item_cap > 65536) {
        /* a huge line's buffers are not kept */
        PyMem_Free(s.out);
        PyMem_Free(s.keys);
        PyMem_Free(s.key_lens);
        PyMem_Free(s.items);
        memset(&kept, 0, sizeof kept);
    } else {
        kept.out = s.out;
        kept.cap = s.cap;
        kept.keys = s.keys;
        kept.key_lens = s.key_lens;
        kept.key_cap = s.key_cap;
        kept.items = s.items;
        kept.item_cap = s.item_cap;
    }
    return out;
}

static PyMethodDef methods[] = {
    {"scan", (PyCFunction)(void (*)(void))scan, METH_FASTCALL,
     "scan(text, plain) -> (kind + b'\\n' + skeleton, micros) or None (read it with orjson)"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_scan",
                                    "The coverage pass's line scanner (see _scan.c).", -1,
                                    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__scan(void) { return PyModule_Create(&module); }
