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

/* Emit the writer's whole pending bytes (room for them must be reserved). */
static inline void bw_drain(BitWriter *bw)
{
    while (bw->bits >= 8) {
        uint8_t b = (uint8_t)(bw->acc >> (bw->bits - 8));
        bw->out[bw->len++] = b;
        if (b == 0xFF && !bw->nostuff) bw->out[bw->len++] = 0;
        bw->bits -= 8;
    }
}

/* Append bits [from, to) of an un-stuffed buffer to the writer (it re-stuffs). `d` must
 * be readable 8 bytes past (to + 7) / 8, as UReader data is. Once the writer is at a byte
 * boundary, 7 bytes are moved per 64-bit load; a group holding a 0xFF byte goes byte by
 * byte (stuffed). */
static void bw_copy_bits(BitWriter *bw, const uint8_t *d, Py_ssize_t from, Py_ssize_t to)
{
    if (from >= to) return;
    if (bw_reserve(bw, ((to - from) >> 3) * 2 + 32) < 0) return;
    bw_drain(bw);
    UReader src = {d, 0, from};
    if (bw->bits) { /* complete the writer's partial byte */
        int n = 8 - bw->bits;
        if (n > to - from) n = (int)(to - from);
        bw->acc = (bw->acc << n) | (ur_load64(&src) >> (64 - n));
        bw->bits += n;
        src.bitpos += n;
        bw_drain(bw);
    }
    if (bw->bits == 0) {
        uint8_t *o = bw->out + bw->len;
        while (to - src.bitpos >= 64) {
            uint64_t w = ur_load64(&src); /* the top 56 bits are this group's 7 bytes */
            uint64_t x = ~w | 0xFF;       /* a zero byte in x = a 0xFF byte in w */
            int has_ff = ((x - 0x0101010101010101ull) & ~x & 0x8080808080808080ull) != 0;
            if (!has_ff || bw->nostuff) {
#if defined(__GNUC__)
                uint64_t be = __builtin_bswap64(w);
#else
                uint64_t be = 0;
                for (int i = 0; i < 8; i++) be |= ((w >> (56 - 8 * i)) & 0xFF) << (8 * i);
#endif
                memcpy(o, &be, 8); /* 8 written, 7 kept: room reserved above */
                o += 7;
            } else {
                for (int i = 0; i < 7; i++) {
                    uint8_t b = (uint8_t)(w >> (56 - 8 * i));
                    *o++ = b;
                    if (b == 0xFF) *o++ = 0;
                }
            }
            src.bitpos += 56;
        }
        bw->len = o - bw->out;
    }
    while (to - src.bitpos >= 8) {
        bw_put(bw, (uint32_t)(ur_load64(&src) >> 56), 8);
        src.bitpos += 8;
    }
    if (to > src.bitpos) {
        int n = (int)(to - src.bitpos);
        bw_put(bw, (uint32_t)(ur_load64(&src) >> (64 - n)), n);
    }
}

/* Un-stuff data[s:e) into buf (which has room for e - s + 8 bytes); returns length. */
static Py_ssize_t unstuff(const uint8_t *data, Py_ssize_t s, Py_ssize_t e, uint8_t *buf)
{
    Py_ssize_t n = 0, i = s;
    while (i < e) {
        const uint8_t *ff = memchr(data + i, 0xFF, (size_t)(e - i));
        Py_ssize_t j = ff ? ff - data : e;
        memcpy(buf + n, data + i, (size_t)(j - i));
        n += j - i;
        if (j >= e) break;
        buf[n++] = 0xFF;
        i = j + 1;
        if (i < e && data[i] == 0x00) i++;
    }
    memset(buf + n, 0, 8);
    return n;
}

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

