/*
 * Baseline (sequential DCT, Huffman) entropy codec for dctredact.
 *
 * Decodes the entropy-coded segments of one scan into quantized coefficients and encodes
 * them back, per ITU-T T.81 Annex F (F.2.2 decoding, F.1.2 encoding) with restart
 * intervals (F.1.1.5 / F.2.1.5 / B.2.5). Coefficients are kept in zig-zag order, as coded:
 * index 0 is DC. Each component owns an int16 buffer of alloc_high x alloc_wide blocks of
 * 64 coefficients.
 *
 * The module does no I/O and keeps no state; Python plans the geometry, parses markers
 * and chooses tables. Every malformed input is reported as _entropy.Error with the MCU
 * where it happened; nothing here reads outside the buffers it is given.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define LOOK_BITS 9
#define MULTI_BITS 11 /* multi-symbol AC skip table (_recode.c); at most 15 */
#define MAX_SCAN_COMPS 4
#define MAX_BLOCKS_IN_MCU 10

static PyObject *EntropyError;   /* malformed data */
static PyObject *MissingSymbol;  /* a symbol the encoding table cannot code */
static PyObject *Mismatch;       /* decode_scan(compare=True): other coefficients */

/* ------------------------------------------------------------------ tables */

typedef struct {
    int present;
    int32_t maxcode[18];
    int32_t valoffset[18];
    uint8_t huffval[256];
    uint16_t look[1 << LOOK_BITS]; /* (length << 8) | value; length 0 = slow path */
    uint16_t skip[1 << LOOK_BITS]; /* AC: (code length + size << 8) | value, to skip */
    int multi_built;
    /* AC, skipping only (_recode.c build_multi): the complete symbols (code + extra bits)
     * that the next MULTI_BITS bits hold, as (eob << 10) | (room << 4) | bits, where
     * room = 64 - coefficients advanced - eob: the group applies when k <= room. 0 (a
     * table not built, or no group) never applies: the single-symbol path is taken. */
    uint16_t multi[1 << MULTI_BITS];
} DecTable;

typedef struct {
    int present;
    uint32_t code[256];
    uint8_t size[256]; /* 0 = symbol absent */
} EncTable;

/* Generate code lengths and codes (T.81 C.1, C.2). Returns the count or -1. */
static int gen_codes(const uint8_t *bits, const uint8_t *vals, int nvals,
                     uint8_t *sizes, uint32_t *codes, char *err, size_t errlen)
{
    int k = 0;
    for (int l = 1; l <= 16; l++) {
        for (int i = 0; i < bits[l - 1]; i++) {
            if (k >= 256 || k >= nvals) {
                snprintf(err, errlen, "Huffman table lists more codes than values");
                return -1;
            }
            sizes[k++] = (uint8_t)l;
        }
    }
    if (k != nvals) {
        snprintf(err, errlen, "Huffman table has %d code lengths but %d values", k, nvals);
        return -1;
    }
    uint32_t code = 0;
    int si = k ? sizes[0] : 0;
    for (int i = 0; i < k;) {
        while (i < k && sizes[i] == si) {
            codes[i++] = code++;
        }
        /* T.81 C.2 and libjpeg: codes must fit in si bits and none may be all ones. */
        if (code >= (1u << si)) {
            snprintf(err, errlen, "Huffman code lengths overflow (invalid table)");
            return -1;
        }
        code <<= 1;
        si++;
    }
    (void)vals;
    return k;
}

