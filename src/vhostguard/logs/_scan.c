/* The compiled access-log scanner behind ``vhostguard.logs.scanner``.
 *
 * tally_scan(tally, spec, data, job) reads the lines of ``data`` (bytes: whole
 * lines of one log, in the format ``spec`` describes) with the GIL released and
 * adds them to ``tally``: per (vhost, method, endpoint template) the sums
 * report's aggregation needs. It returns the lines it was not sure of. A tally
 * lives across blocks (one per scanning thread); tally_merge adds one into
 * another, tally_result turns the sums into Python objects once, at the end.
 *
 * The rule that keeps it exact: it is stricter than the Python parser, never
 * more lenient. A line holding anything but printable ASCII, a backslash in
 * a value it reads, a number of more digits than it takes, a time it cannot
 * prove valid, or any text the format's strict regex would have to
 * backtrack over, is returned as "deferred" (its byte range): the caller
 * gives it to the Python parser. The spec is built by scanner.py from the
 * LogFormat tokenizer; a format it cannot describe never reaches this file.
 *
 * Endpoint templating follows logs/endpoints.py (template_segment and
 * auto_template) rule by rule; a differential test holds the two together.
 * Nothing here trusts the input: every read is bounded by the line's end.
 *
 * When the spec reads the Host header beside %v, requests are also counted per
 * (vhost, raw Host, minute): report's host-moved view. The Host is returned as
 * logged; the caller normalises it (one normaliser, httpd's, in Python).
 */
#define PY_SSIZE_T_CLEAN
#ifndef Py_LIMITED_API
#define Py_LIMITED_API 0x030B0000
#endif
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* field kinds (scanner.py's KIND_* constants) */
enum {
    K_TOKEN = 0,    /* unquoted text, read only to be skipped ([^ ]*? before the next literal) */
    K_QUOTED = 1,   /* the whole text between two quotes, skipped; escaped: httpd's \" and \\ */
    K_NUMBER = 2,   /* -?[0-9]+|- skipped */
    K_VHOST = 3,    /* unquoted text, kept */
    K_REQUEST = 4,  /* %r between quotes: method, target, protocol */
    K_STATUS = 5,   /* -?[0-9]+|- kept */
    K_BYTES = 6,    /* -?[0-9]+|- summed ('-' adds nothing) */
    K_DURATION = 7, /* [0-9]+|- times a scale, to microseconds */
    K_TIME = 8,     /* %t: [dd/Mon/yyyy:hh:mm:ss +zzzz] */
    K_HOST = 9,     /* the Host request header (%{Host}i), unquoted text, kept */
    K_HOST_QUOTED = 10  /* the same, the whole text between two quotes; an escape defers the line */
};

#define MAX_ITEMS 64
#define MAX_SCAN_LINE 65536  /* longer lines go to Python (which applies its own MAX_LINE) */
#define MAX_DIGITS 12        /* longer numbers go to Python (any size is valid there) */
#define MINUTE 60
#define LATENCY_BINS 128
#define SKETCH_SLOTS 2048

typedef struct {
    int is_field;
    int kind;
    int escaped;              /* K_QUOTED: the value may hold httpd's escapes */
    long long scale;          /* K_DURATION */
    const char *lit;          /* literal text (is_field == 0) */
    Py_ssize_t lit_len;
} Item;

typedef struct {
    Item items[MAX_ITEMS];
    int count;
} Spec;

/* --- a growable byte buffer ---------------------------------------------------- */

typedef struct {
    char *data;
    size_t len, cap;
    int failed;
} Buf;

static void buf_put(Buf *b, const char *s, size_t n) {
    if (b->failed || n == 0) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) { b->failed = 1; return; }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

static void buf_u32(Buf *b, uint32_t v) { buf_put(b, (const char *)&v, sizeof v); }

static PyObject *buf_bytes(const Buf *b) { return PyBytes_FromStringAndSize(b->data ? b->data : "", (Py_ssize_t)b->len); }

/* --- hash tables ------------------------------------------------------------------ */

static uint64_t hash_bytes(const char *s, size_t n) {
    /* eight bytes at a time, each word mixed in by a multiply and a shift */
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 29;
    }
    for (; i < n; i++) { h ^= (unsigned char)s[i]; h *= 1099511628211ULL; }
    return h ^ (h >> 32);
}

static uint64_t mix(uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL; x ^= x >> 33;
    return x;
}

/* (group, integer key) -> four counters */
typedef struct { uint32_t group; int used; int64_t key; int64_t v[4]; } Cell;
typedef struct { Cell *cells; size_t cap, count; int failed; } Table;

/* room for `count` cells at most half full (a power of two, at least 1024) */
static int table_reserve(Table *t, size_t count) {
    if (t->failed) return 0;
    if (count * 2 <= t->cap) return 1;
    size_t cap = t->cap ? t->cap : 1024;
    while (count * 2 > cap) cap *= 2;
    Cell *cells = calloc(cap, sizeof(Cell));
    if (!cells) { t->failed = 1; return 0; }
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->cells[i].used) continue;
        size_t j = mix(((uint64_t)t->cells[i].group << 40) ^ (uint64_t)t->cells[i].key) & (cap - 1);
        while (cells[j].used) j = (j + 1) & (cap - 1);
        cells[j] = t->cells[i];
    }
    free(t->cells);
    t->cells = cells;
    t->cap = cap;
    return 1;
}

static Cell *table_get(Table *t, uint32_t group, int64_t key, int *created) {
    if (!table_reserve(t, t->count + 1)) return NULL;
    size_t j = mix(((uint64_t)group << 40) ^ (uint64_t)key) & (t->cap - 1);
    while (t->cells[j].used) {
        if (t->cells[j].group == group && t->cells[j].key == key) { *created = 0; return &t->cells[j]; }
        j = (j + 1) & (t->cap - 1);
    }
    t->cells[j].used = 1;
    t->cells[j].group = group;
    t->cells[j].key = key;
    t->count++;
    *created = 1;
    return &t->cells[j];
}

typedef struct {
    size_t key_start, key_len;   /* in the keys buffer: length-prefixed vhost, method flag + method, template */
    uint64_t hash;
    long long requests, status[6], bytes, dcount, dsum, dzero, dmin, dmax, first, last;
    long long first_job, first_line;  /* where it was first seen: (job, line in the job's block) */
    uint32_t vhost;  /* its vhost's index (Tally.vhosts) */
    int bin_lo, bin_hi;  /* the latency bins in use in `bins` */
    /* the minute and bucket the group's last line fell in: lines come in time order, so most lines
       count here and a table is touched only when the minute changes (flush_group) */
    long long minute, bucket, m[2], b[4];
    int64_t *bins;  /* the current bucket's latency histogram, LATENCY_BINS counters (NULL until needed) */
    uint32_t *sketch;  /* sketch buckets 0..SKETCH_SLOTS-1 counted here (NULL until needed); others in a table */
    int open;
} Group;

typedef struct {
    Group *groups;
    size_t count, cap;
    uint32_t *slots;             /* open addressing: group index + 1, 0 = empty */
    size_t slot_cap;
    Buf keys;
    int failed;
} Groups;

static long groups_find(Groups *g, const char *key, size_t n) {
    if (g->failed) return -1;
    if ((g->count + 1) * 2 > g->slot_cap) {
        size_t cap = g->slot_cap ? g->slot_cap * 2 : 256;
        uint32_t *slots = calloc(cap, sizeof(uint32_t));
        if (!slots) { g->failed = 1; return -1; }
        for (size_t i = 0; i < g->count; i++) {
            size_t j = g->groups[i].hash & (cap - 1);
            while (slots[j]) j = (j + 1) & (cap - 1);
            slots[j] = (uint32_t)(i + 1);
        }
        free(g->slots);
        g->slots = slots;
        g->slot_cap = cap;
    }
    uint64_t h = hash_bytes(key, n);
    size_t j = h & (g->slot_cap - 1);
    while (g->slots[j]) {
        Group *found = &g->groups[g->slots[j] - 1];
        if (found->hash == h && found->key_len == n && memcmp(g->keys.data + found->key_start, key, n) == 0)
            return (long)(g->slots[j] - 1);
        j = (j + 1) & (g->slot_cap - 1);
    }
    if (g->count == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 64;
        Group *grown = realloc(g->groups, cap * sizeof(Group));
        if (!grown) { g->failed = 1; return -1; }
        g->groups = grown;
        g->cap = cap;
    }
    Group *fresh = &g->groups[g->count];
    memset(fresh, 0, sizeof *fresh);
    fresh->key_start = g->keys.len;
    fresh->key_len = n;
    fresh->hash = h;
    fresh->dmin = INT64_MAX;
    fresh->dmax = INT64_MIN;
    fresh->first = INT64_MAX;
    fresh->last = INT64_MIN;
    fresh->b[2] = INT64_MAX;
    fresh->b[3] = INT64_MIN;
    buf_put(&g->keys, key, n);
    if (g->keys.failed) { g->failed = 1; return -1; }
    g->slots[j] = (uint32_t)(g->count + 1);
    return (long)g->count++;
}

/* --- endpoint templates (logs/endpoints.py, rule by rule) -------------------------- */

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static int is_b64url(char c) { return is_digit(c) || is_alpha(c) || c == '_' || c == '-'; }
static int is_b64(char c) { return is_digit(c) || is_alpha(c) || c == '+' || c == '/'; }

static int all_digits(const char *s, size_t n) {
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++) if (!is_digit(s[i])) return 0;
    return 1;
}

static int hex_with_digit(const char *s, size_t n, size_t min) {
    int digit = 0;
    if (n < min) return 0;
    for (size_t i = 0; i < n; i++) { if (!is_hex(s[i])) return 0; digit |= is_digit(s[i]); }
    return digit;
}

static int is_uuid(const char *s, size_t n) {
    if (n != 36) return 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) { if (s[i] != '-') return 0; }
        else if (!is_hex(s[i])) return 0;
    }
    return 1;
}

/* body of the class, at least min long, then at most two '=' to the end */
static int padded_token(const char *s, size_t n, size_t min, int (*in_class)(char), int need_letter) {
    size_t body = n;
    while (body > 0 && s[body - 1] == '=' && n - body < 2) body--;
    if (body < min) return 0;
    int digit = 0, letter = 0;
    for (size_t i = 0; i < body; i++) {
        if (!in_class(s[i])) return 0;
        digit |= is_digit(s[i]);
        letter |= is_alpha(s[i]);
    }
    return digit && (letter || !need_letter);
}

static int is_jwt(const char *s, size_t n) {
    size_t part = 0, parts = 1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') { if (part < 10) return 0; parts++; part = 0; }
        else if (!is_b64url(s[i])) return 0;
        else part++;
    }
    return parts == 3 && part >= 10;
}

static int id_fullmatch(const char *s, size_t n) {  /* endpoints._ID.fullmatch */
    return all_digits(s, n) || is_uuid(s, n) || hex_with_digit(s, n, 8)
        || padded_token(s, n, 16, is_b64url, 1) || padded_token(s, n, 20, is_b64, 0) || is_jwt(s, n);
}

static int date_fullmatch(const char *s, size_t n) {  /* endpoints._DATE.fullmatch */
    if (n < 10) return 0;
    for (size_t i = 0; i < 10; i++) {
        if (i == 4 || i == 7) { if (s[i] != '-') return 0; }
        else if (!is_digit(s[i])) return 0;
    }
    if (n == 10) return 1;
    if (s[10] != 'T' && s[10] != ' ') return 0;
    size_t i = 11;
    while (i < n && (is_digit(s[i]) || s[i] == ':' || s[i] == '.')) i++;
    if (i == 11) return 0;
    if (i == n) return 1;
    if (s[i] == 'Z') return i + 1 == n;
    if (s[i] != '+' && s[i] != '-') return 0;
    size_t j = i + 1;
    while (j < n && (is_digit(s[j]) || s[j] == ':')) j++;
    return j > i + 1 && j == n;
}

static int email_fullmatch(const char *s, size_t n) {  /* endpoints._EMAIL.fullmatch (ASCII) */
    size_t ats = 0, at = 0, dot = n;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == '/') return 0;
        if (c == '@') { ats++; at = i; }
        if (c == '.') dot = i;
    }
    if (dot == n || n - dot - 1 < 2) return 0;
    for (size_t i = dot + 1; i < n; i++) if (!is_alpha(s[i])) return 0;
    if (ats == 1) return at >= 1 && at + 1 < dot;
    if (ats > 1) return 0;
    for (size_t i = 1; i + 3 <= n; i++) {
        if (s[i] == '%' && s[i + 1] == '4' && s[i + 2] == '0') return i + 3 < dot;
    }
    return 0;
}

static void template_segment(Buf *out, const char *s, size_t n) {
    if (all_digits(s, n) || hex_with_digit(s, n, 8)) { buf_put(out, "{id}", 4); return; }
    int candidate = 0;
    for (size_t i = 0; i < n && !candidate; i++) {
        candidate = is_digit(s[i]) || s[i] == '@' || (s[i] == '%' && i + 2 < n && s[i + 1] == '4' && s[i + 2] == '0');
    }
    if (!candidate) { buf_put(out, s, n); return; }
    if (date_fullmatch(s, n)) { buf_put(out, "{date}", 6); return; }
    if (id_fullmatch(s, n)) { buf_put(out, "{id}", 4); return; }
    if (email_fullmatch(s, n)) { buf_put(out, "{email}", 7); return; }
    size_t dot = n;
    for (size_t i = n; i > 0; i--) if (s[i - 1] == '.') { dot = i - 1; break; }
    if (dot < n) {
        size_t ext = n - dot - 1;
        int alnum = ext > 0;
        for (size_t i = dot + 1; i < n; i++) alnum &= is_digit(s[i]) || is_alpha(s[i]);
        if (alnum && ext <= 5 && id_fullmatch(s, dot)) {
            buf_put(out, "{id}.", 5);
            buf_put(out, s + dot + 1, ext);
            return;
        }
    }
    buf_put(out, s, n);
}