/* Fill t->multi (see DecTable): for every MULTI_BITS-bit window, the longest run of
 * complete AC symbols (code and extra bits inside the window) that decode exactly as the
 * single-symbol path would, up to and including an EOB. A symbol the single path would
 * refuse (invalid code, size > 10, run with size 0) or that does not fit ends the group;
 * an empty group (entry 0) sends the caller to the single-symbol path, which reports it.
 *
 * Each symbol advances k by at least 1, so one check before the group (k <= room) covers
 * every symbol in it: a coefficient needs k + run <= 63 and a ZRL k + 16 <= 64, i.e.
 * k <= 64 after each symbol, and k grows; an EOB must come while k < 64 (at k = 64 the
 * block is complete and the next code belongs to the next block). */
static void build_multi(DecTable *t)
{
    if (t->multi_built) return;
    for (uint32_t p = 0; p < (1u << MULTI_BITS); p++) {
        uint64_t v = (uint64_t)p << (64 - MULTI_BITS);
        int pos = 0, adv = 0, eob = 0, n = 0;
        while (pos < MULTI_BITS) {
            int len;
            int rs = ur_symbol_in(v << pos, t, &len);
            if (rs < 0) break;
            int run = rs >> 4, sz = rs & 15;
            if (pos + len + sz > MULTI_BITS) break; /* needs bits past the window */
            if (sz) {
                if (sz > 10) break;
                adv += run + 1;
            } else if (run == 15) {
                adv += 16;
            } else if (run == 0) {
                eob = 1;
            } else {
                break;
            }
            pos += len + sz;
            n++;
            if (eob || adv >= 63) break;
        }
        int room = 64 - adv - eob;
        t->multi[p] = (n && room >= 1) ? (uint16_t)((eob << 10) | (room << 4) | pos) : 0;
    }
    t->multi_built = 1;
}

/* Skip one AC symbol the multi table did not cover, as ur_block does without values:
 * sets *n to the bits it takes and advances *k (to >= 64 at an EOB). */
static inline const char *ur_skip_one(const DecTable *ac, uint64_t v, int *k, int *n)
{
    int e = ac->skip[v >> (64 - LOOK_BITS)];
    int rs, len;
    if (e >> 8) {
        *n = e >> 8;
        rs = e & 0xFF;
    } else {
        rs = ur_symbol_in(v, ac, &len);
        if (rs < 0) return "invalid AC Huffman code";
        *n = len + (rs & 15);
    }
    int run = rs >> 4, sz = rs & 15;
    if (sz) {
        *k += run;
        if (*k > 63) return "AC run past the end of the block";
        if (sz > 10) return "AC coefficient size > 10 (not 8-bit baseline)";
        *k += 1;
    } else if (run == 15) {
        *k += 16;
        if (*k > 64) return "zero run (ZRL) past the end of the block";
    } else if (run == 0) {
        *k = 64 | 128; /* EOB: done */
    } else {
        return "undefined AC symbol (run with size 0)";
    }
    return NULL;
}

/* Skip one block: the DC difference is decoded (the predictor must be tracked), AC
 * symbols are only measured, several per table lookup (build_multi) where they fit.
 * The bits are held in a register window `w` of `left` valid bits (>= 32 before each
 * symbol: a code and its extra bits take at most 16 + 11), reloaded from memory only
 * when it runs low. The same checks as ur_block, in the same order. */