static int parse_table_obj(PyObject *obj, Py_buffer *bits, Py_buffer *vals)
{
    /* obj is a (bits16: bytes, values: bytes) tuple */
    if (!PyTuple_Check(obj) || PyTuple_GET_SIZE(obj) != 2) {
        PyErr_SetString(PyExc_TypeError, "table must be a (bits, values) tuple");
        return -1;
    }
    if (PyObject_GetBuffer(PyTuple_GET_ITEM(obj, 0), bits, PyBUF_SIMPLE) < 0) return -1;
    if (PyObject_GetBuffer(PyTuple_GET_ITEM(obj, 1), vals, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(bits);
        return -1;
    }
    if (bits->len != 16 || vals->len > 256) {
        PyBuffer_Release(bits);
        PyBuffer_Release(vals);
        PyErr_SetString(EntropyError, "Huffman table must have 16 counts and <= 256 values");
        return -1;
    }
    return 0;
}

/* A table as given from Python, validated, with its code lengths and codes (C.1, C.2). */
typedef struct {
    uint8_t bits[16];
    uint8_t vals[256];
    uint8_t sizes[257];
    uint32_t codes[257];
    int n;
} CodeTable;

/* Returns 1 with `ct` filled, 0 for None (no table), -1 with an exception set. */
static int load_code_table(PyObject *obj, CodeTable *ct)
{
    if (obj == Py_None) return 0;
    Py_buffer bb, vb;
    if (parse_table_obj(obj, &bb, &vb) < 0) return -1;
    memcpy(ct->bits, bb.buf, 16);
    memcpy(ct->vals, vb.buf, (size_t)vb.len);
    char err[160];
    ct->n = gen_codes(ct->bits, ct->vals, (int)vb.len, ct->sizes, ct->codes, err, sizeof err);
    PyBuffer_Release(&bb);
    PyBuffer_Release(&vb);
    if (ct->n < 0) {
        PyErr_SetString(EntropyError, err);
        return -1;
    }
    return 1;
}

static int build_dec_table(PyObject *obj, DecTable *t)
{
    memset(t, 0, sizeof(*t));
    CodeTable ct;
    int rc = load_code_table(obj, &ct);
    if (rc <= 0) return rc;
    const uint8_t *bits = ct.bits, *vals = ct.vals;
    memcpy(t->huffval, vals, (size_t)ct.n);
    int p = 0;
    for (int l = 1; l <= 16; l++) {
        if (bits[l - 1]) {
            t->valoffset[l] = p - (int32_t)ct.codes[p];
            p += bits[l - 1];
            t->maxcode[l] = (int32_t)ct.codes[p - 1];
        } else {
            t->maxcode[l] = -1;
        }
    }
    t->maxcode[17] = 0x7FFFFFFF;
    for (int i = 0; i < ct.n; i++) {
        int l = ct.sizes[i];
        if (l <= LOOK_BITS) {
            int shift = LOOK_BITS - l;
            uint32_t base = ct.codes[i] << shift;
            for (uint32_t j = 0; j < (1u << shift); j++) {
                t->look[base + j] = (uint16_t)((l << 8) | vals[i]);
                /* Skipping a coefficient needs only its total length: the code and
                 * the (value & 15) extra bits that follow, which need not be read. */
                t->skip[base + j] = (uint16_t)(((l + (vals[i] & 15)) << 8) | vals[i]);
            }
        }
    }
    t->present = 1;
    return 0;
}

static int build_enc_table(PyObject *obj, EncTable *t)
{
    memset(t, 0, sizeof(*t));
    CodeTable ct;
    int rc = load_code_table(obj, &ct);
    if (rc <= 0) return rc;
    for (int i = 0; i < ct.n; i++) {
        uint8_t v = ct.vals[i];
        if (t->size[v] == 0) { /* first definition wins, as in libjpeg */
            t->code[v] = ct.codes[i];
            t->size[v] = ct.sizes[i];
        }
    }
    t->present = 1;
    return 0;
}

/* -------------------------------------------------------------- scan layout */

typedef struct {
    Py_buffer buf;     /* int16 coefficients, alloc_high * alloc_wide * 64 */
    int16_t *coef;
    int alloc_wide, alloc_high;
    int h, v;
    int blocks_wide, blocks_high; /* data blocks (non-interleaved scans walk these) */
    int dc_tbl, ac_tbl;
    int pred;
} ScanComp;

typedef struct {
    int ncomps;
    ScanComp comp[MAX_SCAN_COMPS];
    int mcus_wide, mcus_high;
    int restart_interval;
    long total_mcus;
} Scan;

static void release_scan(Scan *s)
{
    for (int i = 0; i < s->ncomps; i++) {
        if (s->comp[i].buf.obj) PyBuffer_Release(&s->comp[i].buf);
    }
}

/* comps: sequence of (buffer, alloc_wide, alloc_high, h, v, blocks_wide, blocks_high,
 *                     dc_tbl, ac_tbl); each buffer holds bytes_per_block per block. */
static int parse_scan_sized(PyObject *comps, int mcus_wide, int mcus_high, int restart,
                            int writable, long bytes_per_block, Scan *s)
{
    memset(s, 0, sizeof(*s));
    PyObject *seq = PySequence_Fast(comps, "components must be a sequence");
    if (!seq) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n < 1 || n > MAX_SCAN_COMPS) {
        Py_DECREF(seq);
        PyErr_Format(EntropyError, "a scan has 1..4 components, not %zd", n);
        return -1;
    }
    int blocks_in_mcu = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        ScanComp *c = &s->comp[i];
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        PyObject *bufobj;
        if (!PyTuple_Check(item)) { /* PyArg_ParseTuple would raise SystemError */
            s->ncomps = (int)i;
            release_scan(s);
            Py_DECREF(seq);
            PyErr_SetString(PyExc_TypeError, "each component must be a tuple");
            return -1;
        }
        if (!PyArg_ParseTuple(item, "Oiiiiiiii", &bufobj, &c->alloc_wide, &c->alloc_high,
                              &c->h, &c->v, &c->blocks_wide, &c->blocks_high, &c->dc_tbl,
                              &c->ac_tbl)) {
            s->ncomps = (int)i;
            release_scan(s);
            Py_DECREF(seq);
            return -1;
        }
        int flags = PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0);
        if (PyObject_GetBuffer(bufobj, &c->buf, flags) < 0) {
            s->ncomps = (int)i;
            release_scan(s);
            Py_DECREF(seq);
            return -1;
        }
        s->ncomps = (int)i + 1;
        c->coef = (int16_t *)c->buf.buf;
        /* alloc_wide * alloc_high * bytes_per_block can exceed a long (signed overflow;
         * a product that wraps to a small value would pass the size test): -1 = too big. */
        long need = -1;
        if (c->alloc_wide >= 1 && c->alloc_high >= 1 &&
            c->alloc_wide <= LONG_MAX / bytes_per_block / c->alloc_high)
            need = (long)c->alloc_wide * c->alloc_high * bytes_per_block;
        /* int16 coefficients are accessed in place: a misaligned buffer (e.g. a memoryview
         * starting at an odd offset) is undefined behaviour. Masks are bytes. */
        int misaligned = bytes_per_block > 1 && ((uintptr_t)c->buf.buf % sizeof(int16_t)) != 0;
        if (need < 0 || c->buf.len < need || misaligned || c->h < 1 ||
            c->h > 4 || c->v < 1 || c->v > 4 || c->dc_tbl < 0 || c->dc_tbl > 3 ||
            c->ac_tbl < 0 || c->ac_tbl > 3 || c->blocks_wide > c->alloc_wide ||
            c->blocks_high > c->alloc_high || c->blocks_wide < 1 || c->blocks_high < 1) {
            release_scan(s);
            Py_DECREF(seq);
            PyErr_SetString(EntropyError, "inconsistent component layout");
            return -1;
        }
        /* A negative grid would pass the size test below, and two negative counts give
         * a positive MCU total: blocks at negative rows/columns (out of bounds). */
        if (n > 1 && (mcus_wide < 1 || mcus_high < 1)) {
            release_scan(s);
            Py_DECREF(seq);
            PyErr_Format(EntropyError, "invalid MCU grid %d x %d", mcus_wide, mcus_high);
            return -1;
        }
        if (n > 1 && ((long)mcus_wide * c->h > c->alloc_wide ||
                      (long)mcus_high * c->v > c->alloc_high)) {
            release_scan(s);
            Py_DECREF(seq);
            PyErr_SetString(EntropyError, "component buffer smaller than the MCU grid");
            return -1;
        }
        blocks_in_mcu += c->h * c->v;
    }
    Py_DECREF(seq);
    if (n > 1 && blocks_in_mcu > MAX_BLOCKS_IN_MCU) {
        release_scan(s);
        PyErr_Format(EntropyError, "MCU has %d blocks; T.81 allows at most 10",
                     blocks_in_mcu);
        return -1;
    }
    s->mcus_wide = mcus_wide;
    s->mcus_high = mcus_high;
    s->restart_interval = restart < 0 ? 0 : restart;
    if (n == 1) {
        s->total_mcus = (long)s->comp[0].blocks_wide * s->comp[0].blocks_high;
    } else {
        s->total_mcus = (long)mcus_wide * mcus_high;
    }
    return 0;
}