static void segments_template(Buf *out, const char *path, size_t n) {
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || path[i] == '/') {
            template_segment(out, path + start, i - start);
            if (i < n) buf_put(out, "/", 1);
            start = i + 1;
        }
    }
}

/* endpoints.auto_template of a path without '?' (the caller cut the query) */
static void auto_template(Buf *out, const char *path, size_t n) {
    if (n == 0) { buf_put(out, "-", 1); return; }
    for (size_t i = 0; i + 3 <= n; i++) {
        if (path[i] == ':' && path[i + 1] == '/' && path[i + 2] == '/') {
            /* absolute-form target: "/" + what follows the authority */
            const char *rest = path + i + 3;
            size_t left = n - i - 3, k = 0;
            while (k < left && rest[k] != '/') k++;
            Buf tmp = {0};
            buf_put(&tmp, "/", 1);
            if (k < left) buf_put(&tmp, rest + k + 1, left - k - 1);
            if (tmp.failed) { out->failed = 1; free(tmp.data); return; }
            int candidate = 0;
            for (size_t j = 0; j < tmp.len && !candidate; j++) {
                char c = tmp.data[j];
                candidate = is_digit(c) || c == '@' || (c == '%' && j + 2 < tmp.len && tmp.data[j + 1] == '4' && tmp.data[j + 2] == '0');
            }
            if (!candidate) buf_put(out, tmp.data, tmp.len);
            else segments_template(out, tmp.data, tmp.len);
            free(tmp.data);
            return;
        }
    }
    segments_template(out, path, n);
}

/* --- reading one line ------------------------------------------------------------------ */

typedef struct {
    const char *vhost; size_t vhost_len; int has_vhost;
    const char *host; size_t host_len; int has_host;
    const char *request; size_t request_len; int has_request, request_escaped;
    long long status; int has_status;
    long long bytes;
    long long duration; int has_duration;
    long long epoch; int has_time;
} Line;

static int number(const char *p, const char *end, const char **after, long long *value, int *dash, int allow_negative) {
    (void)allow_negative;
    if (p < end && *p == '-' && (p + 1 >= end || !is_digit(p[1]))) { *dash = 1; *after = p + 1; return 1; }
    const char *q = p;
    long long v = 0;
    while (q < end && is_digit(*q)) {
        if (q - p >= MAX_DIGITS) return 0;
        v = v * 10 + (*q - '0');
        q++;
    }
    if (q == p) return 0;  /* a negative number, or none: Python decides */
    *dash = 0;
    *value = v;
    *after = q;
    return 1;
}

static const char *const MONTHS = "JanFebMarAprMayJunJulAugSepOctNovDec";

static int two(const char *p) { return is_digit(p[0]) && is_digit(p[1]) ? (p[0] - '0') * 10 + (p[1] - '0') : -1; }

static long long days_from_civil(long long y, unsigned m, unsigned d) {
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

/* [dd/Mon/yyyy:hh:mm:ss +zzzz]: only times the Python parser accepts, years 1000..9998 (others: Python decides) */
/* the last time read on this thread: a log's consecutive lines mostly share their second */
static _Thread_local char last_time_text[28];
static _Thread_local long long last_time_epoch;
static _Thread_local int last_time_valid;

static int clf_time_parse(const char *p, const char *end, long long *epoch);

static int clf_time(const char *p, const char *end, long long *epoch) {
    if (end - p >= 28 && last_time_valid && memcmp(p, last_time_text, 28) == 0) {
        *epoch = last_time_epoch;
        return 1;
    }
    if (!clf_time_parse(p, end, epoch)) return 0;
    memcpy(last_time_text, p, 28);
    last_time_epoch = *epoch;
    last_time_valid = 1;
    return 1;
}

static int clf_time_parse(const char *p, const char *end, long long *epoch) {
    if (end - p < 28) return 0;
    if (p[0] != '[' || p[3] != '/' || p[7] != '/' || p[12] != ':' || p[15] != ':' || p[18] != ':'
        || p[21] != ' ' || (p[22] != '+' && p[22] != '-') || p[27] != ']') return 0;
    int day = two(p + 1), hour = two(p + 13), minute = two(p + 16), second = two(p + 19);
    int yh = two(p + 8), yl = two(p + 10), oh = two(p + 23), om = two(p + 25);
    if (day < 0 || hour < 0 || minute < 0 || second < 0 || yh < 0 || yl < 0 || oh < 0 || om < 0) return 0;
    int month = 0;
    for (int i = 0; i < 12; i++) if (memcmp(p + 4, MONTHS + 3 * i, 3) == 0) { month = i + 1; break; }
    int year = yh * 100 + yl;
    if (!month || year < 1000 || year > 9998 || hour > 23 || minute > 59 || second > 59 || oh > 23 || om > 59) return 0;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (day < 1 || day > mdays[month - 1] + (month == 2 && leap)) return 0;
    long long offset = (long long)oh * 3600 + om * 60;
    *epoch = days_from_civil(year, (unsigned)month, (unsigned)day) * 86400 + hour * 3600 + minute * 60 + second
             - (p[22] == '-' ? -offset : offset);
    return 1;
}

/* the value of an unquoted field: up to the first place where the next literal matches (the regex's lazy
   first choice); no space, quote or backslash in it */
/* a literal's text at p (literals are a few bytes: a loop beats a call to memcmp) */
static inline int same_text(const char *p, const char *lit, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) if (p[i] != lit[i]) return 0;
    return 1;
}

static const char *token_end(const char *p, const char *end, const Item *next) {
    const char *q = p;
    for (;;) {
        if (next == NULL) {
            if (q == end) return q;
        } else if (q < end && *q == next->lit[0] && end - q >= next->lit_len && same_text(q, next->lit, next->lit_len)) {
            return q;
        }
        if (q == end || *q == ' ' || *q == '"' || *q == '\\') return NULL;
        q++;
    }
}

/* marks (NULL, or 2 * spec->count pointers): where each field's text starts and ends (parquet_columns) */
static int read_line_marks(const Spec *spec, const char *p, const char *end, Line *out, const char **marks) {
    memset(out, 0, sizeof *out);
    for (int i = 0; i < spec->count; i++) {
        const Item *item = &spec->items[i];
        const Item *next = i + 1 < spec->count ? &spec->items[i + 1] : NULL;
        if (!item->is_field) {
            if (end - p < item->lit_len || !same_text(p, item->lit, item->lit_len)) return 0;
            p += item->lit_len;
            continue;
        }
        if (marks) marks[2 * i] = p;
        const char *q;
        long long value = 0;
        int dash = 0;
        switch (item->kind) {
        case K_TOKEN:
        case K_VHOST:
        case K_HOST:
            q = token_end(p, end, next);
            if (q == NULL) return 0;
            if (item->kind == K_VHOST) { out->vhost = p; out->vhost_len = (size_t)(q - p); out->has_vhost = 1; }
            if (item->kind == K_HOST) { out->host = p; out->host_len = (size_t)(q - p); out->has_host = 1; }
            p = q;
            break;
        case K_HOST_QUOTED:
            /* a Host holding an escape (\" or \\, or \xhh) is left to Python, which unescapes it */
            q = memchr(p, '"', (size_t)(end - p));
            if (q == NULL || memchr(p, '\\', (size_t)(q - p)) != NULL) return 0;
            out->host = p; out->host_len = (size_t)(q - p); out->has_host = 1;
            p = q;
            break;
        case K_QUOTED:
        case K_REQUEST:
            q = memchr(p, '"', (size_t)(end - p));
            if (q == NULL) return 0;
            const char *backslash = memchr(p, '\\', (size_t)(q - p));
            if (backslash != NULL) {  /* httpd's escapes: a quote after a backslash is not the end */
                if (!item->escaped) return 0;
                q = backslash;
                while (q < end && *q != '"') {
                    if (*q == '\\') {
                        if (q + 1 >= end) return 0;
                        q++;
                    }
                    q++;
                }
                if (q == end) return 0;
            }
            if (item->kind == K_REQUEST) {
                /* httpd escapes the request line; the method and path are read before any escape:
                   the first escape must come after the first '?', itself after the first space
                   (unescaping then cannot move the method, the path or the end of the path) */
                if (backslash != NULL) {
                    const char *space = memchr(p, ' ', (size_t)(backslash - p));
                    const char *question = space ? memchr(space, '?', (size_t)(backslash - space)) : NULL;
                    if (question == NULL) return 0;
                }
                out->request = p; out->request_len = (size_t)(q - p); out->has_request = 1;
                out->request_escaped = backslash != NULL;
            }
            p = q;
            break;
        case K_NUMBER:
        case K_STATUS:
        case K_BYTES:
        case K_DURATION:
            if (!number(p, end, &q, &value, &dash, 0)) return 0;
            if (item->kind == K_STATUS && !dash) { out->status = value; out->has_status = 1; }
            if (item->kind == K_BYTES && !dash) out->bytes = value;
            if (item->kind == K_DURATION && !dash) { out->duration = value * item->scale; out->has_duration = 1; }
            p = q;
            break;
        case K_TIME:
            if (!clf_time(p, end, &out->epoch)) return 0;
            out->has_time = 1;
            p += 28;
            break;
        default:
            return 0;
        }
        if (marks) marks[2 * i + 1] = p;
    }
    return p == end && out->has_time;
}

static int read_line(const Spec *spec, const char *p, const char *end, Line *out) {
    return read_line_marks(spec, p, end, out, NULL);
}

/* --- the tally: running sums across blocks ------------------------------------------------------
 *
 * A Tally holds what the lines of any number of blocks add up to, per (vhost, method, endpoint
 * template): one per scanning thread, fed block after block with the GIL released, merged into one
 * at the end, and only then turned into Python objects. So the per-block work in the interpreter is
 * only the lines the scanner left to the Python parser.
 *
 * Bounded like a report reader (analytics/aggregate.py): at most max_vhosts vhosts and max_templates
 * templates per vhost (first seen, first kept; later ones count in "{other}", and `folded` says so),
 * methods outside the caller's list (if it gives one) count as "{other}", at most max_pairs (vhost, Host) pairs (later
 * Hosts count as "{other}"), and the series (buckets + latency cells) at most max_cells: past it the
 * step doubles and the cells are merged, as Aggregate._coarsen does. */

#define RAW_CACHE 16384  /* entries of a tally's raw cache (direct-mapped) */
#define RAW_KEY_MAX 112  /* longer raw keys are not cached */

/* (vhost, request up to the end of its path) -> group: a repeated path skips templating and the key */
typedef struct {
    uint64_t hash;
    uint32_t gid;
    uint16_t vlen, rlen;
    uint8_t used, folded;
    char key[RAW_KEY_MAX];
} RawEntry;

static const char OTHER_NAME[] = "{other}";
#define OTHER_LEN (sizeof OTHER_NAME - 1)

typedef struct {
    Groups groups;   /* (vhost, method, template) */
    Groups vhosts;   /* length-prefixed vhost names; a vhost's `requests` counts its admitted templates */
    Groups admitted; /* (vhost index, template): the templates admitted per vhost */
    Table minutes;   /* (vhost index, minute) -> requests, 5xx: the vhost timeline */
    Table buckets;   /* (group, bucket of `step` s) -> requests, 5xx, first 5xx, last 5xx: the series */
    Table latency;   /* (group, bucket * LATENCY_BINS + bin) -> requests */
    Table sketch;    /* (group, sketch bucket) -> values */
    Groups pairs;    /* (vhost index, raw Host) interned */
    Table hosts;     /* (pair, minute) -> requests: the host-moved view */
    Buf deferred;    /* of the block being scanned: (line number, start, end) as three long long */
    Buf key, tpl, norm;  /* scratch */
    Buf methods;     /* the methods kept by name: length-prefixed */
    RawEntry *raw;   /* RAW_CACHE entries (NULL until needed) */
    long long lines, folded, step, job, block_lines;
    long long max_vhosts, max_templates, max_pairs;
    size_t max_cells;
    double sketch_mult, latency_mult;
    int failed, busy, merged;  /* merged: added into another tally (tally_add), not usable since */
} Tally;

static long long floor_div(long long a, long long b) { long long q = a / b; return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q; }
static long long floor_mod(long long a, long long b) { return a - floor_div(a, b) * b; }

static long groups_lookup(const Groups *g, const char *key, size_t n) {
    if (g->failed || g->slot_cap == 0) return -1;
    uint64_t h = hash_bytes(key, n);
    size_t j = h & (g->slot_cap - 1);
    while (g->slots[j]) {
        const Group *found = &g->groups[g->slots[j] - 1];
        if (found->hash == h && found->key_len == n && memcmp(g->keys.data + found->key_start, key, n) == 0)
            return (long)(g->slots[j] - 1);
        j = (j + 1) & (g->slot_cap - 1);
    }
    return -1;
}

static Cell *counter(Table *t, uint32_t group, int64_t key, int slots) {
    int created;
    Cell *cell = table_get(t, group, key, &created);
    if (cell != NULL && created) {
        for (int i = 0; i < slots; i++) cell->v[i] = 0;
        if (slots == 4) { cell->v[2] = INT64_MAX; cell->v[3] = INT64_MIN; }
    }
    return cell;
}