static const char *ur_skip_block(UReader *r, const DecTable *dc, const DecTable *ac, int *pred)
{
    Py_ssize_t pos = r->bitpos, end = r->len * 8;
    if (pos > end) return "entropy-coded data ended early";
    uint64_t w = ur_load64(r);
    int left = 64 - (int)(pos & 7);
    int len, n;
    int e = dc->look[w >> (64 - LOOK_BITS)];
    int s = e & 0xFF;
    if (e >> 8) {
        len = e >> 8;
    } else {
        s = ur_symbol_in(w, dc, &len);
        if (s < 0) return "invalid DC Huffman code";
    }
    if (s > 11) return "DC difference category > 11 (not 8-bit baseline)";
    int dcv = *pred + (s ? extend((int)((w << len) >> (64 - s)), s) : 0);
    /* As decode_block: quantized 8-bit DC values lie in -1024..1023 (T.81 A.3.3). */
    if (dcv < -1024 || dcv > 1023) return "DC coefficient outside the 8-bit range";
    *pred = dcv;
    n = len + s;
    w <<= n;
    pos += n;
    left -= n;
    int k = 1;
    while (k < 64) {
        if (left < 32) {
            r->bitpos = pos;
            w = ur_load64(r);
            left = 64 - (int)(pos & 7);
        }
        int m = ac->multi[w >> (64 - MULTI_BITS)];
        int room = (m >> 4) & 63, eob = m >> 10;
        if (k <= room) { /* k + advance <= 64, and < 64 before an EOB */
            n = m & 15;
            k = (k + 64 - room - eob) | (eob << 6);
        } else {
            const char *err = ur_skip_one(ac, w, &k, &n);
            if (err) return err;
        }
        w <<= n;
        pos += n;
        left -= n;
        if (pos > end) return "entropy-coded data ended early";
    }
    r->bitpos = pos;
    return NULL;
}

/* Symbol-only decode of MCUs [m, m1), tracking DC predictors; *errm = the failing MCU. */
static const char *skip_mcus(Scan *s, UReader *r, const DecTable *dec, int *pred, long m,
                             long m1, long *errm)
{
    const char *err = NULL;
    if (s->ncomps == 1) { /* one block per MCU: no geometry needed */
        const DecTable *dc = &dec[s->comp[0].dc_tbl], *ac = &dec[4 + s->comp[0].ac_tbl];
        for (; m < m1; m++) {
            err = ur_skip_block(r, dc, ac, &pred[0]);
            if (err) break;
        }
    } else { /* the MCU's blocks in coding order: component by component */
        const DecTable *dcs[MAX_BLOCKS_IN_MCU], *acs[MAX_BLOCKS_IN_MCU];
        int ci_of[MAX_BLOCKS_IN_MCU], nb = 0;
        for (int ci = 0; ci < s->ncomps; ci++) {
            const ScanComp *c = &s->comp[ci];
            for (int i = 0; i < c->h * c->v && nb < MAX_BLOCKS_IN_MCU; i++) {
                dcs[nb] = &dec[c->dc_tbl];
                acs[nb] = &dec[4 + c->ac_tbl];
                ci_of[nb++] = ci;
            }
        }
        for (; m < m1 && !err; m++) {
            for (int b = 0; b < nb; b++) {
                err = ur_skip_block(r, dcs[b], acs[b], &pred[ci_of[b]]);
                if (err) break;
            }
        }
        if (err) m--;
    }
    if (err) *errm = m;
    return err;
}

static PyObject *py_recode_scan(PyObject *self, PyObject *args)
{
    Py_buffer data;
    PyObject *comps, *dcs, *acs, *fills;
    int mcus_wide, mcus_high, restart, verify = 0, single = 0;
    if (!PyArg_ParseTuple(args, "y*OOOiiiO|pp", &data, &comps, &dcs, &acs, &mcus_wide,
                          &mcus_high, &restart, &fills, &verify, &single))
        return NULL;
    Scan s;
    PyObject *result = NULL;
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
    /* single: tests compare the multi-symbol skip path with the single-symbol one (an
     * unbuilt multi table sends every symbol there). */
    for (int i = 4; i < 8 && !single; i++) {
        if (dec[i].present) build_multi(&dec[i]);
    }
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
    result = PyBytes_FromStringAndSize((const char *)bw.out, bw.len);
fail: /* and success: one release of everything, `result` NULL unless it was built */
    PyMem_RawFree(bw.out);
    PyMem_RawFree(sw.out);
    PyMem_RawFree(edited);
    PyMem_RawFree(ubuf);
    PyMem_RawFree(dec);
    PyMem_RawFree(enc);
    release_scan(&s);
    PyBuffer_Release(&data);
    return result;
}