static int parse_scan(PyObject *comps, int mcus_wide, int mcus_high, int restart,
                      int writable, Scan *s)
{
    return parse_scan_sized(comps, mcus_wide, mcus_high, restart, writable,
                            64 * (long)sizeof(int16_t), s);
}

/* Build the decoding (`dec`, may be NULL) and encoding (`enc`, may be NULL) tables that
 * the scan's components use: 8 slots each, DC ids 0..3 then AC ids 4..7. */
static int build_scan_tables(const Scan *s, PyObject *dcs, PyObject *acs, DecTable *dec,
                             EncTable *enc)
{
    for (int i = 0; i < s->ncomps; i++) {
        const ScanComp *c = &s->comp[i];
        for (int k = 0; k < 2; k++) {
            int id = k ? c->ac_tbl : c->dc_tbl, slot = k * 4 + id;
            if (dec ? dec[slot].present : enc[slot].present) continue;
            PyObject *obj = PySequence_GetItem(k ? acs : dcs, id);
            if (!obj) return -1;
            int rc = dec ? build_dec_table(obj, &dec[slot]) : 0;
            if (rc == 0 && enc) rc = build_enc_table(obj, &enc[slot]);
            Py_DECREF(obj);
            if (rc < 0) return -1;
            if (dec ? !dec[slot].present : !enc[slot].present) {
                PyErr_Format(EntropyError, "scan uses %s Huffman table %d, never defined",
                             k ? "AC" : "DC", id);
                return -1;
            }
        }
    }
    return 0;
}

/* Runs BODY for each block of MCU number m, in coding order, with `comp` (its scan
 * component), `ci` (that component's index) and `bidx` (the block's index, row *
 * alloc_wide + col) in scope; per-block byte masks use the index directly. */