static int add_bucket_cell(Table *t, uint32_t group, int64_t key, const int64_t v[4]) {
    Cell *b = counter(t, group, key, 4);
    if (b == NULL) return 0;
    b->v[0] += v[0];
    b->v[1] += v[1];
    if (v[2] < b->v[2]) b->v[2] = v[2];
    if (v[3] > b->v[3]) b->v[3] = v[3];
    return 1;
}

static int add_count(Table *t, uint32_t group, int64_t key, int64_t n) {
    Cell *c = counter(t, group, key, 1);
    if (c == NULL) return 0;
    c->v[0] += n;
    return 1;
}

/* move vhost `vid`'s current minute into its timeline (lines come in time order: a vhost's minute
   changes once a minute, and the table is touched then) */
static int flush_minute(Tally *t, uint32_t vid, Group *v) {
    if (v->m[0]) {
        Cell *m = counter(&t->minutes, vid, v->minute, 2);
        if (m == NULL) return 0;
        m->v[0] += v->m[0];
        m->v[1] += v->m[1];
    }
    v->m[0] = v->m[1] = 0;
    return 1;
}

/* the same for a (vhost, Host) pair's requests */
static int flush_pair(Tally *t, uint32_t pid, Group *pair) {
    if (pair->m[0] && !add_count(&t->hosts, pid, pair->minute, pair->m[0])) return 0;
    pair->m[0] = 0;
    return 1;
}

/* move group `gid`'s current bucket and its latency bins into the tables */
static int flush_bucket(Tally *t, uint32_t gid, Group *g) {
    if (g->b[0]) {
        int64_t v[4] = {g->b[0], g->b[1], g->b[2], g->b[3]};
        if (!add_bucket_cell(&t->buckets, gid, g->bucket, v)) return 0;
    }
    if (g->bins != NULL) {
        for (int k = g->bin_lo; k <= g->bin_hi; k++) {
            if (!g->bins[k]) continue;
            if (!add_count(&t->latency, gid, g->bucket * LATENCY_BINS + k, g->bins[k])) return 0;
            g->bins[k] = 0;
        }
    }
    g->bin_lo = LATENCY_BINS;
    g->bin_hi = -1;
    g->b[0] = g->b[1] = 0;
    g->b[2] = INT64_MAX;
    g->b[3] = INT64_MIN;
    return 1;
}

static int flush_group(Tally *t, uint32_t gid) {
    Group *g = &t->groups.groups[gid];
    if (!g->open) return 1;
    g->open = 0;
    return flush_bucket(t, gid, g);
}

/* a group's sketch counters (its array) into the sketch table */
static int flush_sketch(Tally *t, uint32_t gid, uint32_t *counts) {
    for (int k = 0; counts != NULL && k < SKETCH_SLOTS; k++) {
        if (!counts[k]) continue;
        if (!add_count(&t->sketch, gid, k, counts[k])) return 0;
        counts[k] = 0;
    }
    return 1;
}

/* every group's open bucket, every vhost's and pair's minute, into the tables, and with `sketches` the
   groups' sketch counters too (a merge adds the arrays instead) */
static int flush_all(Tally *t, int sketches) {
    for (size_t i = 0; i < t->vhosts.count; i++) {
        Group *v = &t->vhosts.groups[i];
        if (v->open && !flush_minute(t, (uint32_t)i, v)) return 0;
        v->open = 0;
    }
    for (size_t i = 0; i < t->pairs.count; i++) {
        Group *pair = &t->pairs.groups[i];
        if (pair->open && !flush_pair(t, (uint32_t)i, pair)) return 0;
        pair->open = 0;
    }
    for (size_t i = 0; i < t->groups.count; i++) {
        if (!flush_group(t, (uint32_t)i)) return 0;
        if (sketches && !flush_sketch(t, (uint32_t)i, t->groups.groups[i].sketch)) return 0;
    }
    return 1;
}

/* a series cell's key at a coarser step: its bucket's start; a latency cell's: bucket start * BINS + bin */
static int64_t bucket_at(int64_t key, long long step) { return key - floor_mod(key, step); }
static int64_t latency_at(int64_t key, long long step) { return key - floor_mod(floor_div(key, LATENCY_BINS), step) * LATENCY_BINS; }

/* the series at `step` (a multiple of the current one): cells merged as Aggregate._coarsen merges them */
static int coarsen(Tally *t, long long step) {
    if (!flush_all(t, 0)) return 0;
    Table buckets = {0}, latency = {0};
    for (size_t i = 0; i < t->buckets.cap; i++) {
        const Cell *c = &t->buckets.cells[i];
        if (c->used && !add_bucket_cell(&buckets, c->group, bucket_at(c->key, step), c->v)) goto fail;
    }
    for (size_t i = 0; i < t->latency.cap; i++) {
        const Cell *c = &t->latency.cells[i];
        if (c->used && !add_count(&latency, c->group, latency_at(c->key, step), c->v[0])) goto fail;
    }
    free(t->buckets.cells);
    free(t->latency.cells);
    t->buckets = buckets;
    t->latency = latency;
    t->step = step;
    return 1;
fail:
    free(buckets.cells);
    free(latency.cells);
    return 0;
}

static int bound_cells(Tally *t) {
    while (t->buckets.count + t->latency.count > t->max_cells && t->step < ((long long)MINUTE << 32))
        if (!coarsen(t, t->step * 2)) return 0;
    return 1;
}

static int known_method(const Tally *t, const char *m, size_t n) {
    const char *p = t->methods.data, *end = p + t->methods.len;
    while (p < end) {
        uint32_t len;
        memcpy(&len, p, sizeof len);
        p += sizeof len;
        if (len == n && memcmp(p, m, n) == 0) return 1;
        p += len;
    }
    return 0;
}

static void put_key(Buf *key, const char *vhost, size_t vlen, const char *method, size_t method_len, int has_method,
                    const char *tpl, size_t tlen) {
    key->len = 0;
    buf_u32(key, (uint32_t)vlen);
    buf_put(key, vhost, vlen);
    buf_put(key, has_method ? "m" : "n", 1);
    buf_u32(key, (uint32_t)method_len);
    buf_put(key, method, method_len);
    buf_u32(key, (uint32_t)tlen);
    buf_put(key, tpl, tlen);
}

/* the group of a (vhost, method, template) seen for the first time: the caps and the method list
   applied (the raw key is not interned, so a folded key is looked at again on its next line) */
static long admit(Tally *t, const char *vhost, size_t vlen, const char *method, size_t method_len, int has_method) {
    Buf *k = &t->norm;
    int folded = 0;
    k->len = 0;
    buf_u32(k, (uint32_t)vlen);
    buf_put(k, vhost, vlen);
    if (k->failed) return -1;
    long vid = groups_lookup(&t->vhosts, k->data, k->len);
    if (vid < 0 && (long long)t->vhosts.count >= t->max_vhosts) {
        folded = 1;
        vhost = OTHER_NAME;
        vlen = OTHER_LEN;
        k->len = 0;
        buf_u32(k, (uint32_t)vlen);
        buf_put(k, vhost, vlen);
    }
    if (vid < 0) vid = groups_find(&t->vhosts, k->data, k->len);
    if (vid < 0) return -1;
    if (has_method && t->methods.len && !known_method(t, method, method_len)) { method = OTHER_NAME; method_len = OTHER_LEN; }
    const char *tpl = t->tpl.data;
    size_t tlen = t->tpl.len;
    k->len = 0;
    buf_u32(k, (uint32_t)vid);
    buf_put(k, tpl, tlen);
    if (k->failed) return -1;
    if (groups_lookup(&t->admitted, k->data, k->len) < 0 && !(tlen == OTHER_LEN && memcmp(tpl, OTHER_NAME, OTHER_LEN) == 0)) {
        Group *v = &t->vhosts.groups[vid];
        if (v->requests >= t->max_templates) {
            folded = 1;
            tpl = OTHER_NAME;
            tlen = OTHER_LEN;
        } else {
            if (groups_find(&t->admitted, k->data, k->len) < 0) return -1;
            v->requests++;
        }
    }
    Buf *key = &t->key;
    put_key(key, vhost, vlen, method, method_len, has_method, tpl, tlen);
    if (key->failed) return -1;
    size_t before = t->groups.count;
    long gid = groups_find(&t->groups, key->data, key->len);
    if (gid < 0) return -1;
    if (t->groups.count > before) {
        Group *g = &t->groups.groups[gid];
        g->vhost = (uint32_t)vid;
        g->bin_lo = LATENCY_BINS;
        g->bin_hi = -1;
    }
    t->folded += folded;
    return gid;
}

static int count_line(Tally *t, const Line *line, long gid);

static int add_line(Tally *t, const Line *line) {
    const char *method = NULL, *path = NULL;
    size_t method_len = 0, path_len = 0;
    if (line->has_request && !(line->request_len == 1 && line->request[0] == '-')) {
        /* logs.format._split_request: method, then the target up to the last space (or the end) */
        const char *s = line->request, *e = line->request + line->request_len;
        const char *sp = memchr(s, ' ', line->request_len);
        if (sp != NULL) {
            method = s;
            method_len = (size_t)(sp - s);
            const char *rest = sp + 1, *last = NULL;
            for (const char *c = e; c > rest; c--) if (c[-1] == ' ') { last = c - 1; break; }
            const char *target_end = last ? last : e;
            path = rest;
            const char *question = memchr(rest, '?', (size_t)(target_end - rest));
            /* an escape (after the '?') could unescape to a space that moves the target's end:
               only a path that ends at a '?' before the last space is sure */
            if (line->request_escaped && question == NULL) return 0;
            path_len = (size_t)((question ? question : target_end) - rest);
        }
    }
    size_t vlen = line->has_vhost ? line->vhost_len : 0;
    /* the request up to the end of its path ("GET /a/b"): with the vhost, the key of the raw cache */
    size_t prefix = path ? (size_t)(path + path_len - line->request) : 0;
    RawEntry *cached = NULL;
    if (path != NULL && vlen + prefix <= RAW_KEY_MAX) {
        if (t->raw == NULL && (t->raw = calloc(RAW_CACHE, sizeof(RawEntry))) == NULL) return 0;
        uint64_t h = mix(hash_bytes(line->vhost, vlen)) ^ hash_bytes(line->request, prefix);
        cached = &t->raw[h & (RAW_CACHE - 1)];
        if (cached->used && cached->hash == h && cached->vlen == vlen && cached->rlen == prefix
            && memcmp(cached->key, line->vhost, vlen) == 0 && memcmp(cached->key + vlen, line->request, prefix) == 0) {
            t->folded += cached->folded;
            return count_line(t, line, cached->gid);
        }
        cached->used = 0;
        cached->hash = h;
    }
    Buf *tpl = &t->tpl;
    tpl->len = 0;
    if (path == NULL) buf_put(tpl, "-", 1);
    else auto_template(tpl, path, path_len);
    put_key(&t->key, line->vhost, vlen, method, method_len, method != NULL, tpl->data, tpl->len);
    if (t->key.failed || tpl->failed) return 0;
    long long folded = t->folded;
    long gid = groups_lookup(&t->groups, t->key.data, t->key.len);
    if (gid < 0) gid = admit(t, line->vhost, vlen, method, method_len, method != NULL);
    if (gid < 0) return 0;
    if (cached != NULL) {
        cached->used = 1;
        cached->gid = (uint32_t)gid;
        cached->folded = t->folded > folded;
        cached->vlen = (uint16_t)vlen;
        cached->rlen = (uint16_t)prefix;
        memcpy(cached->key, line->vhost, vlen);
        memcpy(cached->key + vlen, line->request, prefix);
    }
    return count_line(t, line, gid);
}

