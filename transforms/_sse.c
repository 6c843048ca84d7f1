/* Raw server-sent-event text split into events, in C: transforms/sse.py `sse_events`
 * (the reference, and the path where this extension is not built) read line by line in
 * Python, a third of the work of a raw SSE file before any JSON is read. Same rules,
 * checked equal on generated and real streams (tests/transforms/test_sse.py):
 *
 * - a line ends at "\n"; trailing "\r"s are dropped; the file's first line loses a
 *   UTF-8 byte-order mark;
 * - a blank line (empty or ASCII white space) ends a block; a block with `data:` lines
 *   yields (line of its first `data:` line, event name or None, data lines joined by
 *   "\n"); a block whose only data was `[DONE]` yields b"[DONE]";
 * - `data:` and `event:` lose one space after the colon; `data: [DONE]` (stripped, not
 *   starting with "{") is dropped; the event name is stripped of ASCII white space and
 *   decoded as UTF-8 with replacement characters; other lines are ignored.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

typedef struct {
    const char *start;
    Py_ssize_t len;
} Span;

static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\x0b' || c == '\x0c';
}

static int all_space(const char *p, const char *end) {
    for (; p < end; p++)
        if (!is_space(*p)) return 0;
    return 1;
}

/* Whether [p, end) stripped of ASCII white space is "[DONE]". */
static int is_done(const char *p, const char *end) {
    while (p < end && is_space(*p)) p++;
    while (end > p && is_space(end[-1])) end--;
    return end - p == 6 && memcmp(p, "[DONE]", 6) == 0;
}

typedef struct {
    Span *parts;
    Py_ssize_t n, cap;
    const char *event;
    Py_ssize_t event_len; /* -1: no event name */
    Py_ssize_t first;
    int done;
} Block;

static int add_part(Block *b, const char *p, Py_ssize_t len) {
    if (b->n == b->cap) {
        Py_ssize_t cap = b->cap ? 2 * b->cap : 8;
        Span *parts = PyMem_Realloc(b->parts, cap * sizeof(Span));
        if (!parts) {
            PyErr_NoMemory();
            return 0;
        }
        b->parts = parts;
        b->cap = cap;
    }
    b->parts[b->n].start = p;
    b->parts[b->n].len = len;
    b->n++;
    return 1;
}

/* Append the block's event to `out` (if it holds data or [DONE]) and reset it. */
static int emit(Block *b, PyObject *out) {
    int ok = 1;
    if (b->n || b->done) {
        PyObject *data;
        if (b->n) {
            Py_ssize_t size = b->n - 1;
            for (Py_ssize_t i = 0; i < b->n; i++) size += b->parts[i].len;
            data = PyBytes_FromStringAndSize(NULL, size);
            if (data) {
                char *w = PyBytes_AS_STRING(data);
                for (Py_ssize_t i = 0; i < b->n; i++) {
                    if (i) *w++ = '\n';
                    memcpy(w, b->parts[i].start, b->parts[i].len);
                    w += b->parts[i].len;
                }
            }
        } else {
            data = PyBytes_FromStringAndSize("[DONE]", 6);
        }
        PyObject *name;
        if (b->event_len >= 0) {
            name = PyUnicode_DecodeUTF8(b->event, b->event_len, "replace");
        } else {
            name = Py_None;
            Py_INCREF(name);
        }
        PyObject *row = (data && name) ? Py_BuildValue("(nNN)", b->first, name, data) : NULL;
        if (!row) {
            if (!(data && name)) {
                Py_XDECREF(data);
                Py_XDECREF(name);
            }
            ok = 0;
        } else {
            ok = PyList_Append(out, row) == 0;
            Py_DECREF(row);
        }
    }
    b->n = 0;
    b->event_len = -1;
    b->done = 0;
    return ok;
}

/* sse_split(data: bytes, first_line: int, final: bool) -> (events, consumed, lines)
 * The events of the blocks of `data` (its first line numbered `first_line`) that a
 * blank line ends, or of every block when `final`; consumed: the bytes those blocks and
 * the blank lines after them span (the caller prepends the rest to the next piece);
 * lines: how many lines that is. */
static PyObject *sse_split(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 3 || !PyBytes_Check(args[0]) || !PyLong_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "sse_split(data: bytes, first_line: int, final)");
        return NULL;
    }
    Py_ssize_t first_line = PyLong_AsSsize_t(args[1]);
    if (first_line == -1 && PyErr_Occurred()) return NULL;
    int final = PyObject_IsTrue(args[2]);
    if (final < 0) return NULL;
    const char *data = PyBytes_AS_STRING(args[0]);
    const char *end = data + PyBytes_GET_SIZE(args[0]);
    PyObject *out = PyList_New(0);
    if (!out) return NULL;
    Block b = {NULL, 0, 0, NULL, -1, 0, 0};
    const char *p = data, *kept = data; /* kept: where the unfinished block starts */
    Py_ssize_t line_no = first_line, kept_line = first_line;
    while (p < end) {
        const char *nl = memchr(p, '\n', end - p);
        const char *ls = p, *le = nl ? nl : end;
        while (le > ls && le[-1] == '\r') le--;
        if (line_no == 1 && le - ls >= 3 && memcmp(ls, "\xef\xbb\xbf", 3) == 0) ls += 3;
        if (ls == le || all_space(ls, le)) {
            if (!emit(&b, out)) goto fail;
            kept = nl ? nl + 1 : end;
            kept_line = line_no + 1;
        } else if (le - ls >= 5 && memcmp(ls, "data:", 5) == 0) {
            const char *v = ls + 5;
            if (v < le && *v == ' ') v++;
            if (!b.n && !b.done) b.first = line_no;
            if ((v == le || *v != '{') && is_done(v, le))
                b.done = 1;
            else if (!add_part(&b, v, le - v))
                goto fail;
        } else if (le - ls >= 6 && memcmp(ls, "event:", 6) == 0) {
            const char *v = ls + 6;
            if (v < le && *v == ' ') v++;
            const char *ve = le;
            while (v < ve && is_space(*v)) v++;
            while (ve > v && is_space(ve[-1])) ve--;
            b.event = v;
            b.event_len = ve - v;
        }
        line_no++;
        p = nl ? nl + 1 : end;
    }
    if (final) {
        if (!emit(&b, out)) goto fail;
        kept = end;
        kept_line = line_no;
    }
    PyMem_Free(b.parts);
    return Py_BuildValue("(Nnn)", out, (Py_ssize_t)(kept - data), kept_line - first_line);
fail:
    PyMem_Free(b.parts);
    Py_DECREF(out);
    return NULL;
}

static PyMethodDef methods[] = {
    {"sse_split", (PyCFunction)(void (*)(void))sse_split, METH_FASTCALL,
     "sse_split(data, first_line, final) -> ([(line, event, data)], consumed, lines)"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_sse",
                                    "Raw SSE text split into events (see _sse.c).", -1,
                                    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__sse(void) { return PyModule_Create(&module); }