#define FOR_EACH_BLOCK_INDEX(s, m, BODY)                                                   \
    do {                                                                                  \
        if ((s)->ncomps == 1) {                                                           \
            ScanComp *comp = &(s)->comp[0];                                               \
            long bidx = ((m) / comp->blocks_wide) * comp->alloc_wide + (m) % comp->blocks_wide; \
            int ci = 0;                                                                   \
            BODY                                                                          \
        } else {                                                                          \
            long my_ = (m) / (s)->mcus_wide, mx_ = (m) % (s)->mcus_wide;                  \
            for (int ci = 0; ci < (s)->ncomps; ci++) {                                    \
                ScanComp *comp = &(s)->comp[ci];                                          \
                for (int v_ = 0; v_ < comp->v; v_++) {                                    \
                    for (int h_ = 0; h_ < comp->h; h_++) {                                \
                        long bidx =                                                       \
                            (my_ * comp->v + v_) * comp->alloc_wide + mx_ * comp->h + h_; \
                        BODY                                                              \
                    }                                                                     \
                }                                                                         \
            }                                                                             \
        }                                                                                 \
    } while (0)

/* FOR_EACH_BLOCK_INDEX with `blk`, the block's 64 coefficients, in scope too. */
#define FOR_EACH_BLOCK_IN_MCU(s, m, BODY)                                                 \
    FOR_EACH_BLOCK_INDEX(s, m, {                                                          \
        int16_t *blk = comp->coef + bidx * 64;                                            \
        (void)ci;                                                                         \
        BODY                                                                              \
    })

/* ------------------------------------------------------------------ decoder */

typedef struct {
    const uint8_t *data;
    Py_ssize_t len, pos;
    uint64_t acc;
    int bits;   /* bits held in acc (right-aligned) */
    int pad;    /* zero bytes inserted after a marker or the end of data */
    int marker; /* 0 = none yet; else the byte after 0xFF (or 0x100 = end of data) */
} BitReader;

static inline void br_fill(BitReader *br)
{
    /* Fast path: the next 8 bytes hold no 0xFF (no marker, no stuffing), so the bytes
     * the loop below would add are those bytes as they are. */
    if (!br->marker && br->bits <= 56 && br->len - br->pos >= 8) {
        uint64_t w;
        memcpy(&w, br->data + br->pos, 8);
        uint64_t x = ~w; /* a zero byte in x = a 0xFF byte in w */
        if (((x - 0x0101010101010101ull) & ~x & 0x8080808080808080ull) == 0) {
            int n = (64 - br->bits) >> 3; /* 1..8 bytes fit */
#if defined(__GNUC__)
            w = __builtin_bswap64(w);
#else
            uint64_t be = 0;
            for (int i = 0; i < 8; i++) be = (be << 8) | ((w >> (8 * i)) & 0xFF);
            w = be;
#endif
            br->acc = n == 8 ? w : (br->acc << (8 * n)) | (w >> (64 - 8 * n));
            br->bits += 8 * n;
            br->pos += n;
            return;
        }
    }
    while (br->bits <= 56) {
        uint8_t b = 0;
        if (br->marker) {
            br->pad++;
        } else if (br->pos >= br->len) {
            br->marker = 0x100;
            br->pad++;
        } else {
            b = br->data[br->pos];
            if (b == 0xFF) {
                if (br->pos + 1 >= br->len) {
                    br->marker = 0x100;
                    b = 0;
                    br->pad++;
                } else if (br->data[br->pos + 1] == 0x00) {
                    br->pos += 2;
                } else {
                    br->marker = br->data[br->pos + 1];
                    b = 0;
                    br->pad++;
                }
            } else {
                br->pos++;
            }
        }
        br->acc = (br->acc << 8) | b;
        br->bits += 8;
    }
}

static inline int br_get(BitReader *br, int n)
{
    if (n == 0) return 0;
    if (br->bits < n) br_fill(br);
    br->bits -= n;
    return (int)((br->acc >> br->bits) & ((1u << n) - 1));
}

static inline int extend(int v, int s)
{
    return v < (1 << (s - 1)) ? v - (1 << s) + 1 : v;
}

static inline int decode_symbol(BitReader *br, const DecTable *t)
{
    if (br->bits < 16) br_fill(br);
    int look = (int)((br->acc >> (br->bits - LOOK_BITS)) & ((1 << LOOK_BITS) - 1));
    int e = t->look[look];
    if (e >> 8) {
        br->bits -= e >> 8;
        return e & 0xFF;
    }
    for (int l = LOOK_BITS + 1; l <= 16; l++) {
        int32_t code = (int32_t)((br->acc >> (br->bits - l)) & ((1u << l) - 1));
        if (code <= t->maxcode[l]) {
            br->bits -= l;
            int idx = t->valoffset[l] + code;
            if (idx < 0 || idx > 255) return -1;
            return t->huffval[idx];
        }
    }
    return -1;
}