/* the counters of line `line`, of group `gid` */
static int count_line(Tally *t, const Line *line, long gid) {
    Group *g = &t->groups.groups[gid];
    if (g->requests == 0 || t->job < g->first_job || (t->job == g->first_job && t->block_lines < g->first_line)) {
        g->first_job = t->job;
        g->first_line = t->block_lines;
    }
    g->requests++;
    int group = line->has_status && line->status >= 100 && line->status <= 599 ? (int)(line->status / 100) : 0;
    g->status[group]++;
    if (__builtin_add_overflow(g->bytes, line->bytes, &g->bytes)) return 0;
    long long epoch = line->epoch, step = t->step;
    long long minute = floor_div(epoch, MINUTE) * MINUTE;
    long long bucket = floor_div(minute, step) * step;
    if (epoch < g->first) g->first = epoch;
    if (epoch > g->last) g->last = epoch;
    Group *v = &t->vhosts.groups[g->vhost];
    if (!v->open || v->minute != minute) {
        if (v->open && !flush_minute(t, g->vhost, v)) return 0;
        v->minute = minute;
        v->open = 1;
    }
    v->m[0]++;
    if (!g->open || g->bucket != bucket) {
        if (g->open && !flush_bucket(t, (uint32_t)gid, g)) return 0;
        g->bucket = bucket;
    }
    g->open = 1;
    g->b[0]++;
    if (group == 5) {
        v->m[1]++;
        g->b[1]++;
        if (epoch < g->b[2]) g->b[2] = epoch;
        if (epoch > g->b[3]) g->b[3] = epoch;
    }
    if (line->has_host) {
        Buf *key = &t->norm;
        key->len = 0;
        buf_u32(key, g->vhost);
        buf_u32(key, (uint32_t)line->host_len);
        buf_put(key, line->host, line->host_len);
        if (key->failed) return 0;
        long pid = groups_lookup(&t->pairs, key->data, key->len);
        if (pid < 0 && (long long)t->pairs.count >= t->max_pairs) {
            key->len = 0;
            buf_u32(key, g->vhost);
            buf_u32(key, (uint32_t)OTHER_LEN);
            buf_put(key, OTHER_NAME, OTHER_LEN);
        }
        if (pid < 0) pid = groups_find(&t->pairs, key->data, key->len);
        if (pid < 0) return 0;
        Group *pair = &t->pairs.groups[pid];
        if (!pair->open || pair->minute != minute) {
            if (pair->open && !flush_pair(t, (uint32_t)pid, pair)) return 0;
            pair->minute = minute;
            pair->open = 1;
        }
        pair->m[0]++;
    }
    if (line->has_duration) {
        long long d = line->duration;
        g->dcount++;
        if (__builtin_add_overflow(g->dsum, d, &g->dsum)) return 0;
        if (d < g->dmin) g->dmin = d;
        if (d > g->dmax) g->dmax = d;
        /* a group's arrays (8 KiB, 1 KiB) only once it has durations enough to pay for them */
        int arrays = g->dcount > 32;
        if (d <= 0) g->dzero++;
        else {
            /* QuantileSketch.add_many: ceil(log(v) * multiplier) */
            int64_t k = (int64_t)ceil(t->sketch_mult * log((double)d));
            if (arrays && k >= 0 && k < SKETCH_SLOTS && g->dcount < UINT32_MAX) {
                if (g->sketch == NULL && (g->sketch = calloc(SKETCH_SLOTS, sizeof(uint32_t))) == NULL) return 0;
                g->sketch[k]++;
            } else if (!add_count(&t->sketch, (uint32_t)gid, k, 1)) return 0;
        }
        /* aggregate._add_latency: ceil(log(max(d, 1)) * scale) */
        long long bin = (long long)ceil(t->latency_mult * log((double)(d > 1 ? d : 1)));
        if (!arrays || bin < 0 || bin >= LATENCY_BINS) {
            if (!add_count(&t->latency, (uint32_t)gid, bucket * LATENCY_BINS + bin, 1)) return 0;
        } else {
            if (g->bins == NULL && (g->bins = calloc(LATENCY_BINS, sizeof(int64_t))) == NULL) return 0;
            g->bins[bin]++;
            if (bin < g->bin_lo) g->bin_lo = (int)bin;
            if (bin > g->bin_hi) g->bin_hi = (int)bin;
        }
    }
    return 1;
}

static int defer(Tally *t, long long number, long long start, long long end) {
    long long triple[3] = {number, start, end};
    buf_put(&t->deferred, (const char *)triple, sizeof triple);
    return !t->deferred.failed;
}

static int printable(const char *p, const char *e) {
    /* eight bytes at a time: a word with a byte under 0x20 or over 0x7e is looked at byte by byte */
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    while (e - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        if ((((w - 0x20 * ones) | (w + ones)) & highs) | (w & highs)) break;
        p += 8;
    }
    for (; p < e; p++) if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e) return 0;
    return 1;
}

static int tally_failed(const Tally *t) {
    return t->failed || t->groups.failed || t->vhosts.failed || t->admitted.failed || t->minutes.failed
           || t->buckets.failed || t->latency.failed || t->sketch.failed || t->pairs.failed || t->hosts.failed
           || t->key.failed || t->tpl.failed || t->norm.failed;
}

/* the lines of one block (of job `job`) into the tally */
static void scan_lines(Tally *t, const Spec *spec, const char *data, size_t size) {
    size_t start = 0;
    t->block_lines = 0;
    t->deferred.len = 0;
    while (start < size && !t->failed) {
        const char *nl = memchr(data + start, '\n', size - start);
        size_t stop = nl ? (size_t)(nl - data) : size;
        t->block_lines++;
        const char *p = data + start, *e = data + stop;
        if (e > p && e[-1] == '\r') e--;  /* as the Python reader: the CR of a CRLF is not data */
        Line line;
        int ok = (size_t)(e - p) <= MAX_SCAN_LINE && printable(p, e) && read_line(spec, p, e, &line) && add_line(t, &line);
        if (!ok && !defer(t, t->block_lines, (long long)start, (long long)stop)) t->failed = 1;
        if ((t->block_lines & 0xffff) == 0 && !bound_cells(t)) t->failed = 1;
        if (tally_failed(t)) t->failed = 1;
        start = stop + 1;
    }
    if (!t->failed && !bound_cells(t)) t->failed = 1;
    t->lines += t->block_lines;
}

static void groups_free(Groups *g, int arrays) {
    for (size_t i = 0; arrays && i < g->count; i++) {
        free(g->groups[i].bins);
        free(g->groups[i].sketch);
    }
    free(g->groups);
    free(g->slots);
    free(g->keys.data);
}

static void tally_free(Tally *t) {
    groups_free(&t->groups, 1);
    groups_free(&t->vhosts, 0);
    groups_free(&t->admitted, 0);
    groups_free(&t->pairs, 0);
    free(t->minutes.cells);
    free(t->buckets.cells);
    free(t->latency.cells);
    free(t->sketch.cells);
    free(t->hosts.cells);
    free(t->deferred.data);
    free(t->key.data);
    free(t->tpl.data);
    free(t->norm.data);
    free(t->methods.data);
    free(t->raw);
    free(t);
}

/* add `src` into `t` (both flushed, at one step); `src` gives its sketch arrays away: it is only freed after */
static int tally_add(Tally *t, Tally *src) {
    if (!flush_all(t, 0) || !flush_all(src, 0)) return 0;
    long long step = t->step > src->step ? t->step : src->step;
    if ((t->step != step && !coarsen(t, step)) || (src->step != step && !coarsen(src, step))) return 0;
    size_t nv = src->vhosts.count, ng = src->groups.count, np = src->pairs.count;
    uint32_t *vmap = calloc(nv + 1, sizeof(uint32_t)), *gmap = calloc(ng + 1, sizeof(uint32_t)),
             *pmap = calloc(np + 1, sizeof(uint32_t));
    int ok = vmap && gmap && pmap;
    for (size_t i = 0; ok && i < nv; i++) {
        const Group *v = &src->vhosts.groups[i];
        long id = groups_find(&t->vhosts, src->vhosts.keys.data + v->key_start, v->key_len);
        ok = id >= 0;
        if (ok) vmap[i] = (uint32_t)id;
    }
    for (size_t i = 0; ok && i < ng; i++) {
        Group *s = &src->groups.groups[i];
        size_t before = t->groups.count;
        long id = groups_find(&t->groups, src->groups.keys.data + s->key_start, s->key_len);
        if (!(ok = id >= 0)) break;
        gmap[i] = (uint32_t)id;
        Group *g = &t->groups.groups[id];
        if (t->groups.count > before) {
            g->vhost = vmap[s->vhost];
            g->bin_lo = LATENCY_BINS;
            g->bin_hi = -1;
            g->first_job = s->first_job;
            g->first_line = s->first_line;
        } else if (s->first_job < g->first_job || (s->first_job == g->first_job && s->first_line < g->first_line)) {
            g->first_job = s->first_job;
            g->first_line = s->first_line;
        }
        if (s->sketch != NULL) {  /* the arrays added (or taken), not their cells one by one */
            if (g->sketch == NULL) {
                g->sketch = s->sketch;
                s->sketch = NULL;
            } else if (g->dcount + s->dcount < UINT32_MAX) {
                for (int k = 0; k < SKETCH_SLOTS; k++) g->sketch[k] += s->sketch[k];
            } else if (!flush_sketch(t, (uint32_t)id, s->sketch)) {
                ok = 0;
                break;
            }
        }
        g->requests += s->requests;
        for (int k = 0; k < 6; k++) g->status[k] += s->status[k];
        ok = !__builtin_add_overflow(g->bytes, s->bytes, &g->bytes) && !__builtin_add_overflow(g->dsum, s->dsum, &g->dsum);
        g->dcount += s->dcount;
        g->dzero += s->dzero;
        if (s->dmin < g->dmin) g->dmin = s->dmin;
        if (s->dmax > g->dmax) g->dmax = s->dmax;
        if (s->first < g->first) g->first = s->first;
        if (s->last > g->last) g->last = s->last;
    }
    for (size_t i = 0; ok && i < np; i++) {
        const Group *p = &src->pairs.groups[i];
        const char *key = src->pairs.keys.data + p->key_start;
        uint32_t vid;
        memcpy(&vid, key, sizeof vid);
        vid = vmap[vid];
        Buf *k = &t->norm;
        k->len = 0;
        buf_u32(k, vid);
        buf_put(k, key + sizeof vid, p->key_len - sizeof vid);
        long id = k->failed ? -1 : groups_find(&t->pairs, k->data, k->len);
        if ((ok = id >= 0)) pmap[i] = (uint32_t)id;
    }
    ok = ok && table_reserve(&t->buckets, t->buckets.count + src->buckets.count)
         && table_reserve(&t->latency, t->latency.count + src->latency.count)
         && table_reserve(&t->sketch, t->sketch.count + src->sketch.count);
    for (size_t i = 0; ok && i < src->buckets.cap; i++) {
        const Cell *c = &src->buckets.cells[i];
        if (c->used) ok = add_bucket_cell(&t->buckets, gmap[c->group], c->key, c->v);
    }
    for (size_t i = 0; ok && i < src->latency.cap; i++) {
        const Cell *c = &src->latency.cells[i];
        if (c->used) ok = add_count(&t->latency, gmap[c->group], c->key, c->v[0]);
    }
    for (size_t i = 0; ok && i < src->sketch.cap; i++) {
        const Cell *c = &src->sketch.cells[i];
        if (c->used) ok = add_count(&t->sketch, gmap[c->group], c->key, c->v[0]);
    }
    for (size_t i = 0; ok && i < src->minutes.cap; i++) {
        const Cell *c = &src->minutes.cells[i];
        if (!c->used) continue;
        Cell *m = counter(&t->minutes, vmap[c->group], c->key, 2);
        if ((ok = m != NULL)) { m->v[0] += c->v[0]; m->v[1] += c->v[1]; }
    }
    for (size_t i = 0; ok && i < src->hosts.cap; i++) {
        const Cell *c = &src->hosts.cells[i];
        if (c->used) ok = add_count(&t->hosts, pmap[c->group], c->key, c->v[0]);
    }
    free(vmap);
    free(gmap);
    free(pmap);
    if (!ok) return 0;
    t->lines += src->lines;
    t->folded += src->folded;
    return bound_cells(t) && !tally_failed(t);
}

/* --- Python objects ---------------------------------------------------------------------------- */

static int parse_spec(PyObject *items, Spec *spec) {
    Py_ssize_t n = PyTuple_Size(items);
    if (n < 0) return 0;
    if (n > MAX_ITEMS) { PyErr_SetString(PyExc_ValueError, "spec too long"); return 0; }
    spec->count = (int)n;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GetItem(items, i);
        Item *it = &spec->items[i];
        memset(it, 0, sizeof *it);
        if (item == NULL) return 0;
        if (PyBytes_Check(item)) {
            char *text;
            if (PyBytes_AsStringAndSize(item, &text, &it->lit_len) < 0) return 0;
            if (it->lit_len == 0) { PyErr_SetString(PyExc_ValueError, "empty literal"); return 0; }
            it->lit = text;
            continue;
        }
        int kind, escaped;
        long long scale;
        if (!PyArg_ParseTuple(item, "iiL", &kind, &escaped, &scale)) return 0;
        if (kind < K_TOKEN || kind > K_HOST_QUOTED || scale < 1 || scale > 1000000) {
            PyErr_SetString(PyExc_ValueError, "bad field in spec");
            return 0;
        }
        if (i > 0 && spec->items[i - 1].is_field) {
            PyErr_SetString(PyExc_ValueError, "two fields without a literal between them");
            return 0;
        }
        it->is_field = 1;
        it->kind = kind;
        it->escaped = escaped;
        it->scale = scale;
    }
    return 1;
}

static PyObject *key_part(const char **p, int may_be_none) {
    uint32_t n;
    char flag = 'm';
    if (may_be_none) { flag = **p; *p += 1; }
    memcpy(&n, *p, sizeof n);
    *p += sizeof n;
    if (flag == 'n') { Py_INCREF(Py_None); return Py_None; }
    PyObject *out = PyBytes_FromStringAndSize(*p, n);
    *p += n;
    return out;
}

/* table column `column` into dicts, the dict of a cell being dicts[index[cell group]] (index NULL: the
   group itself); values: counters, or [count, first, last] with errors (cells where count > 0) */
static int emit(const Table *t, PyObject *dicts, int column, int errors) {
    for (size_t i = 0; i < t->cap; i++) {
        const Cell *cell = &t->cells[i];
        if (!cell->used || (column == 1 && cell->v[1] == 0)) continue;
        PyObject *value = errors ? Py_BuildValue("[LLL]", cell->v[1], cell->v[2], cell->v[3])
                                 : PyLong_FromLongLong(cell->v[column]);
        PyObject *key = PyLong_FromLongLong(cell->key);
        int rc = value && key ? PyDict_SetItem(PyList_GetItem(dicts, cell->group), key, value) : -1;
        Py_XDECREF(value);
        Py_XDECREF(key);
        if (rc < 0) return 0;
    }
    return 1;
}

static PyObject *dict_list(size_t n) {
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list != NULL && i < n; i++) {
        PyObject *dict = PyDict_New();
        if (dict == NULL) { Py_CLEAR(list); break; }
        PyList_SetItem(list, (Py_ssize_t)i, dict);
    }
    return list;
}

