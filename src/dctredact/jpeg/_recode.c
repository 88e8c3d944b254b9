/*
 * Partial re-coding of one scan: copy what did not change, re-code only what did.
 *
 * Included by _entropy.c (it shares the table, scan-layout and bit-writer code).
 *
 * For each restart interval (the whole scan when there is none):
 *  - no planned block: the interval is validated by a symbol-only decode and its bytes
 *    are copied as they are;
 *  - otherwise the interval is un-stuffed, the MCUs before the first planned one are
 *    skipped symbol by symbol (their DC predictors tracked) and their bits copied; MCUs
 *    from the first planned one are decoded, edited and re-encoded until, after the last
 *    planned one, every component's DC predictor equals the original's again; from there
 *    on the Huffman codes are unchanged, so the remaining bits are validated by a
 *    symbol-only decode and copied, shifted to the new bit position (and re-stuffed).
 *
 * The result is bit-identical to decoding everything and re-encoding everything with the
 * same tables, for any stream our own encoder would have written.
 */

typedef struct {
    const uint8_t *d; /* un-stuffed data, followed by 8 zero bytes */
    Py_ssize_t len;   /* bytes of real data */
    Py_ssize_t bitpos;
} UReader;

static inline uint64_t ur_load64(const UReader *r)
{
    uint64_t v;
    memcpy(&v, r->d + (r->bitpos >> 3), 8);
#if defined(__GNUC__)
    v = __builtin_bswap64(v);
#else
    v = ((v & 0x00000000000000FFull) << 56) | ((v & 0x000000000000FF00ull) << 40) |
        ((v & 0x0000000000FF0000ull) << 24) | ((v & 0x00000000FF000000ull) << 8) |
        ((v & 0x000000FF00000000ull) >> 8) | ((v & 0x0000FF0000000000ull) >> 24) |
        ((v & 0x00FF000000000000ull) >> 40) | ((v & 0xFF00000000000000ull) >> 56);
#endif
    return v << (r->bitpos & 7);
}

static inline int ur_overrun(const UReader *r) { return r->bitpos > r->len * 8; }

/* Decode one symbol from the 64-bit window `v` (at least 56 valid bits); returns the
 * symbol and sets *len to its code length, or -1. */
static inline int ur_symbol_in(uint64_t v, const DecTable *t, int *len)
{
    int e = t->look[v >> (64 - LOOK_BITS)];
    if (e >> 8) {
        *len = e >> 8;
        return e & 0xFF;
    }
    for (int l = LOOK_BITS + 1; l <= 16; l++) {
        int32_t code = (int32_t)(v >> (64 - l));
        if (code <= t->maxcode[l]) {
            int idx = t->valoffset[l] + code;
            if (idx < 0 || idx > 255) return -1;
            *len = l;
            return t->huffval[idx];
        }
    }
    return -1;
}

/* Decode a block's DC difference and update the predictor. */
static inline const char *ur_dc(UReader *r, const DecTable *dc, int *pred)
{
    if (ur_overrun(r)) return "entropy-coded data ended early";
    int len;
    uint64_t v = ur_load64(r);
    int s = ur_symbol_in(v, dc, &len);
    if (s < 0) return "invalid DC Huffman code";
    if (s > 11) return "DC difference category > 11 (not 8-bit baseline)";
    int diff = s ? extend((int)((v << len) >> (64 - s)), s) : 0;
    r->bitpos += len + s;
    int dcv = *pred + diff;
    /* As decode_block: quantized 8-bit DC values lie in -1024..1023 (T.81 A.3.3). */
    if (dcv < -1024 || dcv > 1023) return "DC coefficient outside the 8-bit range";
    *pred = dcv;
    return NULL;
}

/* Decode one block; blk may be NULL (symbols only). One 64-bit window load serves a
 * code and its extra bits (16 + 11 bits at most, of the >= 56 the window holds). */