static const char *decode_block(BitReader *br, const DecTable *dc, const DecTable *ac,
                                int16_t *blk, int *pred)
{
    int s = decode_symbol(br, dc);
    if (s < 0) return "invalid DC Huffman code";
    if (s > 11) return "DC difference category > 11 (not 8-bit baseline)";
    int diff = s ? extend(br_get(br, s), s) : 0;
    int dcv = *pred + diff;
    /* 8-bit samples give DC values in -1024..1016 (T.81 A.3.3); anything outside
     * -1024..1023 is corrupt and could not be re-encoded (DC differences > 11 bits). */
    if (dcv < -1024 || dcv > 1023) return "DC coefficient outside the 8-bit range";
    *pred = dcv;
    memset(blk, 0, 64 * sizeof(int16_t));
    blk[0] = (int16_t)dcv;
    for (int k = 1; k < 64;) {
        /* One refill check per symbol: after br_fill at least 57 bits are held (zero
         * bytes are inserted at a marker), enough for a code and its extra bits. */
        if (br->bits < 32) br_fill(br);
        int e = ac->look[(br->acc >> (br->bits - LOOK_BITS)) & ((1 << LOOK_BITS) - 1)];
        int rs;
        if (e >> 8) {
            br->bits -= e >> 8;
            rs = e & 0xFF;
        } else {
            rs = decode_symbol(br, ac);
            if (rs < 0) return "invalid AC Huffman code";
        }
        int r = rs >> 4, sz = rs & 15;
        if (sz) {
            k += r;
            if (k > 63) return "AC run past the end of the block";
            if (sz > 10) return "AC coefficient size > 10 (not 8-bit baseline)";
            br->bits -= sz;
            int v = (int)((br->acc >> br->bits) & ((1u << sz) - 1));
            blk[k++] = (int16_t)extend(v, sz);
        } else if (r == 15) {
            k += 16;
            if (k > 64) return "zero run (ZRL) past the end of the block";
        } else if (r == 0) {
            break;
        } else {
            return "undefined AC symbol (run with size 0)";
        }
    }
    return NULL;
}

/* Move past an RSTn marker at a restart interval boundary. */
static const char *br_restart(BitReader *br, int expected)
{
    br_fill(br);
    if (!br->marker || br->marker == 0x100) return "missing RST marker";
    if (br->bits - br->pad * 8 >= 8) return "extra entropy-coded bytes before an RST marker";
    while (br->pos + 1 < br->len && br->data[br->pos + 1] == 0xFF) br->pos++;
    if (br->pos + 1 >= br->len) return "missing RST marker";
    int m = br->data[br->pos + 1];
    if (m != 0xD0 + expected) return "RST marker out of sequence (or missing)";
    br->pos += 2;
    br->acc = 0;
    br->bits = 0;
    br->pad = 0;
    br->marker = 0;
    return NULL;
}

static const char MISMATCH[] = "decodes to other coefficients than expected";