static PyObject *group_object(const Tally *t, size_t index, PyObject *tables) {
    const Group *g = &t->groups.groups[index];
    const char *p = t->groups.keys.data + g->key_start;
    PyObject *vhost = key_part(&p, 0);
    PyObject *method = key_part(&p, 1);
    PyObject *tpl = key_part(&p, 0);
    PyObject *low = g->dcount ? PyLong_FromLongLong(g->dmin) : (Py_INCREF(Py_None), Py_None);
    PyObject *high = g->dcount ? PyLong_FromLongLong(g->dmax) : (Py_INCREF(Py_None), Py_None);
    if (vhost == NULL || method == NULL || tpl == NULL || low == NULL || high == NULL) {
        Py_XDECREF(vhost); Py_XDECREF(method); Py_XDECREF(tpl); Py_XDECREF(low); Py_XDECREF(high);
        return NULL;
    }
    PyObject *d[4];
    for (int k = 0; k < 4; k++) d[k] = PyList_GetItem(PyTuple_GetItem(tables, k), (Py_ssize_t)index);
    return Py_BuildValue("(NNNL(LLLLLL)LLLLNNLLOOOO(LL))", vhost, method, tpl, g->requests,
                         g->status[0], g->status[1], g->status[2], g->status[3], g->status[4], g->status[5],
                         g->bytes, g->dcount, g->dsum, g->dzero, low, high, g->first, g->last,
                         d[0], d[1], d[2], d[3], g->first_job, g->first_line);
}

/* the vhost timelines: [(vhost, {minute: requests}, {minute: 5xx})] */
static PyObject *vhosts_object(const Tally *t) {
    size_t n = t->vhosts.count;
    PyObject *requests = dict_list(n), *errors = dict_list(n), *out = NULL;
    if (!requests || !errors || !emit(&t->minutes, requests, 0, 0) || !emit(&t->minutes, errors, 1, 0)) goto done;
    out = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; out != NULL && i < n; i++) {
        const char *p = t->vhosts.keys.data + t->vhosts.groups[i].key_start;
        PyObject *vhost = key_part(&p, 0);
        PyObject *item = vhost ? Py_BuildValue("(NOO)", vhost, PyList_GetItem(requests, (Py_ssize_t)i),
                                               PyList_GetItem(errors, (Py_ssize_t)i)) : NULL;
        if (item == NULL) { Py_CLEAR(out); break; }
        PyList_SetItem(out, (Py_ssize_t)i, item);
    }
done:
    Py_XDECREF(requests);
    Py_XDECREF(errors);
    return out;
}

/* the host-moved counts: [(vhost, raw Host, {minute: requests})] */
static PyObject *hosts_object(const Tally *t) {
    size_t n = t->pairs.count;
    PyObject *minutes = dict_list(n), *out = NULL;
    if (!minutes || !emit(&t->hosts, minutes, 0, 0)) goto done;
    out = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; out != NULL && i < n; i++) {
        const char *p = t->pairs.keys.data + t->pairs.groups[i].key_start;
        uint32_t vid;
        memcpy(&vid, p, sizeof vid);
        p += sizeof vid;
        const char *v = t->vhosts.keys.data + t->vhosts.groups[vid].key_start;
        PyObject *vhost = key_part(&v, 0);
        PyObject *host = key_part(&p, 0);
        PyObject *item = vhost && host ? Py_BuildValue("(NNO)", vhost, host, PyList_GetItem(minutes, (Py_ssize_t)i)) : NULL;
        if (item == NULL) {
            if (!(vhost && host)) { Py_XDECREF(vhost); Py_XDECREF(host); }
            Py_CLEAR(out);
            break;
        }
        PyList_SetItem(out, (Py_ssize_t)i, item);
    }
done:
    Py_XDECREF(minutes);
    return out;
}

static PyObject *deferred_object(const Tally *t) {
    size_t count = t->deferred.len / (3 * sizeof(long long));
    PyObject *deferred = PyList_New((Py_ssize_t)count);
    for (size_t i = 0; deferred != NULL && i < count; i++) {
        long long v[3];
        memcpy(v, t->deferred.data + i * sizeof v, sizeof v);
        PyObject *item = Py_BuildValue("(LLL)", v[0], v[1], v[2]);
        if (item == NULL) { Py_CLEAR(deferred); break; }
        PyList_SetItem(deferred, (Py_ssize_t)i, item);
    }
    return deferred;
}

static const char CAPSULE[] = "vhostguard.logs._scan.Tally";

static void tally_destroy(PyObject *capsule) {
    Tally *t = PyCapsule_GetPointer(capsule, CAPSULE);
    if (t != NULL) tally_free(t);
}

/* the Tally of a capsule, marked busy (one user at a time: the caller's threads each own one) */
static Tally *take(PyObject *capsule) {
    Tally *t = PyCapsule_GetPointer(capsule, CAPSULE);
    if (t == NULL) return NULL;
    if (t->busy) { PyErr_SetString(PyExc_RuntimeError, "this tally is in use by another thread"); return NULL; }
    if (t->failed) { PyErr_SetString(PyExc_MemoryError, "this tally ran out of memory"); return NULL; }
    if (t->merged) { PyErr_SetString(PyExc_RuntimeError, "this tally was merged into another"); return NULL; }
    t->busy = 1;
    return t;
}

static PyObject *tally_new(PyObject *self, PyObject *args) {
    (void)self;
    double sketch_mult, latency_mult;
    long long step, max_cells, max_vhosts, max_templates, max_pairs;
    PyObject *methods;
    if (!PyArg_ParseTuple(args, "ddLLLLLO!", &sketch_mult, &latency_mult, &step, &max_cells, &max_vhosts,
                          &max_templates, &max_pairs, &PyTuple_Type, &methods))
        return NULL;
    if (step < MINUTE || step % MINUTE != 0) { PyErr_SetString(PyExc_ValueError, "step must be a multiple of 60"); return NULL; }
    if (max_cells < 1 || max_vhosts < 1 || max_templates < 1 || max_pairs < 1) {
        PyErr_SetString(PyExc_ValueError, "caps must be positive");
        return NULL;
    }
    Tally *t = calloc(1, sizeof *t);
    if (t == NULL) return PyErr_NoMemory();
    t->sketch_mult = sketch_mult;
    t->latency_mult = latency_mult;
    t->step = step;
    t->max_cells = (size_t)max_cells;
    t->max_vhosts = max_vhosts;
    t->max_templates = max_templates;
    t->max_pairs = max_pairs;
    for (Py_ssize_t i = 0; i < PyTuple_Size(methods); i++) {
        char *name;
        Py_ssize_t n;
        if (PyBytes_AsStringAndSize(PyTuple_GetItem(methods, i), &name, &n) < 0) { tally_free(t); return NULL; }
        buf_u32(&t->methods, (uint32_t)n);
        buf_put(&t->methods, name, (size_t)n);
    }
    if (t->methods.failed) { tally_free(t); return PyErr_NoMemory(); }
    PyObject *capsule = PyCapsule_New(t, CAPSULE, tally_destroy);
    if (capsule == NULL) tally_free(t);
    return capsule;
}

static PyObject *tally_scan(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *capsule, *items;
    Py_buffer data;
    long long job;
    if (!PyArg_ParseTuple(args, "OO!y*L", &capsule, &PyTuple_Type, &items, &data, &job)) return NULL;
    Spec spec;
    Tally *t = parse_spec(items, &spec) ? take(capsule) : NULL;
    if (t == NULL) { PyBuffer_Release(&data); return NULL; }
    t->job = job;
    /* items are immutable bytes held by our caller's references, and data is held by the buffer
       (a bytes object, or a read-only mmap that cannot close while exported), while the GIL is released */
    Py_BEGIN_ALLOW_THREADS
    scan_lines(t, &spec, data.buf, (size_t)data.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    t->busy = 0;
    if (t->failed) return PyErr_NoMemory();
    PyObject *deferred = deferred_object(t);
    return deferred ? Py_BuildValue("(LN)", t->block_lines, deferred) : NULL;
}

/* the tally of (tally, step) arguments, taken, with a step that is a multiple of its own */
static Tally *take_at_step(PyObject *args, long long *step) {
    PyObject *capsule;
    if (!PyArg_ParseTuple(args, "OL", &capsule, step)) return NULL;
    Tally *t = take(capsule);
    if (t != NULL && (*step < t->step || *step % t->step != 0)) {
        t->busy = 0;
        PyErr_SetString(PyExc_ValueError, "step must be a multiple of the tally's");
        return NULL;
    }
    return t;
}

/* the series cells (buckets + latency) the tally would hold at `step`, counted, not stored */
static PyObject *tally_cells(PyObject *self, PyObject *args) {
    (void)self;
    long long step;
    Tally *t = take_at_step(args, &step);
    if (t == NULL) return NULL;
    int ok = flush_all(t, 0);
    Table cells = {0};
    int64_t none[4] = {0, 0, INT64_MAX, INT64_MIN};
    for (size_t i = 0; ok && i < t->buckets.cap; i++) {
        const Cell *c = &t->buckets.cells[i];
        if (c->used) ok = add_bucket_cell(&cells, c->group, bucket_at(c->key, step), none);
    }
    size_t buckets = cells.count;
    free(cells.cells);
    memset(&cells, 0, sizeof cells);
    for (size_t i = 0; ok && i < t->latency.cap; i++) {
        const Cell *c = &t->latency.cells[i];
        if (c->used) ok = add_count(&cells, c->group, latency_at(c->key, step), 0);
    }
    size_t count = buckets + cells.count;
    free(cells.cells);
    t->busy = 0;
    return ok ? PyLong_FromSize_t(count) : PyErr_NoMemory();
}

/* the seconds per bucket of the tally's series */
static PyObject *tally_step(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *capsule;
    if (!PyArg_ParseTuple(args, "O", &capsule)) return NULL;
    Tally *t = PyCapsule_GetPointer(capsule, CAPSULE);
    return t == NULL ? NULL : PyLong_FromLongLong(t->step);
}

/* the tally's series at `step` (a multiple of its step) */
static PyObject *tally_coarsen(PyObject *self, PyObject *args) {
    (void)self;
    long long step;
    Tally *t = take_at_step(args, &step);
    if (t == NULL) return NULL;
    int ok = step == t->step || coarsen(t, step);
    t->busy = 0;
    if (!ok) { t->failed = 1; return PyErr_NoMemory(); }
    Py_RETURN_NONE;
}

static PyObject *tally_merge(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *into, *from;
    if (!PyArg_ParseTuple(args, "OO", &into, &from)) return NULL;
    if (into == from) { PyErr_SetString(PyExc_ValueError, "a tally cannot be added to itself"); return NULL; }
    Tally *t = take(into);
    if (t == NULL) return NULL;
    Tally *src = take(from);
    if (src == NULL) { t->busy = 0; return NULL; }
    int ok;
    Py_BEGIN_ALLOW_THREADS
    ok = tally_add(t, src);
    Py_END_ALLOW_THREADS
    t->busy = src->busy = 0;
    src->merged = 1;
    if (!ok) { t->failed = 1; return PyErr_NoMemory(); }
    Py_RETURN_NONE;
}

static PyObject *tally_result(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *capsule;
    if (!PyArg_ParseTuple(args, "O", &capsule)) return NULL;
    Tally *t = take(capsule);
    if (t == NULL) return NULL;
    int ok = flush_all(t, 1) && bound_cells(t) && !tally_failed(t);  /* the open buckets flushed count too */
    t->busy = 0;
    if (!ok) { t->failed = 1; return PyErr_NoMemory(); }
    size_t n = t->groups.count;
    PyObject *tables = PyTuple_New(4), *groups = PyList_New((Py_ssize_t)n), *vhosts = NULL, *hosts = NULL, *out = NULL;
    if (!tables || !groups) goto done;
    for (int k = 0; k < 4; k++) {
        PyObject *dicts = dict_list(n);
        if (!dicts) goto done;
        PyTuple_SetItem(tables, k, dicts);
    }
    if (!emit(&t->buckets, PyTuple_GetItem(tables, 0), 0, 0) || !emit(&t->buckets, PyTuple_GetItem(tables, 1), 1, 1)
        || !emit(&t->latency, PyTuple_GetItem(tables, 2), 0, 0) || !emit(&t->sketch, PyTuple_GetItem(tables, 3), 0, 0))
        goto done;
    for (size_t i = 0; i < n; i++) {
        PyObject *g = group_object(t, i, tables);
        if (g == NULL) goto done;
        PyList_SetItem(groups, (Py_ssize_t)i, g);
    }
    vhosts = vhosts_object(t);
    hosts = vhosts ? hosts_object(t) : NULL;
    if (hosts == NULL) goto done;
    out = Py_BuildValue("(LOOOLL)", t->lines, groups, vhosts, hosts, t->step, t->folded);
done:
    Py_XDECREF(tables); Py_XDECREF(groups); Py_XDECREF(vhosts); Py_XDECREF(hosts);
    return out;
}

static PyObject *template_path(PyObject *self, PyObject *args) {
    (void)self;
    const char *path;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "y#", &path, &n)) return NULL;
    Buf out = {0};
    const char *question = memchr(path, '?', (size_t)n);
    auto_template(&out, path, question ? (size_t)(question - path) : (size_t)n);
    if (out.failed) { free(out.data); return PyErr_NoMemory(); }
    PyObject *result = PyBytes_FromStringAndSize(out.data ? out.data : "", (Py_ssize_t)out.len);
    free(out.data);
    return result;
}