static const char *ur_block(UReader *r, const DecTable *dc, const DecTable *ac, int16_t *blk,
                            int *pred)
{
    const char *err = ur_dc(r, dc, pred);
    if (err) return err;
    int len;
    uint64_t v;
    if (blk) {
        memset(blk, 0, 64 * sizeof(int16_t));
        blk[0] = (int16_t)*pred;
    }
    for (int k = 1; k < 64;) {
        v = ur_load64(r);
        int rs = ur_symbol_in(v, ac, &len);
        if (rs < 0) return "invalid AC Huffman code";
        int run = rs >> 4, sz = rs & 15;
        if (sz) {
            k += run;
            if (k > 63) return "AC run past the end of the block";
            if (sz > 10) return "AC coefficient size > 10 (not 8-bit baseline)";
            if (blk) blk[k] = (int16_t)extend((int)((v << len) >> (64 - sz)), sz);
            r->bitpos += len + sz;
            k++;
        } else if (run == 15) {
            r->bitpos += len;
            k += 16;
            if (k > 64) return "zero run (ZRL) past the end of the block";
        } else if (run == 0) {
            r->bitpos += len;
            break;
        } else {
            return "undefined AC symbol (run with size 0)";
        }
        if (ur_overrun(r)) return "entropy-coded data ended early";
    }
    if (ur_overrun(r)) return "entropy-coded data ended early";
    return NULL;
}

/* Append bits [from, to) of an un-stuffed buffer to the writer (it re-stuffs). */
static void bw_copy_bits(BitWriter *bw, const uint8_t *d, Py_ssize_t from, Py_ssize_t to)
{
    while (from < to && (from & 7)) {
        bw_put(bw, (d[from >> 3] >> (7 - (from & 7))) & 1, 1);
        from++;
    }
    Py_ssize_t whole = (to - from) >> 3;
    const uint8_t *p = d + (from >> 3);
    if (bw_reserve(bw, whole * 2 + 16) < 0) return;
    for (Py_ssize_t i = 0; i < whole; i++) bw_put(bw, p[i], 8);
    from += whole * 8;
    while (from < to) {
        bw_put(bw, (d[from >> 3] >> (7 - (from & 7))) & 1, 1);
        from++;
    }
}

/* Un-stuff data[s:e) into buf (which has room for e - s + 8 bytes); returns length. */
static Py_ssize_t unstuff(const uint8_t *data, Py_ssize_t s, Py_ssize_t e, uint8_t *buf)
{
    Py_ssize_t n = 0;
    for (Py_ssize_t i = s; i < e; i++) {
        uint8_t b = data[i];
        buf[n++] = b;
        if (b == 0xFF && i + 1 < e && data[i + 1] == 0x00) i++;
    }
    memset(buf + n, 0, 8);
    return n;
}

/* Like FOR_EACH_BLOCK_IN_MCU, but gives the block index `bidx` (row * alloc_wide + col)
 * and the scan component index `ci`, for per-block byte masks. */
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

#define MASK(comp, bidx) (((const uint8_t *)(comp)->buf.buf)[bidx])

typedef struct {
    uint8_t mode; /* 0: AC = 0 and DC = value; 1: AC = 0, DC kept (flat) */
    int dc;
} CompFill;

static inline int mcu_planned(Scan *s, long m)
{
    int hit = 0;
    FOR_EACH_BLOCK_INDEX(s, m, {
        (void)ci;
        if (MASK(comp, bidx)) hit = 1;
    });
    return hit;
}

/* Symbol-only decode of MCUs [m, m1), tracking DC predictors. */
/* Skip one block: the DC difference is decoded (the predictor must be tracked), AC
 * codes are only measured, one table lookup each for codes of up to LOOK_BITS bits. */
static const char *ur_skip_block(UReader *r, const DecTable *dc, const DecTable *ac, int *pred)
{
    const char *err = ur_dc(r, dc, pred);
    if (err) return err;
    int len;
    uint64_t v;
    for (int k = 1; k < 64;) {
        v = ur_load64(r);
        int e = ac->skip[v >> (64 - LOOK_BITS)];
        int rs, total;
        if (e >> 8) {
            total = e >> 8;
            rs = e & 0xFF;
        } else {
            rs = ur_symbol_in(v, ac, &len);
            if (rs < 0) return "invalid AC Huffman code";
            total = len + (rs & 15);
        }
        int run = rs >> 4, sz = rs & 15;
        r->bitpos += total;
        if (sz) {
            k += run;
            if (k > 63) return "AC run past the end of the block";
            if (sz > 10) return "AC coefficient size > 10 (not 8-bit baseline)";
            k++;
        } else if (run == 15) {
            k += 16;
            if (k > 64) return "zero run (ZRL) past the end of the block";
        } else if (run == 0) {
            break;
        } else {
            return "undefined AC symbol (run with size 0)";
        }
        if (ur_overrun(r)) return "entropy-coded data ended early";
    }
    if (ur_overrun(r)) return "entropy-coded data ended early";
    return NULL;
}