static PyObject *py_decode_scan(PyObject *self, PyObject *args)
{
    Py_buffer data;
    PyObject *comps, *dcs, *acs;
    int mcus_wide, mcus_high, restart, compare = 0;
    if (!PyArg_ParseTuple(args, "y*OOOiii|p", &data, &comps, &dcs, &acs, &mcus_wide,
                          &mcus_high, &restart, &compare))
        return NULL;
    Scan s;
    DecTable *tables = NULL;
    int16_t got[64];
    const char *err = NULL;
    long m = 0;
    if (parse_scan(comps, mcus_wide, mcus_high, restart, 1, &s) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    tables = PyMem_RawCalloc(8, sizeof(DecTable));
    if (!tables) {
        PyErr_NoMemory();
        goto fail;
    }
    if (build_scan_tables(&s, dcs, acs, tables, NULL) < 0) goto fail;
    BitReader br = {(const uint8_t *)data.buf, data.len, 0, 0, 0, 0, 0};
    int rst = 0;
    Py_BEGIN_ALLOW_THREADS
    for (m = 0; m < s.total_mcus; m++) {
        if (s.restart_interval && m > 0 && m % s.restart_interval == 0) {
            err = br_restart(&br, rst);
            if (err) break;
            rst = (rst + 1) & 7;
            for (int i = 0; i < s.ncomps; i++) s.comp[i].pred = 0;
        }
        FOR_EACH_BLOCK_IN_MCU(&s, m, {
            if (!err) {
                err = decode_block(&br, &tables[comp->dc_tbl], &tables[4 + comp->ac_tbl],
                                   compare ? got : blk, &comp->pred);
                if (!err && compare && memcmp(got, blk, sizeof got) != 0)
                    err = MISMATCH;
            }
        });
        if (err) break;
        if (br.bits < br.pad * 8) {
            err = "entropy-coded data ended early";
            break;
        }
    }
    Py_END_ALLOW_THREADS
    if (err) {
        PyErr_Format(err == MISMATCH ? Mismatch : EntropyError, "%s (MCU %ld of %ld)", err, m,
                     s.total_mcus);
        goto fail;
    }
    PyMem_RawFree(tables);
    release_scan(&s);
    PyBuffer_Release(&data);
    Py_RETURN_NONE;
fail:
    PyMem_RawFree(tables);
    release_scan(&s);
    PyBuffer_Release(&data);
    return NULL;
}

/* ------------------------------------------------------------------ encoder */

typedef struct {
    uint8_t *out;
    Py_ssize_t len, cap;
    uint64_t acc;
    int bits;
    int oom;
    int nostuff; /* 1: plain bits, no 0xFF00 stuffing (an internal check buffer) */
} BitWriter;

static inline int bw_reserve(BitWriter *bw, Py_ssize_t extra)
{
    if (bw->len + extra <= bw->cap) return 0;
    Py_ssize_t cap = bw->cap * 2 + extra + 1024;
    uint8_t *p = PyMem_RawRealloc(bw->out, (size_t)cap);
    if (!p) {
        bw->oom = 1;
        return -1;
    }
    bw->out = p;
    bw->cap = cap;
    return 0;
}

static inline void bw_put(BitWriter *bw, uint32_t code, int size)
{
    bw->acc = (bw->acc << size) | (code & ((1u << size) - 1));
    bw->bits += size;
    if (bw->bits >= 32) {
        if (bw_reserve(bw, 16) < 0) return;
        while (bw->bits >= 8) {
            uint8_t b = (uint8_t)(bw->acc >> (bw->bits - 8));
            bw->out[bw->len++] = b;
            if (b == 0xFF && !bw->nostuff) bw->out[bw->len++] = 0;
            bw->bits -= 8;
        }
    }
}

static void bw_flush(BitWriter *bw)
{
    int fill = (8 - bw->bits % 8) % 8;
    if (fill) bw_put(bw, (1u << fill) - 1, fill);
    if (bw_reserve(bw, 16) < 0) return;
    while (bw->bits >= 8) {
        uint8_t b = (uint8_t)(bw->acc >> (bw->bits - 8));
        bw->out[bw->len++] = b;
        if (b == 0xFF && !bw->nostuff) bw->out[bw->len++] = 0;
        bw->bits -= 8;
    }
}

static inline int nbits(int v)
{
    if (v < 0) v = -v;
#if defined(__GNUC__)
    return v ? 32 - __builtin_clz((unsigned)v) : 0;
#else
    int n = 0;
    while (v) {
        n++;
        v >>= 1;
    }
    return n;
#endif
}

static inline int lowest_bit(uint64_t m) /* m != 0 */
{
#if defined(__GNUC__)
    return __builtin_ctzll(m);
#else
    int n = 0;
    while (!(m & 1)) {
        m >>= 1;
        n++;
    }
    return n;
#endif
}

/* Bit k set for each non-zero AC coefficient k (1..63) of a block: the encoder and the
 * symbol counter visit only those (most of a block is zero). */
static inline uint64_t ac_nonzero(const int16_t *blk)
{
#if defined(__SSE2__)
    const __m128i zero = _mm_setzero_si128();
    uint64_t m = 0;
    for (int i = 0; i < 4; i++) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(blk + 16 * i));
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(blk + 16 * i + 8));
        __m128i eq = _mm_packs_epi16(_mm_cmpeq_epi16(a, zero), _mm_cmpeq_epi16(b, zero));
        m |= (uint64_t)(uint16_t)~_mm_movemask_epi8(eq) << (16 * i);
    }
    return m & ~(uint64_t)1;
#else
    uint64_t m = 0;
    for (int k = 1; k < 64; k++) m |= (uint64_t)(blk[k] != 0) << k;
    return m;
#endif
}

/* Returns NULL, or a message; *missing is set to (table kind << 8 | symbol) when a
 * symbol cannot be coded. */