/* --- Parquet columns (logs/parquet.py) ------------------------------------------------------------
 *
 * parquet_columns(spec, data, outputs) reads the lines of ``data`` as scan does (read_line_marks: the
 * same strictness) and returns, for the lines it is sure of, Arrow column buffers that pyarrow wraps
 * without a per-line object or a copy (pa.foreign_buffer; a capsule owns each buffer and frees it when
 * Arrow drops it): per column (null count, validity bitmap or None when no nulls, buffers...), text
 * with int32 offsets and the bytes, numbers with int64 values; the last column is the rows' line
 * numbers (1-based, in the block). ``outputs`` has one code per item of the spec (PQ_*; PQ_SKIP for
 * literals). Text values are unescaped as escapes.unescape does; a line it is not sure of (what scan
 * defers, an escape httpd never writes or escaped bytes that are not UTF-8 in a text value, an escape
 * other than \" and \\ in a request line, a status beyond int16) is deferred: (line number, start,
 * end), for the Python parser. */

enum {
    PQ_SKIP = 0,     /* not a column */
    PQ_TEXT = 1,     /* text; '-' is null */
    PQ_INT = 2,      /* number; '-' is null */
    PQ_INT_CLF = 3,  /* %b: '-' is 0 */
    PQ_DURATION = 4, /* number times the field's scale; '-' is null */
    PQ_REQUEST = 5,  /* %r: request_line, method, path, query, protocol, endpoint template (six columns) */
    PQ_TIME = 6,     /* %t: microseconds since the epoch, UTC */
    PQ_INT16 = 7     /* a status: '-' is null; beyond int16 the line is deferred */
};

typedef struct {
    int text;
    long long rows;   /* rows added */
    long long nulls;
    Buf valid;        /* Arrow's validity bitmap (bit r: row r is not null), zeroed, sized once per block */
    Buf offsets;      /* text: int32 offsets (rows + 1), sized once per block */
    Buf data;         /* text: the bytes (grows); numbers: int64 values, sized once per block */
} PqColumn;

#define PQ_MAX_COLUMNS (MAX_ITEMS * 6)

/* room for n bytes in b, allocated once (the per-row arrays of a block: their size is known) */
static void pq_reserve(Buf *b, size_t n) {
    if (b->failed || n <= b->cap) return;
    char *grown = realloc(b->data, n);
    if (!grown) { b->failed = 1; return; }
    b->data = grown;
    b->cap = n;
}

/* room for n more bytes of text: 0 when memory ran out (b->failed) */
static int pq_more(Buf *b, size_t n) {
    if (b->failed) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n) cap *= 2;
    pq_reserve(b, cap);
    return !b->failed;
}

/* the row's value ends here: the text column's bytes so far are its value's (valid) or it is null */
static inline void pq_end(PqColumn *c, int valid) {
    if (valid) c->valid.data[c->rows >> 3] |= (char)(1u << (c->rows & 7));
    else c->nulls++;
    c->rows++;
    ((int32_t *)c->offsets.data)[c->rows] = (int32_t)c->data.len;
}

static inline void pq_text(PqColumn *c, const char *s, size_t n, int valid) {
    if (valid && n) {
        if (c->data.len + n > c->data.cap && !pq_more(&c->data, n)) return;
        memcpy(c->data.data + c->data.len, s, n);
        c->data.len += n;
    }
    pq_end(c, valid);
}

static inline void pq_number(PqColumn *c, long long value, int valid) {
    ((int64_t *)c->data.data)[c->rows] = valid ? (int64_t)value : 0;
    if (valid) c->valid.data[c->rows >> 3] |= (char)(1u << (c->rows & 7));
    else c->nulls++;
    c->rows++;
}

/* ``GET /p?q HTTP/1.1`` as format._split_request splits it, and the path's template (endpoints) */
static void pq_request(PqColumn *c, const char *s, size_t n) {
    if (n == 1 && s[0] == '-') {
        for (int k = 0; k < 5; k++) pq_end(&c[k], 0);
        pq_text(&c[5], "-", 1, 1);
        return;
    }
    pq_text(&c[0], s, n, 1);
    const char *end = s + n, *space = memchr(s, ' ', n);
    if (space == NULL) {  /* not a request line */
        for (int k = 1; k < 5; k++) pq_end(&c[k], 0);
        pq_text(&c[5], "-", 1, 1);
        return;
    }
    pq_text(&c[1], s, (size_t)(space - s), 1);
    const char *rest = space + 1, *last = NULL;
    for (const char *q = end; q > rest; q--) if (q[-1] == ' ') { last = q - 1; break; }
    const char *target_end = last ? last : end;
    const char *question = memchr(rest, '?', (size_t)(target_end - rest));
    const char *path_end = question ? question : target_end;
    pq_text(&c[2], rest, (size_t)(path_end - rest), 1);
    pq_text(&c[3], question ? question + 1 : NULL, question ? (size_t)(target_end - question - 1) : 0, question != NULL);
    pq_text(&c[4], last ? last + 1 : NULL, last ? (size_t)(end - last - 1) : 0, last != NULL);
    if (path_end == rest) { pq_text(&c[5], "-", 1, 1); return; }
    auto_template(&c[5].data, rest, (size_t)(path_end - rest));  /* straight into the column's bytes */
    if (!c[5].data.failed) pq_end(&c[5], 1);
}

/* httpd's \" and \\ (the escapes of a quoted value that stays ASCII): 1 when every backslash of [s, e) is one */
static int pq_simple_escapes(const char *s, const char *e) {
    for (const char *q = memchr(s, '\\', (size_t)(e - s)); q != NULL; q = memchr(q, '\\', (size_t)(e - q))) {
        if (q + 1 >= e || (q[1] != '"' && q[1] != '\\')) return 0;
        q += 2;
        if (q >= e) break;
    }
    return 1;
}

static int pq_hex(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* 1 when [s, e) is UTF-8 as Python's strict decoder takes it (no overlong form, no surrogate, <= U+10FFFF) */
static int pq_utf8(const unsigned char *s, const unsigned char *e) {
    while (s < e) {
        unsigned char c = *s;
        if (c < 0x80) { s++; continue; }
        int more;
        unsigned char low = 0x80, high = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) more = 1;
        else if (c == 0xE0) { more = 2; low = 0xA0; }
        else if (c == 0xED) { more = 2; high = 0x9F; }
        else if (c >= 0xE1 && c <= 0xEF) more = 2;
        else if (c == 0xF0) { more = 3; low = 0x90; }
        else if (c == 0xF4) { more = 3; high = 0x8F; }
        else if (c >= 0xF1 && c <= 0xF3) more = 3;
        else return 0;
        if (e - s <= more || s[1] < low || s[1] > high) return 0;
        for (int k = 2; k <= more; k++) if (s[k] < 0x80 || s[k] > 0xBF) return 0;
        s += more + 1;
    }
    return 1;
}

/* [s, e) with every escape httpd writes undone (ap_escape_logitem: \b \n \r \t \v \\ \" \xhh), into out: what
   escapes.unescape gives when the bytes are UTF-8. 0 for an escape httpd never writes or bytes that are not
   UTF-8 (Python shows those as \xhh: the line is left to it). */
static int pq_unescape_all(Buf *out, const char *s, const char *e) {
    out->len = 0;
    while (s < e) {
        const char *q = memchr(s, '\\', (size_t)(e - s));
        if (q == NULL) { buf_put(out, s, (size_t)(e - s)); break; }
        buf_put(out, s, (size_t)(q - s));
        if (q + 1 >= e) return 0;
        char c;
        switch (q[1]) {
        case 'b': c = '\b'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'v': c = '\v'; break;
        case '\\': c = '\\'; break;
        case '"': c = '"'; break;
        case 'x': {
            int hi = e - q >= 4 ? pq_hex(q[2]) : -1, lo = hi >= 0 ? pq_hex(q[3]) : -1;
            if (lo < 0) return 0;
            c = (char)(hi * 16 + lo);
            buf_put(out, &c, 1);
            s = q + 4;
            continue;
        }
        default: return 0;
        }
        buf_put(out, &c, 1);
        s = q + 2;
    }
    return !out->failed && pq_utf8((const unsigned char *)(out->data ? out->data : ""),
                                   (const unsigned char *)(out->data ? out->data + out->len : ""));
}

/* whether the kept values of a read line can be written by this code (escapes it undoes, numbers in range) */
static int pq_plain(const Spec *spec, const int *outputs, const char **marks, int backslash, Buf *scratch,
                    char *escaped) {
    for (int i = 0; i < spec->count; i++) {
        if (!spec->items[i].is_field) continue;
        int out = outputs[i];
        const char *s = marks[2 * i], *e = marks[2 * i + 1];
        escaped[i] = backslash && (out == PQ_TEXT || out == PQ_REQUEST) && spec->items[i].escaped
                     && memchr(s, '\\', (size_t)(e - s)) != NULL;
        if (!escaped[i]) continue;
        /* a text value takes every escape httpd writes; the request only \" and \\ (a decoded space or byte
           could move where its parts end, or what a path template's character classes see) */
        if (out == PQ_TEXT && !pq_unescape_all(scratch, s, e)) return 0;
        if (out == PQ_REQUEST && !pq_simple_escapes(s, e)) return 0;
        if (out == PQ_INT16) {
            const char *after; long long value = 0; int dash = 0;
            if (!number(s, e, &after, &value, &dash, 0) || (!dash && value >= 32768)) return 0;
        }
    }
    return 1;
}

static void pq_add(const Spec *spec, const int *outputs, const char **marks, const char *escaped, const Line *line,
                   PqColumn *cols, Buf *scratch) {
    int k = 0;
    for (int i = 0; i < spec->count; i++) {
        const Item *item = &spec->items[i];
        if (!item->is_field || outputs[i] == PQ_SKIP) continue;
        const char *s = marks[2 * i], *e = marks[2 * i + 1];
        const char *after; long long value = 0; int dash = 0;
        if (escaped[i]) {
            pq_unescape_all(scratch, s, e);  /* pq_plain took it (a request: \" and \\ only) */
            s = scratch->data; e = s + scratch->len;
        }
        size_t n = (size_t)(e - s);
        switch (outputs[i]) {
        case PQ_TEXT: pq_text(&cols[k++], s, n, !(n == 1 && s[0] == '-')); break;
        case PQ_REQUEST: pq_request(&cols[k], s, n); k += 6; break;
        case PQ_TIME: pq_number(&cols[k++], line->epoch * 1000000LL, 1); break;
        default:  /* numbers: read_line took them, so number() does */
            number(s, e, &after, &value, &dash, 0);
            if (outputs[i] == PQ_INT_CLF) pq_number(&cols[k++], dash ? 0 : value, 1);
            else pq_number(&cols[k++], outputs[i] == PQ_DURATION ? value * item->scale : value, !dash);
        }
    }
}

static int pq_count(const Spec *spec, const int *outputs) {
    int k = 0;
    for (int i = 0; i < spec->count; i++)
        if (spec->items[i].is_field && outputs[i] != PQ_SKIP) k += outputs[i] == PQ_REQUEST ? 6 : 1;
    return k;
}

/* the per-row arrays of ncols columns and the line numbers (cols[ncols]) for ``most`` rows; 0 without memory */
static int pq_size(PqColumn *cols, int ncols, size_t most) {
    int failed = 0;
    for (int k = 0; k <= ncols; k++) {
        pq_reserve(&cols[k].valid, (most + 7) / 8 + 1);
        pq_reserve(&cols[k].offsets, cols[k].text ? (most + 1) * sizeof(int32_t) : 0);
        pq_reserve(&cols[k].data, cols[k].text ? 4096 : most * sizeof(int64_t));  /* text grows as it comes */
        failed |= cols[k].valid.failed | cols[k].offsets.failed | cols[k].data.failed;
        if (failed) break;
        memset(cols[k].valid.data, 0, cols[k].valid.cap);
        if (cols[k].text) ((int32_t *)cols[k].offsets.data)[0] = 0;
    }
    return !failed;
}

static int pq_scan(const Spec *spec, const int *outputs, const char *data, size_t size, PqColumn *cols, int ncols,
                   Buf *deferred, long long *lines, long long *rows) {
    const char *marks[2 * MAX_ITEMS];
    char escaped[MAX_ITEMS];  /* per item: a kept text value holding a backslash (pq_plain) */
    Buf scratch = {0};
    size_t start = 0, most = 1;  /* lines in data, at most */
    for (const char *q = data; (q = memchr(q, '\n', size - (size_t)(q - data))) != NULL; q++) most++;
    if (!pq_size(cols, ncols, most)) return 0;
    while (start < size) {
        const char *nl = memchr(data + start, '\n', size - start);
        size_t stop = nl ? (size_t)(nl - data) : size;
        ++*lines;
        const char *p = data + start, *e = data + stop;
        if (e > p && e[-1] == '\r') e--;  /* as the Python reader: the CR of a CRLF is not data */
        Line line;
        if ((size_t)(e - p) <= MAX_SCAN_LINE && printable(p, e) && read_line_marks(spec, p, e, &line, marks)
            && pq_plain(spec, outputs, marks, memchr(p, '\\', (size_t)(e - p)) != NULL, &scratch, escaped)) {
            pq_add(spec, outputs, marks, escaped, &line, cols, &scratch);
            pq_number(&cols[ncols], *lines, 1);  /* the line number, in the block */
            ++*rows;
        } else {
            long long triple[3] = {*lines, (long long)start, (long long)stop};
            buf_put(deferred, (const char *)triple, sizeof triple);
        }
        start = stop + 1;
    }
    free(scratch.data);
    int failed = deferred->failed | scratch.failed;
    for (int k = 0; k <= ncols; k++) failed |= cols[k].data.failed | (cols[k].rows != *rows);
    return !failed;
}

#define PQ_CAPSULE "vhostguard._scan.parquet_buffer"

static void pq_free(PyObject *capsule) { free(PyCapsule_GetPointer(capsule, PQ_CAPSULE)); }