static const char *skip_mcus(Scan *s, UReader *r, const DecTable *dec, int *pred, long m,
                             long m1, long *errm)
{
    const char *err = NULL;
    for (; m < m1 && !err; m++) {
        FOR_EACH_BLOCK_INDEX(s, m, {
            (void)bidx;
            if (!err)
                err = ur_skip_block(r, &dec[comp->dc_tbl], &dec[4 + comp->ac_tbl], &pred[ci]);
        });
        if (err) *errm = m;
    }
    return err;
}

static PyObject *py_recode_scan(PyObject *self, PyObject *args)
{
    Py_buffer data;
    PyObject *comps, *dcs, *acs, *fills;
    int mcus_wide, mcus_high, restart, verify = 0;
    if (!PyArg_ParseTuple(args, "y*OOOiiiO|p", &data, &comps, &dcs, &acs, &mcus_wide,
                          &mcus_high, &restart, &fills, &verify))
        return NULL;
    Scan s;
    DecTable *dec = NULL;
    EncTable *enc = NULL;
    BitWriter bw = {0};
    BitWriter sw = {0}; /* verify: the re-coded bits again, unstuffed */
    int16_t *edited = NULL;
    Py_ssize_t edited_len = 0, edited_cap = 0;
    uint8_t *ubuf = NULL;
    const char *err = NULL;
    int missing = -1;
    long errm = 0;
    CompFill fill[MAX_SCAN_COMPS];
    /* The masks stand in for coefficient buffers: one byte per block. */
    if (parse_scan_sized(comps, mcus_wide, mcus_high, restart, 0, 1, &s) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    PyObject *fseq = PySequence_Fast(fills, "fills must be a sequence");
    if (!fseq) goto fail;
    if (PySequence_Fast_GET_SIZE(fseq) != s.ncomps) {
        Py_DECREF(fseq);
        PyErr_SetString(PyExc_ValueError, "one fill per scan component is needed");
        goto fail;
    }
    for (int i = 0; i < s.ncomps; i++) {
        int mode, dc;
        PyObject *item = PySequence_Fast_GET_ITEM(fseq, i);
        if (!PyTuple_Check(item)) { /* PyArg_ParseTuple would raise SystemError */
            Py_DECREF(fseq);
            PyErr_SetString(PyExc_TypeError, "each fill must be a (mode, dc) tuple");
            goto fail;
        }
        if (!PyArg_ParseTuple(item, "ii", &mode, &dc)) {
            Py_DECREF(fseq);
            goto fail;
        }
        /* The DC is stored as int16 and must be an 8-bit baseline value (as decode_block
         * requires), else the output would hold a DC our own decoder refuses. */
        if (mode < 0 || mode > 1 || dc < -1024 || dc > 1023) {
            Py_DECREF(fseq);
            PyErr_Format(PyExc_ValueError, "fill (%d, %d): mode must be 0 or 1, DC -1024..1023",
                         mode, dc);
            goto fail;
        }
        fill[i].mode = (uint8_t)mode;
        fill[i].dc = dc;
    }
    Py_DECREF(fseq);
    dec = PyMem_RawCalloc(8, sizeof(DecTable));
    enc = PyMem_RawCalloc(8, sizeof(EncTable));
    if (!dec || !enc) {
        PyErr_NoMemory();
        goto fail;
    }
    if (build_scan_tables(&s, dcs, acs, dec, enc) < 0) goto fail;
    const uint8_t *in = data.buf;
    Py_ssize_t inlen = data.len;
    ubuf = PyMem_RawMalloc((size_t)inlen + 16);
    bw.cap = inlen + 1024;
    bw.out = PyMem_RawMalloc((size_t)bw.cap);
    sw.nostuff = 1;
    sw.cap = 4096;
    sw.out = PyMem_RawMalloc((size_t)sw.cap);
    if (!ubuf || !bw.out || !sw.out) {
        PyErr_NoMemory();
        goto fail;
    }
    long total = s.total_mcus;
    long interval = s.restart_interval ? s.restart_interval : total;
    if (interval <= 0) interval = 1;
    Py_ssize_t pos = 0; /* start of the current interval in the stuffed input */
    int rst = 0;
    int16_t blk[64];
    Py_BEGIN_ALLOW_THREADS
    for (long m0 = 0; m0 < total && !err; m0 += interval) {
        long m1 = m0 + interval < total ? m0 + interval : total;
        int last = m1 >= total;
        /* Find this interval's end: the next RSTn (or the end of the data). */
        Py_ssize_t end = inlen, next = inlen;
        if (!last) {
            Py_ssize_t i = pos;
            for (; i + 1 < inlen; i++) {
                if (in[i] != 0xFF) continue;
                uint8_t c = in[i + 1];
                if (c == 0x00) {
                    i++;
                    continue;
                }
                if (c == 0xFF) continue; /* fill byte */
                break;
            }
            if (i + 1 >= inlen) {
                err = "missing RST marker";
                errm = m1;
                break;
            }
            end = i;
            while (end > pos && in[end - 1] == 0xFF) end--; /* fill bytes before RSTn */
            if (in[i + 1] != 0xD0 + rst) {
                err = "RST marker out of sequence (or missing)";
                errm = m1;
                break;
            }
            next = i + 2;
        }
        UReader r = {ubuf, unstuff(in, pos, end, ubuf), 0};
        int in_pred[MAX_SCAN_COMPS] = {0}, out_pred[MAX_SCAN_COMPS] = {0};
        long first = -1;
        for (long m = m0; m < m1 && first < 0; m++) {
            if (mcu_planned(&s, m)) first = m;
        }
        if (first < 0) {
            /* Untouched interval: validate, then copy its bytes as they are. */
            err = skip_mcus(&s, &r, dec, in_pred, m0, m1, &errm);
            if (err) break;
            if (!last && r.len * 8 - r.bitpos >= 8) {
                err = "extra entropy-coded bytes before an RST marker";
                errm = m1;
                break;
            }
            /* The writer is byte-aligned here (start of scan, or just after an RSTn). */
            if (bw_reserve(&bw, end - pos + 2) < 0) break;
            memcpy(bw.out + bw.len, in + pos, (size_t)(end - pos));
            bw.len += end - pos;
        } else {
            /* Alternate: copy the bits of MCUs without edits (validated symbol by symbol),
             * re-code from each planned MCU until the DC predictors agree again. */
            long m = m0;
            Py_ssize_t copy_from = 0;
            while (!err) {
                long nextp = m;
                while (nextp < m1 && !mcu_planned(&s, nextp)) nextp++;
                err = skip_mcus(&s, &r, dec, in_pred, m, nextp, &errm);
                if (err) break;
                m = nextp;
                bw_copy_bits(&bw, r.d, copy_from, r.bitpos);
                if (m >= m1) break;
                for (int i = 0; i < s.ncomps; i++) out_pred[i] = in_pred[i];
                int check_pred[MAX_SCAN_COMPS], sw_pred[MAX_SCAN_COMPS];
                for (int i = 0; i < s.ncomps; i++) check_pred[i] = sw_pred[i] = out_pred[i];
                long recode_start = m;
                sw.len = 0;
                sw.bits = 0;
                sw.acc = 0;
                edited_len = 0;
                /* Re-code until the DC predictors agree again at an MCU with no edit. */
                for (; m < m1 && !err; m++) {
                    if (!mcu_planned(&s, m)) {
                        int same = 1;
                        for (int i = 0; i < s.ncomps; i++) same &= in_pred[i] == out_pred[i];
                        if (same) break;
                    }
                    FOR_EACH_BLOCK_INDEX(&s, m, {
                        if (!err)
                            err = ur_block(&r, &dec[comp->dc_tbl], &dec[4 + comp->ac_tbl], blk,
                                           &in_pred[ci]);
                        if (!err && MASK(comp, bidx)) {
                            memset(blk + 1, 0, 63 * sizeof(int16_t));
                            if (fill[ci].mode == 0) blk[0] = (int16_t)fill[ci].dc;
                        }
                        if (!err)
                            err = encode_block(&bw, &enc[comp->dc_tbl], &enc[4 + comp->ac_tbl], blk,
                                               &out_pred[ci], &missing);
                        if (!err && verify) {
                            encode_block(&sw, &enc[comp->dc_tbl], &enc[4 + comp->ac_tbl], blk,
                                         &sw_pred[ci], &missing);
                            if (edited_len + 64 > edited_cap) {
                                Py_ssize_t cap = edited_cap * 2 + 64 * 64;
                                int16_t *p = PyMem_RawRealloc(edited, (size_t)cap * sizeof(int16_t));
                                if (!p) {
                                    bw.oom = 1;
                                    err = "out of memory";
                                } else {
                                    edited = p;
                                    edited_cap = cap;
                                }
                            }
                            if (!err) {
                                memcpy(edited + edited_len, blk, 64 * sizeof(int16_t));
                                edited_len += 64;
                            }
                        }
                    });
                    if (err) errm = m;
                }
                if (err) break;
                if (verify) {
                    /* Decode the re-coded span again: it must give exactly the edited blocks. */
                    bw_flush(&sw);
                    /* Out of memory in the check buffer: fail the call (a bare break here
                     * would leave the rest of the interval out of the output). */
                    if (sw.oom || bw_reserve(&sw, 16) < 0) {
                        bw.oom = 1;
                        break;
                    }
                    memset(sw.out + sw.len, 0, 16);
                    UReader vr = {sw.out, sw.len, 0};
                    Py_ssize_t at = 0;
                    int16_t back[64];
                    for (long mm = recode_start; mm < m && !err; mm++) {
                        FOR_EACH_BLOCK_INDEX(&s, mm, {
                            (void)bidx;
                            if (!err)
                                err = ur_block(&vr, &dec[comp->dc_tbl], &dec[4 + comp->ac_tbl],
                                               back, &check_pred[ci]);
                            if (!err && memcmp(back, edited + at, sizeof back) != 0)
                                err = "internal check failed: re-coded block does not decode back";
                            at += 64;
                        });
                        if (err) errm = mm;
                    }
                    if (err) break;
                }
                copy_from = r.bitpos;
            }
            if (err) break;
            if (!last && r.len * 8 - r.bitpos >= 8) {
                err = "extra entropy-coded bytes before an RST marker";
                errm = m1;
                break;
            }
            bw_flush(&bw);
        }
        if (bw.oom) break;
        if (!last) {
            if (bw_reserve(&bw, 2) < 0) break;
            bw.out[bw.len++] = 0xFF;
            bw.out[bw.len++] = (uint8_t)(0xD0 + rst);
            rst = (rst + 1) & 7;
        }
        pos = next;
    }
    Py_END_ALLOW_THREADS
    if (bw.oom) {
        PyErr_NoMemory();
        goto fail;
    }
    if (err) {
        raise_codec_error(err, missing, errm, total);
        goto fail;
    }
    PyObject *result = PyBytes_FromStringAndSize((const char *)bw.out, bw.len);
    PyMem_RawFree(bw.out);
    PyMem_RawFree(sw.out);
    PyMem_RawFree(edited);
    PyMem_RawFree(ubuf);
    PyMem_RawFree(dec);
    PyMem_RawFree(enc);
    release_scan(&s);
    PyBuffer_Release(&data);
    return result;
fail:
    PyMem_RawFree(bw.out);
    PyMem_RawFree(sw.out);
    PyMem_RawFree(edited);
    PyMem_RawFree(ubuf);
    PyMem_RawFree(dec);
    PyMem_RawFree(enc);
    release_scan(&s);
    PyBuffer_Release(&data);
    return NULL;
}