static const char *encode_block(BitWriter *bw, const EncTable *dc, const EncTable *ac,
                                const int16_t *blk, int *pred, int *missing)
{
    int diff = blk[0] - *pred;
    *pred = blk[0];
    int s = nbits(diff);
    if (s > 11) return "DC difference too large for 8-bit baseline";
    if (!dc->size[s]) {
        *missing = s;
        return "missing";
    }
    bw_put(bw, dc->code[s], dc->size[s]);
    if (s) bw_put(bw, (uint32_t)(diff < 0 ? diff - 1 : diff), s);
    int last = 0; /* the last coefficient coded */
    for (uint64_t nz = ac_nonzero(blk); nz; nz &= nz - 1) {
        int k = lowest_bit(nz), v = blk[k];
        int r = k - last - 1;
        while (r > 15) {
            if (!ac->size[0xF0]) {
                *missing = 0x100 | 0xF0;
                return "missing";
            }
            bw_put(bw, ac->code[0xF0], ac->size[0xF0]);
            r -= 16;
        }
        int sz = nbits(v);
        if (sz > 10) return "AC coefficient too large for 8-bit baseline";
        int sym = (r << 4) | sz;
        if (!ac->size[sym]) {
            *missing = 0x100 | sym;
            return "missing";
        }
        bw_put(bw, ac->code[sym], ac->size[sym]);
        bw_put(bw, (uint32_t)(v < 0 ? v - 1 : v), sz);
        last = k;
    }
    if (last < 63) {
        if (!ac->size[0]) {
            *missing = 0x100;
            return "missing";
        }
        bw_put(bw, ac->code[0], ac->size[0]);
    }
    return NULL;
}

/* Raise the codec's error for `err` (MissingSymbol when `missing` names a symbol). */
static void raise_codec_error(const char *err, int missing, long mcu, long total)
{
    if (missing >= 0) {
        PyErr_Format(MissingSymbol, "%s symbol 0x%02X", (missing >> 8) ? "AC" : "DC",
                     missing & 0xFF);
    } else {
        PyErr_Format(EntropyError, "%s (MCU %ld of %ld)", err, mcu, total);
    }
}

static PyObject *py_encode_scan(PyObject *self, PyObject *args)
{
    PyObject *comps, *dcs, *acs;
    int mcus_wide, mcus_high, restart;
    if (!PyArg_ParseTuple(args, "OOOiii", &comps, &dcs, &acs, &mcus_wide, &mcus_high,
                          &restart))
        return NULL;
    Scan s;
    EncTable *tables = NULL;
    BitWriter bw = {0};
    const char *err = NULL;
    int missing = -1;
    long m = 0;
    if (parse_scan(comps, mcus_wide, mcus_high, restart, 0, &s) < 0) return NULL;
    tables = PyMem_RawCalloc(8, sizeof(EncTable));
    if (!tables) {
        PyErr_NoMemory();
        goto fail;
    }
    if (build_scan_tables(&s, dcs, acs, NULL, tables) < 0) goto fail;
    bw.cap = 65536;
    bw.out = PyMem_RawMalloc((size_t)bw.cap);
    if (!bw.out) {
        PyErr_NoMemory();
        goto fail;
    }
    int rst = 0;
    Py_BEGIN_ALLOW_THREADS
    for (m = 0; m < s.total_mcus; m++) {
        if (s.restart_interval && m > 0 && m % s.restart_interval == 0) {
            bw_flush(&bw);
            if (bw_reserve(&bw, 2) < 0) break;
            bw.out[bw.len++] = 0xFF;
            bw.out[bw.len++] = (uint8_t)(0xD0 + rst);
            rst = (rst + 1) & 7;
            for (int i = 0; i < s.ncomps; i++) s.comp[i].pred = 0;
        }
        FOR_EACH_BLOCK_IN_MCU(&s, m, {
            if (!err)
                err = encode_block(&bw, &tables[comp->dc_tbl], &tables[4 + comp->ac_tbl], blk,
                                   &comp->pred, &missing);
        });
        if (err || bw.oom) break;
    }
    if (!err && !bw.oom) bw_flush(&bw);
    Py_END_ALLOW_THREADS
    if (bw.oom) {
        PyErr_NoMemory();
        goto fail;
    }
    if (err) {
        raise_codec_error(err, missing, m, s.total_mcus);
        goto fail;
    }
    PyObject *result = PyBytes_FromStringAndSize((const char *)bw.out, bw.len);
    PyMem_RawFree(bw.out);
    PyMem_RawFree(tables);
    release_scan(&s);
    return result;
fail:
    PyMem_RawFree(bw.out);
    PyMem_RawFree(tables);
    release_scan(&s);
    return NULL;
}

/* ------------------------------------------------------------ symbol counts */