/* (address, size, owner) of b's bytes, handed over without a copy: the owner (a capsule) frees them; b is emptied */
static PyObject *pq_buffer(Buf *b, size_t size) {
    if (b->data == NULL && (b->data = malloc(1)) == NULL) return PyErr_NoMemory();
    PyObject *owner = PyCapsule_New(b->data, PQ_CAPSULE, pq_free);
    if (owner == NULL) return NULL;
    PyObject *out = Py_BuildValue("(KnN)", (unsigned long long)(uintptr_t)b->data, (Py_ssize_t)size, owner);
    b->data = NULL;  /* the capsule has it (and frees it when out could not be built) */
    b->len = b->cap = 0;
    return out;
}

/* per column (null count, validity or None, buffers...), each buffer (address, size, owner) for pa.foreign_buffer */
static PyObject *pq_result(PqColumn *cols, int ncols, const Buf *deferred, long long lines, long long rows) {
    PyObject *list = PyList_New(ncols);
    if (list == NULL) return NULL;
    for (int k = 0; k < ncols; k++) {
        PqColumn *c = &cols[k];
        PyObject *valid = c->nulls ? pq_buffer(&c->valid, (size_t)(rows + 7) / 8) : Py_NewRef(Py_None);
        PyObject *item = valid == NULL ? NULL
            : c->text ? Py_BuildValue("(LNNN)", c->nulls, valid, pq_buffer(&c->offsets, (size_t)(rows + 1) * sizeof(int32_t)),
                                      pq_buffer(&c->data, c->data.len))
                      : Py_BuildValue("(LNN)", c->nulls, valid, pq_buffer(&c->data, (size_t)rows * sizeof(int64_t)));
        if (item == NULL) { Py_DECREF(list); return NULL; }
        PyList_SetItem(list, k, item);
    }
    return Py_BuildValue("(LLNy#)", lines, rows, list, deferred->data ? deferred->data : "", (Py_ssize_t)deferred->len);
}

static PyObject *parquet_columns(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *items, *data, *outputs_obj;
    if (!PyArg_ParseTuple(args, "O!O!O!", &PyTuple_Type, &items, &PyBytes_Type, &data, &PyTuple_Type, &outputs_obj)) return NULL;
    Spec spec;
    if (!parse_spec(items, &spec)) return NULL;
    if (PyTuple_Size(outputs_obj) != spec.count) { PyErr_SetString(PyExc_ValueError, "one output per spec item"); return NULL; }
    int outputs[MAX_ITEMS];
    for (int i = 0; i < spec.count; i++) {
        long code = PyLong_AsLong(PyTuple_GetItem(outputs_obj, i));
        if (code == -1 && PyErr_Occurred()) return NULL;
        if (code < PQ_SKIP || code > PQ_INT16 || (code != PQ_SKIP && !spec.items[i].is_field)) {
            PyErr_SetString(PyExc_ValueError, "bad output code");
            return NULL;
        }
        outputs[i] = (int)code;
    }
    int ncols = pq_count(&spec, outputs);
    PqColumn cols[PQ_MAX_COLUMNS + 1];  /* and the line numbers, last */
    memset(cols, 0, sizeof cols);
    for (int i = 0, k = 0; i < spec.count; i++) {
        if (!spec.items[i].is_field || outputs[i] == PQ_SKIP) continue;
        if (outputs[i] == PQ_REQUEST) { for (int j = 0; j < 6; j++) cols[k++].text = 1; }
        else cols[k++].text = outputs[i] == PQ_TEXT;
    }
    char *bytes;
    Py_ssize_t size;
    if (PyBytes_AsStringAndSize(data, &bytes, &size) < 0) return NULL;
    /* int32 offsets: a column's text is at most the block's, but a template up to 4 times its path's */
    if (size > INT32_MAX / 8) { PyErr_SetString(PyExc_ValueError, "block too large"); return NULL; }
    Buf deferred = {0};
    long long lines = 0, rows = 0;
    int done;
    Py_BEGIN_ALLOW_THREADS
    done = pq_scan(&spec, outputs, bytes, (size_t)size, cols, ncols, &deferred, &lines, &rows);
    Py_END_ALLOW_THREADS
    PyObject *out = !done ? PyErr_NoMemory() : pq_result(cols, ncols + 1, &deferred, lines, rows);
    for (int k = 0; k <= ncols; k++) { free(cols[k].valid.data); free(cols[k].offsets.data); free(cols[k].data.data); }
    free(deferred.data);
    return out;
}

/* --- watch cells (monitor/ingest.py) ------------------------------------------------------------
 *
 * What ``watch`` counts per line, for the lines the scanner is sure of (read_line: scan's strictness).
 *
 * watch_state(spec, bounds) -> a state (a capsule): the spec, the duration bounds (sorted microseconds) and
 * the groups (vhost, method, endpoint template) met so far, numbered in the order they were first met.
 *
 * watch_cells(state, data, offset, newest, stop_sec, strip_cr) reads the lines of ``data`` (each ended by
 * '\n'; with ``strip_cr`` a CR before the newline is dropped, as the Python reader drops it) from byte
 * ``offset`` on and counts, per cell (group, second, status): requests, requests with a duration, their sum,
 * and the durations' histogram at the bounds (bin i: bounds[i-1] < d <= bounds[i]; the last bin: above them
 * all). The cells stay in the state until watch_flush. It stops at the first line whose second is newer than
 * ``newest`` and at or after ``stop_sec`` (as LineFeeder.feed: the rules are evaluated before that line counts;
 * status 1), at the first line it is not sure of (status 2: the caller parses that line in Python), or at the
 * end (status 0).
 * It returns the groups first met in this call, and with a Host field the requests per (vhost, raw Host)
 * pair and second of this call, each pair with its last line (its index among the lines counted).
 *
 * watch_alias(state, aliases) counts the lines of each group of ``aliases`` (int64 pairs: group, group it is
 * counted as) as those of the other group, from the next line on: the caller labels groups, and many get the
 * same labels (an endpoint cap's {other}); their cells then stay few.
 *
 * watch_flush(state, max_groups) -> the cells in the order they were first met and their duration bins that
 * are not empty, as (cell, bin, count) triples in cell order, and empties them; when more than ``max_groups``
 * groups are known they are forgotten (numbering starts again: the caller's memo too).
 *
 * A state is used by one thread at a time (the watch loop); the GIL is released while lines are read. */

#define W_NO_STATUS ((1LL << 20) - 1)  /* a status of '-'; larger statuses go to Python */
#define W_MAX_BOUNDS 256
#define W_MAX_DURATION (1LL << 36)  /* microseconds (19 hours): a longer duration goes to Python */
#define W_CELL 6  /* int64 per cell: group, second, status (-1: none), requests, with a duration, duration sum */
#define W_MEMO 16384     /* entries of the memo (vhost, method, path as logged) -> group: most lines skip templating */
#define W_MEMO_KEY 112   /* bytes of such a key at most (a longer one is templated each time) */

typedef struct { uint64_t hash; uint32_t group; uint32_t len; char key[W_MEMO_KEY]; } WMemo;

typedef struct {
    PyObject *items;  /* the spec's tuple: its literals are read in place */
    Spec spec;
    int nbounds;
    int64_t bounds[W_MAX_BOUNDS];
    Groups groups;
    WMemo *memo;      /* W_MEMO entries, direct-mapped (NULL until the first line); len 0: empty */
    uint32_t *alias;  /* per group: the group its lines are counted as (itself unless watch_alias said) */
    size_t alias_cap;
    Table cells;      /* (group, second << 20 | status) -> v[0]: the cell's index */
    Buf rows;         /* W_CELL int64 per cell */
    Buf bins;         /* nbounds + 1 int64 per cell */
} WState;

typedef struct {
    Groups pairs;     /* (vhost, raw Host) of this call */
    Buf pair_last;    /* per pair: its last line (int64) */
    Table cells;      /* (pair, second) -> v[0]: the host cell's index */
    Buf rows;         /* per host cell: pair, second, requests (int64) */
} WHosts;

static const char *const W_CAPSULE = "vhostguard.logs._scan.watch_state";

static void w_groups_free(Groups *g) { free(g->groups); free(g->slots); free(g->keys.data); memset(g, 0, sizeof *g); }

static void w_cells_free(WState *w) {
    free(w->cells.cells); free(w->rows.data); free(w->bins.data);
    memset(&w->cells, 0, sizeof w->cells); memset(&w->rows, 0, sizeof w->rows); memset(&w->bins, 0, sizeof w->bins);
}

static void w_hosts_free(WHosts *h) {
    w_groups_free(&h->pairs); free(h->pair_last.data); free(h->cells.cells); free(h->rows.data);
}

static void w_state_free(PyObject *capsule) {
    WState *w = PyCapsule_GetPointer(capsule, W_CAPSULE);
    if (w == NULL) return;
    Py_XDECREF(w->items);
    w_groups_free(&w->groups);
    free(w->memo);
    free(w->alias);
    w_cells_free(w);
    free(w);
}

static int w_bin(const int64_t *bounds, int n, long long d) {
    int low = 0, high = n;  /* bisect_left */
    while (low < high) {
        int mid = (low + high) / 2;
        if (bounds[mid] < d) low = mid + 1; else high = mid;
    }
    return low;
}

/* the request's method and path (as add_line: logs.format._split_request, the method, then the target up to the
   last space); 0 when the line is Python's (an escape that could move the path's end, a status or a duration
   beyond what is kept here) */
static int w_accept(const Line *line, const char **method, size_t *method_len, const char **path, size_t *path_len) {
    *method = *path = NULL;
    *method_len = *path_len = 0;
    if (line->has_request && !(line->request_len == 1 && line->request[0] == '-')) {
        const char *s = line->request, *e = line->request + line->request_len;
        const char *sp = memchr(s, ' ', line->request_len);
        if (sp != NULL) {
            *method = s;
            *method_len = (size_t)(sp - s);
            const char *rest = sp + 1, *last = NULL;
            for (const char *c = e; c > rest; c--) if (c[-1] == ' ') { last = c - 1; break; }
            const char *target_end = last ? last : e;
            *path = rest;
            const char *question = memchr(rest, '?', (size_t)(target_end - rest));
            if (line->request_escaped && question == NULL) return 0;
            *path_len = (size_t)((question ? question : target_end) - rest);
        }
    }
    if (line->has_status && (line->status < 0 || line->status >= W_NO_STATUS)) return 0;
    if (line->has_duration && (line->duration < 0 || line->duration > W_MAX_DURATION)) return 0;
    return 1;
}

/* the group of (vhost, method, path) as logged: from the memo, else templated and looked up (and remembered) */
static long w_group(WState *w, const Line *line, const char *method, size_t method_len, const char *path,
                    size_t path_len, Buf *key, Buf *tpl) {
    size_t vlen = line->has_vhost ? line->vhost_len : 0;
    char raw[W_MEMO_KEY];
    size_t n = 0;
    WMemo *slot = NULL;
    uint64_t hash = 0;
    /* the key as logged: three length-prefixed parts (a length of 0xffff: not logged) */
    if (vlen + method_len + path_len + 6 <= W_MEMO_KEY) {
        uint16_t lens[3] = {line->has_vhost ? (uint16_t)vlen : 0xffff, method ? (uint16_t)method_len : 0xffff,
                            path ? (uint16_t)path_len : 0xffff};
        memcpy(raw, lens, sizeof lens);
        n = sizeof lens;
        if (vlen) { memcpy(raw + n, line->vhost, vlen); n += vlen; }
        if (method_len) { memcpy(raw + n, method, method_len); n += method_len; }
        if (path_len) { memcpy(raw + n, path, path_len); n += path_len; }
        if (w->memo == NULL && (w->memo = calloc(W_MEMO, sizeof(WMemo))) == NULL) return -1;
        hash = hash_bytes(raw, n);
        slot = &w->memo[hash & (W_MEMO - 1)];
        if (slot->len == n && slot->hash == hash && memcmp(slot->key, raw, n) == 0) return (long)slot->group;
    }
    tpl->len = 0;
    if (path == NULL) buf_put(tpl, "-", 1);
    else auto_template(tpl, path, path_len);
    key->len = 0;
    buf_put(key, line->has_vhost ? "m" : "n", 1);
    buf_u32(key, (uint32_t)vlen);
    if (vlen) buf_put(key, line->vhost, vlen);
    buf_put(key, method ? "m" : "n", 1);
    buf_u32(key, (uint32_t)method_len);
    if (method_len) buf_put(key, method, method_len);
    buf_u32(key, (uint32_t)tpl->len);
    buf_put(key, tpl->data, tpl->len);
    if (key->failed || tpl->failed) return -1;
    long gid = groups_find(&w->groups, key->data, key->len);
    if (gid >= 0 && slot != NULL) {
        slot->hash = hash;
        slot->group = (uint32_t)gid;
        slot->len = (uint32_t)n;
        memcpy(slot->key, raw, n);
    }
    return gid;
}