static PyObject *py_count_symbols(PyObject *self, PyObject *args)
{
    /* Returns (dc_counts, ac_counts): bytes of 4 x 256 int64 each, indexed by table id.
       With dc_only, the AC terms are not visited (ac_counts all zero). */
    PyObject *comps;
    int mcus_wide, mcus_high, restart, dc_only = 0;
    if (!PyArg_ParseTuple(args, "Oiii|p", &comps, &mcus_wide, &mcus_high, &restart, &dc_only))
        return NULL;
    Scan s;
    if (parse_scan(comps, mcus_wide, mcus_high, restart, 0, &s) < 0) return NULL;
    int64_t *counts = PyMem_RawCalloc(2 * 4 * 256, sizeof(int64_t));
    if (!counts) {
        release_scan(&s);
        return PyErr_NoMemory();
    }
    const char *err = NULL;
    for (long m = 0; m < s.total_mcus && !err; m++) {
        if (s.restart_interval && m > 0 && m % s.restart_interval == 0) {
            for (int i = 0; i < s.ncomps; i++) s.comp[i].pred = 0;
        }
        FOR_EACH_BLOCK_IN_MCU(&s, m, {
            int64_t *dcc = counts + comp->dc_tbl * 256;
            int64_t *acc = counts + 4 * 256 + comp->ac_tbl * 256;
            int diff = blk[0] - comp->pred;
            comp->pred = blk[0];
            int ds = nbits(diff);
            if (ds > 11) err = "DC difference too large for 8-bit baseline";
            else dcc[ds]++;
            if (!dc_only) {
                int last = 0;
                for (uint64_t nz = ac_nonzero(blk); nz; nz &= nz - 1) {
                    int k = lowest_bit(nz); /* (one declarator each: a macro argument) */
                    int v = blk[k];
                    int r = k - last - 1;
                    while (r > 15) {
                        acc[0xF0]++;
                        r -= 16;
                    }
                    int sz = nbits(v);
                    if (sz > 10) err = "AC coefficient too large for 8-bit baseline";
                    else acc[(r << 4) | sz]++;
                    last = k;
                }
                if (last < 63) acc[0]++;
            }
        });
    }
    release_scan(&s);
    if (err) {
        PyMem_RawFree(counts);
        PyErr_SetString(EntropyError, err);
        return NULL;
    }
    PyObject *dc = PyBytes_FromStringAndSize((const char *)counts, 4 * 256 * sizeof(int64_t));
    PyObject *ac = PyBytes_FromStringAndSize((const char *)(counts + 4 * 256),
                                             4 * 256 * sizeof(int64_t));
    PyMem_RawFree(counts);
    if (!dc || !ac) {
        Py_XDECREF(dc);
        Py_XDECREF(ac);
        return NULL;
    }
    return Py_BuildValue("(NN)", dc, ac);
}

/* ------------------------------------------------------- partial re-coding */

#include "_recode.c"

/* ------------------------------------------------------------------ module */

static PyMethodDef methods[] = {
    {"decode_scan", py_decode_scan, METH_VARARGS,
     "decode_scan(data, comps, dc_tables, ac_tables, mcus_wide, mcus_high, restart,\n"
     "            compare=False)\n"
     "Decode one scan's entropy-coded data into the component buffers (zig-zag order);\n"
     "with compare, check that it decodes to what the buffers hold (Mismatch if not)."},
    {"encode_scan", py_encode_scan, METH_VARARGS,
     "encode_scan(comps, dc_tables, ac_tables, mcus_wide, mcus_high, restart) -> bytes\n"
     "Encode coefficients into entropy-coded data, RST markers included."},
    {"count_symbols", py_count_symbols, METH_VARARGS,
     "count_symbols(comps, mcus_wide, mcus_high, restart, dc_only=False) -> (dc, ac)\n"
     "Symbol frequencies per table id (4 x 256 int64 each), for building tables;\n"
     "with dc_only the AC terms are not visited (ac all zero)."},
    {"recode_scan", py_recode_scan, METH_VARARGS,
     "recode_scan(data, masks, dc_tables, ac_tables, mcus_wide, mcus_high, restart, fills,\n"
     "            verify=False, single_symbol=False)\n"
     "-> bytes. Re-emit one scan with the masked blocks filled, re-coding only what\n"
     "changed. masks: like decode_scan's components, with one uint8 per block;\n"
     "fills: (mode, dc) per scan component, mode 0 = DC set, 1 = DC kept; verify: decode\n"
     "the re-coded MCUs back; single_symbol: skip one AC symbol per lookup (for tests)."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef moduledef = {PyModuleDef_HEAD_INIT, "_entropy",
                                       "Baseline JPEG Huffman entropy codec.", -1, methods};

PyMODINIT_FUNC PyInit__entropy(void)
{
    PyObject *mod = PyModule_Create(&moduledef);
    if (!mod) return NULL;
    EntropyError = PyErr_NewException("dctredact.jpeg._entropy.Error", PyExc_ValueError, NULL);
    MissingSymbol =
        PyErr_NewException("dctredact.jpeg._entropy.MissingSymbol", PyExc_KeyError, NULL);
    Mismatch = PyErr_NewException("dctredact.jpeg._entropy.Mismatch", EntropyError, NULL);
    if (!EntropyError || !MissingSymbol || !Mismatch) return NULL;
    Py_INCREF(EntropyError);
    Py_INCREF(MissingSymbol);
    Py_INCREF(Mismatch);
    PyModule_AddObject(mod, "Error", EntropyError);
    PyModule_AddObject(mod, "MissingSymbol", MissingSymbol);
    PyModule_AddObject(mod, "Mismatch", Mismatch);
    return mod;
}