/* count one line: 1 counted, 2 the line is Python's (nothing counted), 0 out of memory */
static int w_add(WState *w, WHosts *h, const Line *line, const char *method, size_t method_len, const char *path,
                 size_t path_len, long long index, Buf *key, Buf *tpl) {
    long long status = line->has_status ? line->status : W_NO_STATUS;
    size_t vlen = line->has_vhost ? line->vhost_len : 0;
    long gid = w_group(w, line, method, method_len, path, path_len, key, tpl);
    if (gid < 0) return 0;
    if ((size_t)gid >= w->alias_cap) {
        size_t cap = w->alias_cap ? w->alias_cap * 2 : 1024;
        while (cap <= (size_t)gid) cap *= 2;
        uint32_t *grown = realloc(w->alias, cap * sizeof(uint32_t));
        if (grown == NULL) return 0;
        for (size_t k = w->alias_cap; k < cap; k++) grown[k] = (uint32_t)k;
        w->alias = grown;
        w->alias_cap = cap;
    }
    gid = (long)w->alias[gid];
    int created;
    Cell *c = table_get(&w->cells, (uint32_t)gid, (int64_t)(((uint64_t)line->epoch << 20) | (uint64_t)status), &created);
    if (c == NULL) return 0;
    size_t nb = (size_t)w->nbounds + 1;
    if (created) {
        c->v[0] = (int64_t)(w->rows.len / (W_CELL * sizeof(int64_t)));
        int64_t fresh[W_CELL] = {gid, line->epoch, status == W_NO_STATUS ? -1 : status, 0, 0, 0};
        buf_put(&w->rows, (const char *)fresh, sizeof fresh);
        for (size_t k = 0; k < nb; k++) { int64_t zero = 0; buf_put(&w->bins, (const char *)&zero, sizeof zero); }
        if (w->rows.failed || w->bins.failed) return 0;
    }
    int64_t *row = (int64_t *)w->rows.data + W_CELL * c->v[0];
    int64_t sum;
    if (line->has_duration && __builtin_add_overflow(row[5], line->duration, &sum))
        return 2;  /* a sum beyond int64 (never with real logs): this line is Python's, nothing counted */
    row[3]++;
    if (line->has_duration) {
        row[4]++;
        row[5] = sum;
        ((int64_t *)w->bins.data)[nb * (size_t)c->v[0] + (size_t)w_bin(w->bounds, w->nbounds, line->duration)]++;
    }
    if (line->has_host) {
        key->len = 0;
        buf_put(key, line->has_vhost ? "m" : "n", 1);
        buf_u32(key, (uint32_t)vlen);
        if (vlen) buf_put(key, line->vhost, vlen);
        buf_u32(key, (uint32_t)line->host_len);
        buf_put(key, line->host, line->host_len);
        if (key->failed) return 0;
        long pid = groups_find(&h->pairs, key->data, key->len);
        if (pid < 0) return 0;
        if ((size_t)pid * sizeof(int64_t) == h->pair_last.len) {
            int64_t zero = 0;
            buf_put(&h->pair_last, (const char *)&zero, sizeof zero);
            if (h->pair_last.failed) return 0;
        }
        ((int64_t *)h->pair_last.data)[pid] = index;
        Cell *hc = table_get(&h->cells, (uint32_t)pid, line->epoch, &created);
        if (hc == NULL) return 0;
        if (created) {
            hc->v[0] = (int64_t)(h->rows.len / (3 * sizeof(int64_t)));
            int64_t fresh[3] = {pid, line->epoch, 0};
            buf_put(&h->rows, (const char *)fresh, sizeof fresh);
            if (h->rows.failed) return 0;
        }
        ((int64_t *)h->rows.data)[3 * hc->v[0] + 2]++;
    }
    return 1;
}

/* reads the lines of data from *offset on until a stop; returns the status (0 end, 1 boundary, 2 a line for
   Python, -1 out of memory) and leaves *offset at the start of the first line not counted */
static int w_scan(WState *w, WHosts *h, const char *data, size_t size, size_t *offset, long long *newest,
                  long long stop_sec, int strip_cr, long long *consumed) {
    Buf key = {0}, tpl = {0};
    int status = 0;
    size_t start = *offset;
    while (start < size) {
        const char *nl = memchr(data + start, '\n', size - start);
        size_t stop = nl ? (size_t)(nl - data) : size;
        const char *p = data + start, *e = data + stop;
        if (strip_cr && e > p && e[-1] == '\r') e--;
        Line line;
        const char *method, *path;
        size_t method_len, path_len;
        if (!((size_t)(e - p) <= MAX_SCAN_LINE && printable(p, e) && read_line(&w->spec, p, e, &line)
              && w_accept(&line, &method, &method_len, &path, &path_len))) {
            status = 2;
            break;
        }
        if (line.epoch > *newest) {
            /* as LineFeeder.feed: the newest second moves, and a line of a second the rules wait for stops */
            *newest = line.epoch;
            if (line.epoch >= stop_sec) { status = 1; break; }
        }
        int added = w_add(w, h, &line, method, method_len, path, path_len, *consumed, &key, &tpl);
        if (added != 1) { status = added == 2 ? 2 : -1; break; }
        ++*consumed;
        start = stop + 1;
    }
    *offset = start < size ? start : size;
    free(key.data);
    free(tpl.data);
    return status;
}

static PyObject *w_key_list(const Groups *g, size_t from, int pairs) {
    PyObject *out = PyList_New((Py_ssize_t)(g->count - from));
    if (out == NULL) return NULL;
    for (size_t i = from; i < g->count; i++) {
        const char *p = g->keys.data + g->groups[i].key_start;
        PyObject *item;
        PyObject *vhost = key_part(&p, 1);
        if (pairs) {
            PyObject *host = key_part(&p, 0);
            item = vhost && host ? Py_BuildValue("(NN)", vhost, host) : NULL;
            if (item == NULL) { Py_XDECREF(vhost); Py_XDECREF(host); }
        } else {
            PyObject *method = key_part(&p, 1);
            PyObject *tpl = key_part(&p, 0);
            item = vhost && method && tpl ? Py_BuildValue("(NNN)", vhost, method, tpl) : NULL;
            if (item == NULL) { Py_XDECREF(vhost); Py_XDECREF(method); Py_XDECREF(tpl); }
        }
        if (item == NULL) { Py_DECREF(out); return NULL; }
        PyList_SetItem(out, (Py_ssize_t)(i - from), item);
    }
    return out;
}

static PyObject *watch_state(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *items, *bounds;
    if (!PyArg_ParseTuple(args, "O!O!", &PyTuple_Type, &items, &PyTuple_Type, &bounds)) return NULL;
    WState *w = calloc(1, sizeof *w);
    if (w == NULL) return PyErr_NoMemory();
    Py_ssize_t n = PyTuple_Size(bounds);
    if (!parse_spec(items, &w->spec)) { free(w); return NULL; }
    if (n < 0 || n > W_MAX_BOUNDS) { free(w); PyErr_SetString(PyExc_ValueError, "too many bounds"); return NULL; }
    for (Py_ssize_t i = 0; i < n; i++) {
        w->bounds[i] = PyLong_AsLongLong(PyTuple_GetItem(bounds, i));
        if ((w->bounds[i] == -1 && PyErr_Occurred()) || (i > 0 && w->bounds[i] <= w->bounds[i - 1])) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "bounds must increase");
            free(w);
            return NULL;
        }
    }
    w->nbounds = (int)n;
    Py_INCREF(items);
    w->items = items;
    PyObject *capsule = PyCapsule_New(w, W_CAPSULE, w_state_free);
    if (capsule == NULL) { Py_DECREF(items); free(w); }
    return capsule;
}

static PyObject *watch_cells(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *capsule, *data;
    Py_ssize_t offset;
    long long newest, stop_sec;
    int strip_cr;
    if (!PyArg_ParseTuple(args, "OO!nLLp", &capsule, &PyBytes_Type, &data, &offset, &newest, &stop_sec, &strip_cr))
        return NULL;
    WState *w = PyCapsule_GetPointer(capsule, W_CAPSULE);
    if (w == NULL) return NULL;
    char *bytes;
    Py_ssize_t size;
    if (PyBytes_AsStringAndSize(data, &bytes, &size) < 0) return NULL;
    if (offset < 0 || offset > size) { PyErr_SetString(PyExc_ValueError, "offset out of the data"); return NULL; }
    if (size > INT32_MAX) { PyErr_SetString(PyExc_ValueError, "block too large"); return NULL; }
    WHosts h;
    memset(&h, 0, sizeof h);
    size_t at = (size_t)offset, known = w->groups.count;
    long long consumed = 0;
    int status;
    /* data is immutable bytes our caller holds; the state is this thread's (see above) */
    Py_BEGIN_ALLOW_THREADS
    status = w_scan(w, &h, bytes, (size_t)size, &at, &newest, stop_sec, strip_cr, &consumed);
    Py_END_ALLOW_THREADS
    PyObject *out = NULL, *groups = NULL, *pairs = NULL;
    if (status < 0 || w->groups.failed || w->cells.failed || w->rows.failed || w->bins.failed) { PyErr_NoMemory(); goto done; }
    groups = w_key_list(&w->groups, known, 0);
    pairs = groups ? w_key_list(&h.pairs, 0, 1) : NULL;
    if (pairs == NULL) goto done;
    out = Py_BuildValue("(LnLiOONN)", consumed, (Py_ssize_t)at, newest, status, groups, pairs, buf_bytes(&h.pair_last),
                        buf_bytes(&h.rows));
done:
    Py_XDECREF(groups);
    Py_XDECREF(pairs);
    w_hosts_free(&h);
    return out;
}

static PyObject *watch_alias(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *capsule;
    const char *pairs;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "Oy#", &capsule, &pairs, &n)) return NULL;
    WState *w = PyCapsule_GetPointer(capsule, W_CAPSULE);
    if (w == NULL) return NULL;
    if (n % (2 * sizeof(int64_t)) != 0) { PyErr_SetString(PyExc_ValueError, "aliases are int64 pairs"); return NULL; }
    for (Py_ssize_t i = 0; i < n; i += 2 * sizeof(int64_t)) {
        int64_t pair[2];
        memcpy(pair, pairs + i, sizeof pair);
        if (pair[0] < 0 || pair[1] < 0 || (size_t)pair[0] >= w->groups.count || (size_t)pair[1] >= w->groups.count
            || (size_t)pair[0] >= w->alias_cap || w->alias[pair[1]] != (uint32_t)pair[1]) {
            PyErr_SetString(PyExc_ValueError, "an alias of an unknown group, or to a group counted as another");
            return NULL;
        }
        w->alias[pair[0]] = (uint32_t)pair[1];
    }
    Py_RETURN_NONE;
}

static PyObject *watch_flush(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *capsule;
    Py_ssize_t max_groups;
    if (!PyArg_ParseTuple(args, "On", &capsule, &max_groups)) return NULL;
    WState *w = PyCapsule_GetPointer(capsule, W_CAPSULE);
    if (w == NULL) return NULL;
    Buf sparse = {0};
    size_t nb = (size_t)w->nbounds + 1, cells = w->rows.len / (W_CELL * sizeof(int64_t));
    const int64_t *bins = (const int64_t *)w->bins.data;
    for (size_t c = 0; c < cells; c++) {
        for (size_t k = 0; k < nb; k++) {
            if (!bins[c * nb + k]) continue;
            int64_t triple[3] = {(int64_t)c, (int64_t)k, bins[c * nb + k]};
            buf_put(&sparse, (const char *)triple, sizeof triple);
        }
    }
    if (sparse.failed) { free(sparse.data); return PyErr_NoMemory(); }
    PyObject *out = Py_BuildValue("(NNO)", buf_bytes(&w->rows), buf_bytes(&sparse),
                                  (Py_ssize_t)w->groups.count > max_groups ? Py_True : Py_False);
    free(sparse.data);
    if (out == NULL) return NULL;
    w_cells_free(w);
    if ((Py_ssize_t)w->groups.count > max_groups) {
        w_groups_free(&w->groups);
        if (w->memo != NULL) memset(w->memo, 0, W_MEMO * sizeof(WMemo));
        for (size_t k = 0; k < w->alias_cap; k++) w->alias[k] = (uint32_t)k;
    }
    return out;
}

static PyMethodDef methods[] = {
    {"tally_new", tally_new, METH_VARARGS,
     "tally_new(sketch_multiplier, latency_multiplier, step, max_cells, max_vhosts, max_templates, max_pairs, methods) -> tally"},
    {"tally_scan", tally_scan, METH_VARARGS, "tally_scan(tally, spec, data: bytes-like, job) -> (lines, deferred)"},
    {"tally_merge", tally_merge, METH_VARARGS, "tally_merge(into, from): add a tally into another"},
    {"tally_cells", tally_cells, METH_VARARGS, "tally_cells(tally, step) -> the series cells it would hold at step"},
    {"tally_coarsen", tally_coarsen, METH_VARARGS, "tally_coarsen(tally, step): its series at step"},
    {"tally_step", tally_step, METH_VARARGS, "tally_step(tally) -> seconds per bucket of its series"},
    {"tally_result", tally_result, METH_VARARGS, "tally_result(tally) -> (lines, groups, vhosts, hosts, step, folded)"},
    {"parquet_columns", parquet_columns, METH_VARARGS, "parquet_columns(spec, data, outputs) -> (lines, rows, columns, deferred)"},
    {"watch_state", watch_state, METH_VARARGS, "watch_state(spec, bounds) -> state (a capsule)"},
    {"watch_cells", watch_cells, METH_VARARGS, "watch_cells(state, data, offset, newest, stop_sec, strip_cr) -> (lines, offset, newest, status, new groups, pairs, pair_last, host_cells)"},
    {"watch_alias", watch_alias, METH_VARARGS, "watch_alias(state, aliases: int64 pairs) -> None"},
    {"watch_flush", watch_flush, METH_VARARGS, "watch_flush(state, max_groups) -> (cells, bins, groups forgotten)"},
    {"template_path", template_path, METH_VARARGS, "template_path(path: bytes) -> bytes (endpoints.auto_template)"},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_scan", "The compiled access-log scanner.", -1, methods,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__scan(void) { return PyModule_Create(&module); }
