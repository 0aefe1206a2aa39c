/*
 * kernels_check — tests of kernels/: conversions, quantisation, and every
 * kernel of a variant against the scalar oracle, bit for bit.
 *
 *   kernels_check convert | quant | layout
 *   kernels_check tmat VARIANT | f16mv VARIANT
 *   kernels_check name [NAME]    (prints the implementation chosen)
 *
 * Prints "ok" and exits 0; on a mismatch prints it and exits 1; exits 77
 * (and prints "unsupported") when this CPU lacks VARIANT.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kern.h"   /* wf_exp_le0 */

static int fails;
static int use(const char *v);

#define CHECK(c, ...) do { if (!(c)) { if (fails++ < 20) { \
	printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } } } while (0)

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}
static int rndn(int n) { return (int)(rnd() % (uint32_t)n); }

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static void *xalloc(size_t n)
{
	void *p = aligned_alloc(64, (n + 63) / 64 * 64 + 64);
	if (!p) {
		printf("out of memory\n");
		exit(1);
	}
	return p;
}

/* ---- conversions ---- */

/* Independent oracles: value of a half from its fields by ldexp; nearest
 * half / bfloat16 by bracketing in the ordered code space and comparing
 * exact double distances. */
static double half_val(uint16_t h)
{
	int e = (h >> 10) & 31, m = h & 0x3ff;
	double v = e ? ldexp(1024 + m, e - 25) : ldexp(m, -24);
	return h & 0x8000 ? -v : v;
}

static uint16_t ref_f32_to_f16(float f)
{
	double a = fabs((double)f);
	uint16_t sign = signbit(f) ? 0x8000 : 0;
	if (a >= 65520.0)
		return sign | 0x7c00;
	uint16_t lo = 0, hi = 0x7bff;   /* largest half <= a */
	while (lo < hi) {
		uint16_t mid = (uint16_t)((lo + hi + 1) / 2);
		if (half_val(mid) <= a) lo = mid; else hi = mid - 1;
	}
	if (half_val(lo) == a)
		return sign | lo;
	double up = lo == 0x7bff ? 65536.0 : half_val(lo + 1);
	double dl = a - half_val(lo), du = up - a;
	uint16_t r = dl < du ? lo : du < dl ? lo + 1 : (lo & 1) ? lo + 1 : lo;
	return sign | r;
}

static uint16_t ref_f32_to_bf16(float f)
{
	uint32_t x = f2u(f);
	uint16_t lo = (uint16_t)(x >> 16);
	if ((x & 0xffff) == 0)
		return lo;
	/* the two neighbours have the same sign; compare magnitudes exactly */
	double a = fabs((double)f), vl = fabs((double)u2f((uint32_t)lo << 16));
	double vh = (lo & 0x7fff) == 0x7f7f ? ldexp(1.0, 128) : fabs((double)u2f((uint32_t)(lo + 1) << 16));
	double dl = a - vl, dh = vh - a;
	return dl < dh ? lo : dh < dl ? lo + 1 : (lo & 1) ? lo + 1 : lo;
}

static void test_convert(void)
{
	/* all 65536 halves: exact value, and back again */
	for (uint32_t h = 0; h < 65536; h++) {
		float f = wf_f16_to_f32((uint16_t)h);
		int e = (h >> 10) & 31;
		if (e == 31) {
			CHECK((h & 0x3ff) ? isnan(f) : isinf(f), "f16 %04x -> %g", h, f);
			CHECK(((f2u(f) >> 13) & 0x3ff) == (h & 0x3ff) && !!signbit(f) == !!(h & 0x8000),
			      "f16 %04x payload/sign", h);
			uint16_t back = wf_f32_to_f16(f);
			if (h & 0x3ff)
				CHECK(back == (h | 0x200), "nan %04x -> %04x", h, back);
			else
				CHECK(back == h, "inf %04x -> %04x", h, back);
			continue;
		}
		CHECK((double)f == half_val((uint16_t)h) && !!signbit(f) == !!(h & 0x8000),
		      "f16 %04x -> %a", h, f);
		CHECK(wf_f32_to_f16(f) == h, "round trip %04x -> %04x", h, wf_f32_to_f16(f));
		/* bf16 round trip of every bf16 pattern too */
		float b = wf_bf16_to_f32((uint16_t)h);
		if (!isnan(b))
			CHECK(wf_f32_to_bf16(b) == h, "bf16 round trip %04x", h);
		else
			CHECK(wf_f32_to_bf16(b) == (h | 0x40), "bf16 nan %04x", h);
	}
	/* named RNE cases */
	struct { float f; uint16_t h; } c[] = {
		{ 1.0f + 0x1p-11f, 0x3c00 },           /* tie, even down */
		{ 1.0f + 3 * 0x1p-11f, 0x3c02 },       /* tie, even up */
		{ 1.0f + 0x1p-11f + 0x1p-20f, 0x3c01 },/* above tie */
		{ 65504.0f, 0x7bff }, { 65519.99f, 0x7bff }, { 65520.0f, 0x7c00 },
		{ -65520.0f, 0xfc00 }, { 1e10f, 0x7c00 },
		{ 0x1p-24f, 0x0001 }, { 0x1p-25f, 0x0000 }, { 0x1.000002p-25f, 0x0001 },
		{ 0x1.8p-24f, 0x0002 }, { 0x1.4p-24f, 0x0001 }, { 0x1p-26f, 0x0000 },
		{ -0x1p-25f, 0x8000 }, { 0x1.ff8p-15f, 0x03ff }, /* largest subnormal */
		{ 0x1.ffcp-15f, 0x0400 }, /* tie: rounds up to the smallest normal */ { 0x1p-14f, 0x0400 }, { -0.0f, 0x8000 },
		{ 0x1p-149f, 0x0000 }, { INFINITY, 0x7c00 }, { -INFINITY, 0xfc00 },
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
		CHECK(wf_f32_to_f16(c[i].f) == c[i].h, "f16(%a) = %04x, want %04x", c[i].f,
		      wf_f32_to_f16(c[i].f), c[i].h);
	CHECK(wf_f32_to_f16(NAN) == 0x7e00, "nan -> %04x", wf_f32_to_f16(NAN));
	CHECK(wf_f32_to_bf16(1.0f + 0x1p-8f) == 0x3f80, "bf16 tie down");
	CHECK(wf_f32_to_bf16(1.0f + 3 * 0x1p-8f) == 0x3f82, "bf16 tie up");
	CHECK(wf_f32_to_bf16(3.4028235e38f) == 0x7f80, "bf16 overflow");
	CHECK(wf_f32_to_bf16(u2f(0x7f800001)) == 0x7fc0, "bf16 snan quieted");
	/* random floats against the bracketing oracles, weighted to the
	 * half range and to ties */
	for (int i = 0; i < 300000; i++) {
		uint32_t u = rnd() << 16 ^ rnd();
		if (i % 3 == 1)
			u = (u & 0x80ffffffu) | (uint32_t)(0x30 + rndn(0x18)) << 24;
		if (i % 3 == 2)
			u &= ~0xfffu ^ (rndn(2) ? 0x1000u : 0);   /* ties and near-ties */
		float f = u2f(u);
		if (isnan(f))
			continue;
		uint16_t a = wf_f32_to_f16(f), b = ref_f32_to_f16(f);
		CHECK(a == b, "f16(%a) = %04x, oracle %04x", f, a, b);
		a = wf_f32_to_bf16(f);
		b = ref_f32_to_bf16(f);
		CHECK(a == b, "bf16(%a) = %04x, oracle %04x", f, a, b);
	}
}

/* ---- quantisation ---- */

/* Transcription of quantize_row_i8_s. */
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
static float ref_quant(const float *x, int n, int8_t *q, int32_t *sum)
{
	double max = 0.00001;
	for (int i = 0; i < n; i++)
		max = MAX(max, fabs((double)x[i]));
	float s = (float)(127 / max);
	*sum = 0;
	for (int i = 0; i < n; i++) {
		float v = nearbyintf(x[i] * s);
		q[i] = (int8_t)MAX(-128, MIN(127, v));
		*sum += q[i];
	}
	return s;
}

static void quant_cmp(const float *x, int n, const char *what)
{
	int8_t q[4096], r[4096];
	int32_t sq, sr;
	float s = wf_quantize_i8(x, n, q, &sq), t = ref_quant(x, n, r, &sr);
	CHECK(f2u(s) == f2u(t), "%s: scale %a vs %a", what, s, t);
	CHECK(sq == sr, "%s: sum %d vs %d", what, sq, sr);
	CHECK(!memcmp(q, r, (size_t)n), "%s: q differ", what);
}

static void test_quant(void)
{
	float x[4096];
	int8_t q[4096];
	int32_t sum;
	int n;
	/* half-way cases: max 127 gives s = 1, x = k + 0.5 is an exact tie */
	x[0] = 127;
	n = 1;
	for (int k = -126; k <= 125; k++)
		x[n++] = k + 0.5f;
	float s = wf_quantize_i8(x, n, q, &sum);
	CHECK(s == 1.0f, "s = %g", s);
	for (int i = 1; i < n; i++) {
		int k = (int)floorf(x[i]), want = (k % 2 == 0) ? k : k + 1;
		CHECK(q[i] == want, "round(%g) = %d, want %d", x[i], q[i], want);
	}
	quant_cmp(x, n, "ties s=1");
	/* s = 2 (max 63.5): x = 1.25 -> 2.5 -> 2, -1.75 -> -3.5 -> -4 */
	float y[4] = { 63.5f, 1.25f, -1.75f, 0.25f };
	s = wf_quantize_i8(y, 4, q, &sum);
	CHECK(s == 2.0f && q[0] == 127 && q[1] == 2 && q[2] == -4 && q[3] == 0 && sum == 125,
	      "s=2 ties: %g %d %d %d %d sum %d", s, q[0], q[1], q[2], q[3], sum);
	/* tiny max: the 1e-5 floor */
	for (int i = 0; i < 64; i++)
		x[i] = (float)((rndn(2001) - 1000) * 1e-8);
	s = wf_quantize_i8(x, 64, q, &sum);
	CHECK(s == (float)(127 / 1e-5), "floor: s = %a", s);
	quant_cmp(x, 64, "tiny");
	memset(x, 0, sizeof x);
	s = wf_quantize_i8(x, 100, q, &sum);
	CHECK(s == (float)(127 / 1e-5) && sum == 0, "zeros");
	/* extremes of the range: max element maps to ±127 */
	float z[3] = { -3.0f, 3.0f, 1.5f };
	wf_quantize_i8(z, 3, q, &sum);
	CHECK(q[0] == -127 && q[1] == 127 && q[2] == 64, "extremes %d %d %d", q[0], q[1], q[2]);
	/* NaN ignored, quantised to 0 */
	float w[3] = { NAN, 2.0f, -1.0f };
	s = wf_quantize_i8(w, 3, q, &sum);
	CHECK(s == 63.5f && q[0] == 0 && q[1] == 127 && q[2] == -64 && sum == 63, "nan");
	/* random vectors of many scales, against the transcription */
	for (int it = 0; it < 2000; it++) {
		n = 1 + rndn(4096);
		float sc = ldexpf(1.0f, rndn(40) - 25);
		for (int i = 0; i < n; i++)
			x[i] = ((float)rnd() / 4294967296.0f * 2 - 1) * sc;
		if (it % 4 == 0)   /* integer-ish values make many ties */
			for (int i = 0; i < n; i++)
				x[i] = (float)(rndn(509) - 254) / 2;
		quant_cmp(x, n, "random");
	}
	CHECK(wf_quantize_i8(x, 10, q, NULL) > 0, "NULL sum");
	/* against the scalar quantiser, NaN and inf included, every tail length */
	const char *v = wf_kernels_name();
	for (int it = 0; it < 3000; it++) {
		n = it < 100 ? it : 1 + rndn(4096);
		for (int i = 0; i < n; i++)
			x[i] = (float)(rndn(2000001) - 1000000) / (float)(1 + rndn(1000));
		if (it % 7 == 3 && n)
			x[rndn(n)] = NAN;
		if (it % 11 == 5 && n)
			x[rndn(n)] = rndn(2) ? INFINITY : -INFINITY;
		int8_t r[4096];
		int32_t sr;
		float sv = wf_quantize_i8(x, n, q, &sum);
		use("scalar");
		float ss = wf_quantize_i8(x, n, r, &sr);
		use(v);
		CHECK(f2u(sv) == f2u(ss) && sum == sr && !memcmp(q, r, (size_t)n),
		      "%s quantiser differs from scalar at n=%d (it %d)", v, n, it);
	}
}

/* ---- packed layout and the ternary kernels ---- */

struct mat {
	int rows, cols;
	int8_t *t;
	struct wf_tmat w;
};

static void mat_make(struct mat *m, int rows, int cols, int mode)
{
	m->rows = rows;
	m->cols = cols;
	m->t = xalloc((size_t)rows * cols);
	for (size_t i = 0; i < (size_t)rows * cols; i++)
		m->t[i] = mode == 0 ? (int8_t)(rndn(3) - 1) : mode == 1 ? 1 : -1;
	uint8_t *d = xalloc(wf_tmat_packed_size(rows, cols));
	wf_tmat_pack(d, m->t, rows, cols);
	m->w.rows = rows;
	m->w.cols = cols;
	m->w.scale = 0.5f + (float)rndn(1000) / 997.0f;
	m->w.data = d;
}

static void mat_free(struct mat *m)
{
	free(m->t);
	free((void *)m->w.data);
}

static void fill_q(int8_t *q, size_t n, int mode)
{
	for (size_t i = 0; i < n; i++)
		q[i] = mode == 0 ? (int8_t)(rndn(256) - 128) : mode == 1 ? 127 : mode == 2 ? -128
		     : (int8_t)(rndn(2) ? 127 : -128);
}

static void test_layout(void)
{
	int shapes[][2] = { {1, 128}, {3, 256}, {4, 128}, {5, 384}, {9, 2176} };
	for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
		struct mat m;
		int R = shapes[i][0], C = shapes[i][1];
		mat_make(&m, R, C, 0);
		CHECK(wf_tmat_packed_size(R, C) == (size_t)((R + 3) / 4 * 4) * C / 4, "size");
		int8_t *t = xalloc((size_t)C);
		for (int r = 0; r < R; r++) {
			wf_tmat_unpack_row(&m.w, r, t);
			CHECK(!memcmp(t, m.t + (size_t)r * C, (size_t)C), "unpack row %d of %dx%d", r, R, C);
		}
		/* padding rows are zero rows */
		for (int r = R; r < (R + 3) / 4 * 4; r++) {
			wf_tmat_unpack_row(&m.w, r, t);
			int nz = 0;
			for (int c = 0; c < C; c++)
				nz += t[c] != 0;
			CHECK(nz == 0, "padding row %d", r);
		}
		free(t);
		mat_free(&m);
	}
	/* the documented byte layout: row 0, columns 0/32/64/96 = -1,0,+1,0 */
	int8_t t[4 * 128] = {0};
	t[0] = -1; t[64] = 1; t[128 + 1] = 1;   /* row 1, column 1 */
	uint8_t d[128];
	wf_tmat_pack(d, t, 2, 128);
	CHECK(d[0] == (0 | 1 << 2 | 2 << 4 | 1 << 6), "byte 0 = %d", d[0]);
	CHECK(d[32 + 1] == (2 | 1 << 2 | 1 << 4 | 1 << 6), "row 1 byte 1 = %d", d[33]);
	CHECK(d[64] == 0x55 && d[127] == 0x55, "padding");

	/* the scalar oracle against a dense product from the trits */
	struct mat m;
	mat_make(&m, 13, 640, 0);
	int8_t q[640];
	fill_q(q, 640, 0);
	float out[13];
	wf_kernels_init("scalar", NULL, 0);
	wf_tmat_vec(&m.w, q, 3.0f, out, 0, 13);
	for (int r = 0; r < 13; r++) {
		int32_t dot = 0;
		for (int c = 0; c < 640; c++)
			dot += m.t[r * 640 + c] * q[c];
		float want = (float)dot / 3.0f * m.w.scale;
		CHECK(f2u(out[r]) == f2u(want), "dense row %d: %g vs %g", r, out[r], want);
	}
	mat_free(&m);
}

static int use(const char *v)
{
	char err[200];
	if (wf_kernels_init(v, err, sizeof err)) {
		printf("unsupported: %s\n", err);
		exit(77);
	}
	return 0;
}

#define SENTINEL 0x7fbadbadu

/* One shape: scalar vs variant, for vec on every r0/r1 mode and mat. */
static void tmat_case(const char *v, int rows, int cols, int n, int wmode, int qmode)
{
	struct mat m;
	mat_make(&m, rows, cols, wmode);
	int ldo = rows + rndn(3);
	int8_t *qbuf = xalloc((size_t)n * cols + 1), *q = qbuf + (rndn(2));   /* unaligned too */
	fill_q(q, (size_t)n * cols, qmode);
	float *s = xalloc(sizeof(float) * n);
	for (int j = 0; j < n; j++)
		s[j] = 1.0f + (float)rndn(100000) / 7.0f;
	size_t no = (size_t)n * ldo;
	float *a = xalloc(no * 4), *b = xalloc(no * 4);
	int ranges[4][2] = { {0, rows}, {rndn(rows + 1), rows}, {0, 0}, {0, 0} };
	ranges[2][0] = rndn(rows + 1);
	ranges[2][1] = ranges[2][0] + rndn(rows - ranges[2][0] + 1);
	ranges[3][0] = ranges[3][1] = rndn(rows + 1);   /* empty */
	for (int k = 0; k < 4; k++) {
		int r0 = ranges[k][0], r1 = ranges[k][1];
		for (size_t i = 0; i < no; i++)
			a[i] = b[i] = u2f(SENTINEL);
		use("scalar");
		wf_tmat_mat(&m.w, q, s, n, a, ldo, r0, r1);
		use(v);
		wf_tmat_mat(&m.w, q, s, n, b, ldo, r0, r1);
		for (size_t i = 0; i < no; i++) {
			int r = (int)(i % ldo), in = r >= r0 && r < r1;
			CHECK(f2u(a[i]) == f2u(b[i]), "mat %dx%d n=%d [%d,%d) w%d q%d: out[%zu] %a vs %a",
			      rows, cols, n, r0, r1, wmode, qmode, i, a[i], b[i]);
			CHECK(in || f2u(b[i]) == SENTINEL, "mat wrote outside [%d,%d) at %zu", r0, r1, i);
		}
		/* extreme inputs: the exact integer is known */
		if (k == 0 && wmode && qmode && qmode < 3) {
			int32_t tq = (wmode == 1 ? 1 : -1) * (qmode == 1 ? 127 : -128);
			float want = (float)(tq * cols) / s[0] * m.w.scale;
			CHECK(f2u(b[0]) == f2u(want), "extreme %dx%d: %a vs %a", rows, cols, b[0], want);
		}
		/* vec: token by token, against the mat oracle */
		for (int j = 0; j < n; j++) {
			for (size_t i = 0; i < (size_t)rows + 1; i++)
				b[i] = u2f(SENTINEL);
			wf_tmat_vec(&m.w, q + (size_t)j * cols, s[j], b, r0, r1);
			for (int r = r0; r < r1; r++)
				CHECK(f2u(a[(size_t)j * ldo + r]) == f2u(b[r - r0]),
				      "vec %dx%d [%d,%d) token %d row %d: %a vs %a", rows, cols, r0, r1, j, r,
				      a[(size_t)j * ldo + r], b[r - r0]);
			CHECK(f2u(b[r1 - r0]) == SENTINEL, "vec wrote past r1");
		}
	}
	free(qbuf);
	free(s);
	free(a);
	free(b);
	mat_free(&m);
}

static void test_tmat(const char *v)
{
	use(v);
	int rows[] = { 1, 2, 3, 4, 5, 7, 8, 13, 31, 64, 67 };
	int cols[] = { 128, 256, 384, 640, 2048, 2176, 4224 };
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++) {
			int n = 1 + rndn(cols[k] > 1000 ? 5 : 37);
			tmat_case(v, rows[i], cols[k], n, 0, 0);
		}
	/* token counts 1..37 (tile tails, chunk boundary at 32) */
	for (int n = 1; n <= 37; n++)
		tmat_case(v, 1 + rndn(21), 128 * (1 + rndn(5)), n, 0, 0);
	tmat_case(v, 9, 4224, 33, 0, 0);
	/* worst cases for narrow accumulators: all codes 2 (t = +1) or 0 with
	 * q = 127 / -128 everywhere; 33 blocks cross the int16 flush */
	for (int wm = 1; wm <= 2; wm++)
		for (int qm = 1; qm <= 3; qm++) {
			tmat_case(v, 5, 2048, 3, wm, qm);
			tmat_case(v, 6, 4224, 2, wm, qm);
			tmat_case(v, 3, 128 * 64, 1, wm, qm);
			tmat_case(v, 6, 4224, 12, wm, qm);   /* 6-token tiles */
		}
	tmat_case(v, 11, 6912, 14, 0, 0);
	tmat_case(v, 7, 2176, 4, 0, 3);
	/* rows longer than the AVX2 prefill buffer holds (4 x 32768 bytes):
	 * extracted in column pieces */
	tmat_case(v, 6, 128 * 258, 7, 0, 0);
	tmat_case(v, 5, 128 * 258, 4, 1, 2);
	tmat_case(v, 3, 128 * 258, 14, 0, 0);   /* and more tokens than one AVX2 pass takes */
	tmat_case(v, 300, 256, 5, 0, 0);        /* a few tokens over several row blocks */
	/* more row groups than one AVX-512 block (32) and more tokens than one
	 * pass (96), with a 12-token tile tail */
	tmat_case(v, 150, 256, 101, 0, 0);
	tmat_case(v, 70, 384, 104, 0, 0);      /* a second pass of 8: two 4-token tiles */
	tmat_case(v, 133, 2688, 20, 1, 1);      /* two column chunks, worst-case sums */
}

/* ---- attention: scores and mix ---- */

static void test_attn(const char *v)
{
	int hds[] = { 1, 3, 15, 16, 17, 31, 64, 100, 128, 129, 256 };
	for (size_t k = 0; k < sizeof hds / sizeof hds[0]; k++)
		for (int it = 0; it < 4; it++) {
			int hd = hds[k], T = 1 + rndn(41);
			size_t ld = (size_t)hd + (size_t)rndn(5);
			float *q = xalloc((size_t)hd * 4), *K = xalloc((size_t)T * ld * 4), *w = xalloc((size_t)T * 4);
			float *a = xalloc((size_t)(T + hd + 1) * 4), *b = xalloc((size_t)(T + hd + 1) * 4);
			for (int i = 0; i < hd; i++)
				q[i] = ((float)rnd() / 4294967296.0f - 0.5f) * ldexpf(1, rndn(12) - 6);
			for (size_t i = 0; i < (size_t)T * ld; i++)
				K[i] = ((float)rnd() / 4294967296.0f - 0.5f) * ldexpf(1, rndn(12) - 6);
			for (int t = 0; t < T; t++)
				w[t] = (float)rnd() / 4294967296.0f;
			float scale = 1.0f / sqrtf((float)hd);
			use("scalar");
			wf_attn_scores(q, K, ld, hd, T, scale, a);
			/* the oracle follows the documented order */
			for (int t = 0; t < T; t++) {
				float p[16] = {0};
				for (int i = 0; i < hd; i++)
					p[i % 16] = fmaf(q[i], K[(size_t)t * ld + i], p[i % 16]);
				for (int h = 8; h >= 1; h /= 2)
					for (int l = 0; l < h; l++)
						p[l] += p[l + h];
				CHECK(f2u(a[t]) == f2u(p[0] * scale), "scores oracle hd=%d key %d", hd, t);
			}
			use(v);
			b[T] = u2f(SENTINEL);
			wf_attn_scores(q, K, ld, hd, T, scale, b);
			for (int t = 0; t < T; t++)
				CHECK(f2u(a[t]) == f2u(b[t]), "scores hd=%d T=%d key %d: %a vs %a", hd, T, t, a[t], b[t]);
			CHECK(f2u(b[T]) == SENTINEL, "scores wrote past T");
			/* mix adds into o: from random values (the oracle's order),
			 * and from +0 over two pieces of the keys as over all */
			use("scalar");
			for (int i = 0; i < hd; i++)
				a[i] = b[i] = (float)rnd() / 4294967296.0f - 0.5f;
			for (int i = 0; i < hd; i++) {
				float o = a[i];
				for (int t = 0; t < T; t++)
					o = fmaf(w[t], K[(size_t)t * ld + i], o);
				q[i] = o;   /* q is spent */
			}
			wf_attn_mix(w, K, ld, hd, T, a);
			for (int i = 0; i < hd; i++)
				CHECK(f2u(a[i]) == f2u(q[i]), "mix oracle hd=%d T=%d column %d", hd, T, i);
			use(v);
			b[hd] = u2f(SENTINEL);
			wf_attn_mix(w, K, ld, hd, T, b);
			for (int i = 0; i < hd; i++)
				CHECK(f2u(a[i]) == f2u(b[i]), "mix hd=%d T=%d column %d: %a vs %a", hd, T, i, a[i], b[i]);
			CHECK(f2u(b[hd]) == SENTINEL, "mix wrote past hd");
			int T1 = rndn(T + 1);
			memset(a, 0, (size_t)hd * 4);
			memset(b, 0, (size_t)hd * 4);
			wf_attn_mix(w, K, ld, hd, T, a);
			wf_attn_mix(w, K, ld, hd, T1, b);
			wf_attn_mix(w + T1, K + (size_t)T1 * ld, ld, hd, T - T1, b);
			for (int i = 0; i < hd; i++)
				CHECK(f2u(a[i]) == f2u(b[i]), "mix hd=%d T=%d in pieces at %d, column %d: %a vs %a", hd, T, T1,
				      i, a[i], b[i]);
			/* an F16 cache: the F32 kernels' bits on the widened values */
			uint16_t *K16 = xalloc((size_t)T * ld * 2 + 2);
			for (size_t i = 0; i < (size_t)T * ld; i++) {
				K16[i] = wf_f32_to_f16(K[i]);
				K[i] = wf_f16_to_f32(K16[i]);
			}
			K16[(size_t)T * ld] = 0x7e00;   /* a NaN just past the last row: must not be read */
			use("scalar");
			wf_attn_scores(q, K, ld, hd, T, scale, a);
			use(v);
			b[T] = u2f(SENTINEL);
			wf_attn_scores_f16(q, K16, ld, hd, T, scale, b);
			for (int t = 0; t < T; t++)
				CHECK(f2u(a[t]) == f2u(b[t]), "scores f16 hd=%d T=%d key %d: %a vs %a", hd, T, t, a[t], b[t]);
			CHECK(f2u(b[T]) == SENTINEL, "scores f16 wrote past T");
			for (int i = 0; i < hd; i++)
				a[i] = b[i] = (float)rnd() / 4294967296.0f - 0.5f;
			b[hd] = u2f(SENTINEL);
			use("scalar");
			wf_attn_mix(w, K, ld, hd, T, a);
			use(v);
			wf_attn_mix_f16(w, K16, ld, hd, T1, b);
			wf_attn_mix_f16(w + T1, K16 + (size_t)T1 * ld, ld, hd, T - T1, b);
			for (int i = 0; i < hd; i++)
				CHECK(f2u(a[i]) == f2u(b[i]), "mix f16 hd=%d T=%d column %d: %a vs %a", hd, T, i, a[i], b[i]);
			CHECK(f2u(b[hd]) == SENTINEL, "mix f16 wrote past hd");
			free(K16);
			free(q);
			free(K);
			free(w);
			free(a);
			free(b);
		}
}

/* Grouped queries: each query's scores and mix bit for bit the scalar
 * single-query kernels' (F32 and F16 caches, 1-9 queries, odd head sizes,
 * padded strides), nothing written past a query's row. */
static void test_attn_grp(const char *v)
{
	int hds[] = { 3, 16, 17, 64, 100, 128, 129 };
	for (size_t k = 0; k < sizeof hds / sizeof hds[0]; k++)
		for (int nq = 1; nq <= 9; nq++)
			for (int f16 = 0; f16 < 2; f16++) {
				int hd = hds[k], T = 1 + rndn(70);
				size_t ld = (size_t)hd + (size_t)rndn(5), ldq = (size_t)hd + (size_t)rndn(3);
				size_t lds = (size_t)T + 1 + (size_t)rndn(3), ldo = (size_t)hd + 1 + (size_t)rndn(3);
				float *q = xalloc(nq * ldq * 4), *K = xalloc((size_t)T * ld * 4);
				float *sa = xalloc(nq * lds * 4), *sb = xalloc(nq * lds * 4);
				float *oa = xalloc(nq * ldo * 4), *ob = xalloc(nq * ldo * 4);
				uint16_t *K16 = xalloc((size_t)T * ld * 2);
				for (size_t i = 0; i < nq * ldq; i++)
					q[i] = ((float)rnd() / 4294967296.0f - 0.5f) * ldexpf(1, rndn(8) - 4);
				for (size_t i = 0; i < (size_t)T * ld; i++) {
					K[i] = ((float)rnd() / 4294967296.0f - 0.5f) * ldexpf(1, rndn(8) - 4);
					K16[i] = wf_f32_to_f16(K[i]);
					if (f16)
						K[i] = wf_f16_to_f32(K16[i]);
				}
				for (size_t i = 0; i < nq * lds; i++)
					sa[i] = sb[i] = u2f(SENTINEL);
				use("scalar");
				for (int g = 0; g < nq; g++)
					wf_attn_scores(q + g * ldq, K, ld, hd, T, 0.25f, sa + g * lds);
				use(v);
				wf_attn_scores_grp(q, ldq, nq, f16 ? (const void *)K16 : K, f16, ld, hd, T, 0.25f, sb, lds);
				for (size_t i = 0; i < nq * lds; i++)
					CHECK(f2u(sa[i]) == f2u(sb[i]), "scores grp %s nq=%d f16=%d hd=%d T=%d at %zu: %a vs %a", v,
					      nq, f16, hd, T, i, sa[i], sb[i]);
				/* the scores as weights (any values do) */
				for (size_t i = 0; i < nq * ldo; i++)
					oa[i] = ob[i] = (i % ldo) < (size_t)hd ? (float)rnd() / 4294967296.0f : u2f(SENTINEL);
				use("scalar");
				for (int g = 0; g < nq; g++)
					wf_attn_mix(sa + g * lds, K, ld, hd, T, oa + g * ldo);
				use(v);
				wf_attn_mix_grp(sa, lds, nq, f16 ? (const void *)K16 : K, f16, ld, hd, T, ob, ldo);
				for (size_t i = 0; i < nq * ldo; i++)
					CHECK(f2u(oa[i]) == f2u(ob[i]), "mix grp %s nq=%d f16=%d hd=%d T=%d at %zu: %a vs %a", v, nq,
					      f16, hd, T, i, oa[i], ob[i]);
				free(q);
				free(K);
				free(K16);
				free(sa);
				free(sb);
				free(oa);
				free(ob);
			}
}

/* Softmax: the scalar exp against libm's in double, the scalar softmax
 * against the documented order and against double arithmetic, every
 * variant bit for bit against the scalar one. */
static void test_softmax(const char *v)
{
	use("scalar");
	double worst = 0;
	for (int i = 0; i <= 200000; i++) {
		float x = i == 0 ? 0.0f : -87.0f * (float)i / 200000.0f;
		double want = exp((double)x), got = wf_exp_le0(x), rel = fabs(got - want) / want;
		worst = rel > worst ? rel : worst;
	}
	CHECK(worst < 2.5e-7, "exp: relative error %g", worst);
	CHECK(wf_exp_le0(0.0f) == 1.0f && wf_exp_le0(-0.0f) == 1.0f, "exp(0) is not 1");
	CHECK(wf_exp_le0(-87.01f) == 0.0f && wf_exp_le0(-INFINITY) == 0.0f, "exp below -87 is not 0");
	int Ts[] = { 1, 2, 7, 15, 16, 17, 31, 33, 64, 100, 129, 4099 };
	for (size_t k = 0; k < sizeof Ts / sizeof Ts[0]; k++)
		for (int mode = 0; mode < 4; mode++) {
			int T = Ts[k];
			float *x = xalloc((size_t)T * 4), *a = xalloc((size_t)(T + 1) * 4), *b = xalloc((size_t)(T + 1) * 4);
			for (int t = 0; t < T; t++) {
				float u = (float)rnd() / 4294967296.0f - 0.5f;
				/* 0: small spread; 1: some far below the maximum (exp 0);
				 * 2: ties and signed zeros; 3: one NaN or infinity */
				x[t] = mode == 1 ? u * 400.0f : mode == 2 ? (float)rndn(3) - 1.0f : u * 20.0f;
				if (mode == 2 && x[t] == 0 && rndn(2))
					x[t] = -0.0f;
			}
			if (mode == 3)
				x[rndn(T)] = rndn(3) == 0 ? NAN : rndn(2) ? INFINITY : -INFINITY;
			memcpy(a, x, (size_t)T * 4);
			use("scalar");
			wf_softmax(a, T);
			if (mode == 3) {
				for (int t = 0; t < T; t++)
					CHECK(f2u(a[t]) == 0x7fc00000u, "softmax of a non-finite T=%d: %a", T, a[t]);
			} else {
				float m = x[0], p[16] = {0}, e[4099];
				double sum = 0;
				for (int t = 1; t < T; t++)
					m = x[t] > m ? x[t] : m;
				for (int t = 0; t < T; t++) {
					e[t] = wf_exp_le0(x[t] - m);
					p[t % 16] += e[t];
					sum += exp((double)x[t] - m);
				}
				for (int h = 8; h >= 1; h /= 2)
					for (int l = 0; l < h; l++)
						p[l] += p[l + h];
				for (int t = 0; t < T; t++) {
					double want = exp((double)x[t] - m) / sum;
					CHECK(f2u(a[t]) == f2u(e[t] * (1.0f / p[0])), "softmax order T=%d at %d", T, t);
					/* the float x − m's rounding (relative error of exp =
					 * absolute error of its argument), exp's 2 ulp, then a
					 * float sum's rounding per term of a partial, the
					 * division and the product */
					double tol = fabs((double)x[t] - m) * 6e-8 + 5e-7 + (T / 16 + 4) * 6e-8;
					CHECK(fabs(a[t] - want) <= tol * want + 1e-37, "softmax T=%d at %d: %g vs %g",
					      T, t, a[t], want);
				}
			}
			memcpy(b, x, (size_t)T * 4);
			b[T] = u2f(SENTINEL);
			use(v);
			wf_softmax(b, T);
			for (int t = 0; t < T; t++)
				CHECK(f2u(a[t]) == f2u(b[t]), "softmax mode %d T=%d at %d: %a vs %a", mode, T, t, a[t], b[t]);
			CHECK(f2u(b[T]) == SENTINEL, "softmax wrote past T");
			free(x);
			free(a);
			free(b);
		}
}

/* ---- F16 matrix x float vector ---- */

static void test_f16mv(const char *v)
{
	use(v);
	int cols[] = { 0, 1, 5, 31, 32, 33, 64, 95, 100, 2560 };
	for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++)
		for (int it = 0; it < 4; it++) {
			int C = cols[k], R = 1 + rndn(40);
			uint16_t *w = xalloc((size_t)R * C * 2 + 2);
			float *x = xalloc((size_t)C * 4 + 4), *a = xalloc((size_t)R * 4), *b = xalloc((size_t)R * 4);
			for (size_t i = 0; i < (size_t)R * C; i++) {
				w[i] = (uint16_t)rnd();
				if ((w[i] & 0x7c00) == 0x7c00)   /* finite weights, subnormals kept */
					w[i] ^= 0x4000;
			}
			for (int i = 0; i < C; i++)
				x[i] = ((float)rnd() / 4294967296.0f - 0.5f) * ldexpf(1, rndn(20) - 10);
			int r0 = rndn(R), r1 = r0 + rndn(R - r0 + 1);
			use("scalar");
			wf_f16_matvec(w, C, x, a, r0, r1);
			use(v);
			wf_f16_matvec(w, C, x, b, r0, r1);
			for (int r = 0; r < r1 - r0; r++)
				CHECK(f2u(a[r]) == f2u(b[r]), "f16mv %dx%d row %d: %a vs %a", R, C, r0 + r, a[r], b[r]);
			/* the oracle itself is close to a double-precision sum */
			for (int r = r0; r < r1; r++) {
				double d = 0, mag = 0;
				for (int i = 0; i < C; i++) {
					double p = (double)wf_f16_to_f32(w[(size_t)r * C + i]) * x[i];
					d += p;
					mag += fabs(p);
				}
				CHECK(fabs(a[r - r0] - d) <= 1e-5 * mag + 1e-30, "f16mv accuracy row %d", r);
			}
			free(w);
			free(x);
			free(a);
			free(b);
		}
}

/* ---- Q8_0 x Q8_0 (8-bit output matrix) ---- */

/* ---- WF_Q8R (wf's 8-bit output copy) ---- */

/* A WF_Q8R matrix R x C bound to w: random q (or ±127 alternating by row
 * with ext), F16-valued scales, the true sums.  Free the returned buffer. */
static char *q8r_random(int R, int C, int ext, struct wf_q8r *w)
{
	char *m = xalloc(wf_q8r_bytes(R, C));
	int8_t *q = (int8_t *)m;
	float *d = (float *)(void *)(m + (size_t)R * C);
	int32_t *sum = (int32_t *)(void *)(m + (size_t)R * (C + 4));
	for (int r = 0; r < R; r++) {
		d[r] = wf_f16_to_f32(wf_f32_to_f16((float)(1 + rndn(100)) / 1000.0f));
		sum[r] = 0;
		for (int i = 0; i < C; i++)
			sum[r] += q[(size_t)r * C + i] = (int8_t)(ext ? (r % 2 ? 127 : -127) : (int)rndn(255) - 127);
	}
	wf_q8r_bind(w, m, R, C);
	return m;
}

/* n tokens: each token's row equals the scalar single-token product bit
 * for bit (tile tails in rows and tokens, rows of 64k + 32, wider than the
 * AVX-512 tiles take, extreme values), and that is the exact dot. */
static void test_q8mm(const char *v)
{
	int cols[] = { 32, 96, 160, 2560, 4096, 4160 };
	int ns[] = { 1, 2, 3, 5, 6, 7, 13, 18, 19, 37 };
	for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++)
		for (size_t in = 0; in < sizeof ns / sizeof ns[0]; in++) {
			/* 2560 columns: past the tiles' 64-row blocks */
			int C = cols[k], n = ns[in], R = C == 2560 ? 130 + rndn(40) : 1 + rndn(23), ext = rndn(4) == 0;
			size_t ldx = (size_t)C + (size_t)rndn(9);
			struct wf_q8r w;
			char *m = q8r_random(R, C, ext, &w);
			int8_t *xq = xalloc((size_t)n * ldx);
			float *xf = xalloc((size_t)C * 4), *dx = xalloc((size_t)n * 4);
			float *a = xalloc((size_t)n * R * 4), *b = xalloc((size_t)n * R * 4);
			for (int j = 0; j < n; j++) {
				for (int i = 0; i < C; i++)
					xf[i] = ext ? (j % 2 ? 1.0f : -1.0f)
					            : ((float)rnd() / 4294967296.0f - 0.5f) * ldexpf(1, rndn(12) - 6);
				dx[j] = wf_q8r_quantize(xf, C, xq + (size_t)j * ldx);
			}
			int r0 = rndn(R), r1 = r0 + rndn(R - r0 + 1);
			use("scalar");
			for (int j = 0; j < n; j++)
				wf_q8r_matmat(&w, xq + (size_t)j * ldx, ldx, dx + j, 1, a + (size_t)j * R, (size_t)R, r0, r1);
			for (int j = 0; j < n; j++)
				for (int r = r0; r < r1; r++) {
					int64_t dot = 0;
					for (int i = 0; i < C; i++)
						dot += w.q[(size_t)r * C + i] * xq[(size_t)j * ldx + i];
					float want = (float)dot * (w.d[r] * dx[j]);
					CHECK(f2u(a[(size_t)j * R + r - r0]) == f2u(want), "q8r oracle row %d: %a vs %a", r,
					      a[(size_t)j * R + r - r0], want);
				}
			use(v);
			for (size_t i = 0; i < (size_t)n * R; i++)
				b[i] = u2f(SENTINEL);
			wf_q8r_matmat(&w, xq, ldx, dx, n, b, (size_t)R, r0, r1);
			for (int j = 0; j < n; j++) {
				for (int r = 0; r < r1 - r0; r++)
					CHECK(f2u(a[(size_t)j * R + r]) == f2u(b[(size_t)j * R + r]),
					      "q8rmm %dx%d n=%d [%d,%d) token %d row %d: %a vs %a", R, C, n, r0, r1, j,
					      r0 + r, a[(size_t)j * R + r], b[(size_t)j * R + r]);
				for (int r = r1 - r0; r < R; r++)
					CHECK(f2u(b[(size_t)j * R + r]) == SENTINEL, "q8rmm wrote past r1");
			}
			free(m);
			free(xq);
			free(xf);
			free(dx);
			free(a);
			free(b);
		}
}

/* The conversions: the documented values on a hand-made row; F16 rows in
 * every variant to the scalar bytes (infinities, NaNs, subnormals), and
 * from F32 on the widened values alike, with sums that are Σ q. */
static void test_q8r_conv(const char *v)
{
	use(v);
	float x[64], d;
	int8_t q[64];
	for (int i = 0; i < 64; i++)
		x[i] = i < 32 ? (float)(i - 16) * 127.0f / 16.0f : 0.0f;   /* max 127: id = 1 */
	x[40] = NAN;
	d = wf_q8r_quantize(x, 64, q);
	CHECK(d == 1.0f, "q8r scale %a", d);
	CHECK(q[0] == -127 && q[8] == -64 && q[16] == 0 && q[31] == 119 && q[40] == 0,
	      "q8r values %d %d %d %d %d", q[0], q[8], q[16], q[31], q[40]);
	CHECK(wf_q8r_bytes(3, 64) == 3 * 72, "q8r size");
	int cols[] = { 32, 64, 96, 160, 2560 };
	for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++)
		for (int it = 0; it < 4; it++) {
			int C = cols[k], R = 1 + rndn(40);
			uint16_t *f = xalloc((size_t)R * C * 2);
			float *f32 = xalloc((size_t)R * C * 4);
			for (size_t i = 0; i < (size_t)R * C; i++)
				f[i] = rndn(64) ? wf_f32_to_f16(((float)rnd() / 4294967296.0f - 0.5f) * ldexpf(1, rndn(8) - 4))
				                : (uint16_t)(rnd() & 0xfbff);   /* any finite half, subnormals too */
			if (it == 3) {
				f[rndn(R * C)] = 0x7c00;
				f[rndn(R * C)] = 0x7e01;
			}
			for (size_t i = 0; i < (size_t)R * C; i++)
				f32[i] = wf_f16_to_f32(f[i]);
			int8_t *q1 = xalloc((size_t)R * C), *q2 = xalloc((size_t)R * C), *q3 = xalloc((size_t)R * C);
			float *d1 = xalloc((size_t)R * 4), *d2 = xalloc((size_t)R * 4), *d3 = xalloc((size_t)R * 4);
			int32_t *s1 = xalloc((size_t)R * 4), *s2 = xalloc((size_t)R * 4), *s3 = xalloc((size_t)R * 4);
			use("scalar");
			wf_q8r_from_f16(f, C, q1, d1, s1, 0, R);
			use(v);
			wf_q8r_from_f16(f, C, q2, d2, s2, 0, R);
			wf_q8r_from_f32(f32, C, q3, d3, s3, 0, R);
			CHECK(!memcmp(q1, q2, (size_t)R * C) && !memcmp(d1, d2, (size_t)R * 4) && !memcmp(s1, s2, (size_t)R * 4),
			      "q8r from f16 %dx%d differs", R, C);
			CHECK(!memcmp(q1, q3, (size_t)R * C) && !memcmp(d1, d3, (size_t)R * 4) && !memcmp(s1, s3, (size_t)R * 4),
			      "q8r from f32 %dx%d differs from f16", R, C);
			for (int r = 0; r < R; r++) {
				int32_t t = 0;
				for (int i = 0; i < C; i++)
					t += q1[(size_t)r * C + i];
				CHECK(t == s1[r], "q8r sum row %d: %d vs %d", r, s1[r], t);
				float rq[4096];
				int8_t qq[4096];
				for (int i = 0; i < C; i++)
					rq[i] = f32[(size_t)r * C + i];
				float dd = wf_q8r_quantize(rq, C, qq);
				CHECK(f2u(dd) == f2u(d1[r]) && !memcmp(qq, q1 + (size_t)r * C, (size_t)C),
				      "q8r quantize of row %d differs from the conversion", r);
			}
			free(f);
			free(f32);
			free(q1);
			free(q2);
			free(q3);
			free(d1);
			free(d2);
			free(d3);
			free(s1);
			free(s2);
			free(s3);
		}
}

static void test_q8(const char *v)
{
	use(v);
	/* the quantiser: documented bytes on a hand-made block */
	float x[64];
	uint8_t blk[2 * WF_Q8_0_BYTES];
	for (int i = 0; i < 64; i++)
		x[i] = i < 32 ? (float)(i - 16) * 127.0f / 16.0f : 0.0f;   /* max 127: id = 1 */
	x[40] = NAN;
	wf_q8_0_quantize(x, 64, blk);
	uint16_t d;
	memcpy(&d, blk, 2);
	CHECK(d == 0x3c00, "q8_0 scale %04x", d);
	CHECK((int8_t)blk[2] == -127 && (int8_t)blk[2 + 8] == -64 && (int8_t)blk[2 + 16] == 0 &&
	      (int8_t)blk[2 + 31] == 119, "q8_0 values %d %d %d %d", (int8_t)blk[2], (int8_t)blk[10],
	      (int8_t)blk[18], (int8_t)blk[33]);
	memcpy(&d, blk + WF_Q8_0_BYTES, 2);
	CHECK(d == 0 && blk[WF_Q8_0_BYTES + 2 + 8] == 0, "q8_0 zero block with NaN");
	CHECK(wf_q8_0_size(2560) == 80 * 34, "q8_0 size");
	{   /* infinities and NaNs convert alike in every variant */
		uint16_t sp[64];
		uint8_t s1[2 * WF_Q8_0_BYTES], s2[2 * WF_Q8_0_BYTES];
		for (int i = 0; i < 64; i++)
			sp[i] = (uint16_t)rnd();
		sp[3] = 0x7c00;
		sp[40] = 0x7e01;
		use("scalar");
		wf_q8_0_from_f16(sp, 64, s1, 0, 1);
		use(v);
		wf_q8_0_from_f16(sp, 64, s2, 0, 1);
		CHECK(!memcmp(s1, s2, sizeof s1), "q8_0 from f16 with inf/NaN differs");
	}
	int cols[] = { 32, 64, 96, 160, 2560 };
	for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++)
		for (int it = 0; it < 4; it++) {
			int C = cols[k], R = 1 + rndn(40);
			size_t rb = wf_q8_0_size(C);
			uint16_t *f = xalloc((size_t)R * C * 2);
			uint8_t *w = xalloc((size_t)R * rb + 1), *xq = xalloc(rb + 1);
			float *xf = xalloc((size_t)C * 4), *a = xalloc((size_t)R * 4), *b = xalloc((size_t)R * 4);
			for (size_t i = 0; i < (size_t)R * C; i++)
				f[i] = rndn(64) ? wf_f32_to_f16(((float)rnd() / 4294967296.0f - 0.5f) * ldexpf(1, rndn(8) - 4))
				                : (uint16_t)(rnd() & 0xfbff);   /* any finite half, subnormals too */
			use("scalar");
			wf_q8_0_from_f16(f, C, w, 0, R);
			use(v);   /* the variant's conversion gives the same bytes */
			uint8_t *w2 = xalloc((size_t)R * rb + 1);
			wf_q8_0_from_f16(f, C, w2, 0, R);
			CHECK(!memcmp(w, w2, (size_t)R * rb), "q8_0 from f16 %dx%d differs", R, C);
			free(w2);
			for (int r = 0; r < R; r++)   /* weights may hold -128 */
				if (rndn(4) == 0)
					w[(size_t)r * rb + 2 + rndn(32)] = 0x80;
			for (int i = 0; i < C; i++)
				xf[i] = ((float)rnd() / 4294967296.0f - 0.5f) * ldexpf(1, rndn(20) - 10);
			wf_q8_0_quantize(xf, C, xq);
			for (size_t i = 0; i < rb; i++)
				CHECK(i % WF_Q8_0_BYTES < 2 || (int8_t)xq[i] != -128, "activation -128");
			int r0 = rndn(R), r1 = r0 + rndn(R - r0 + 1);
			use("scalar");
			wf_q8_0_matvec(w, C, xq, a, r0, r1);
			use(v);
			wf_q8_0_matvec(w, C, xq, b, r0, r1);
			for (int r = 0; r < r1 - r0; r++)
				CHECK(f2u(a[r]) == f2u(b[r]), "q8mv %dx%d row %d: %a vs %a", R, C, r0 + r, a[r], b[r]);
			/* the oracle is close to the exact sum of the quantised values */
			for (int r = r0; r < r1; r++) {
				double dd = 0, mag = 0;
				for (int bk = 0; bk < C / 32; bk++) {
					const uint8_t *wb = w + (size_t)r * rb + (size_t)bk * WF_Q8_0_BYTES;
					const uint8_t *xb = xq + (size_t)bk * WF_Q8_0_BYTES;
					uint16_t hw, hx;
					memcpy(&hw, wb, 2);
					memcpy(&hx, xb, 2);
					for (int i = 0; i < 32; i++) {
						double p = (double)wf_f16_to_f32(hw) * (int8_t)wb[2 + i] *
						           wf_f16_to_f32(hx) * (int8_t)xb[2 + i];
						dd += p;
						mag += fabs(p);
					}
				}
				CHECK(fabs(a[r - r0] - dd) <= 1e-5 * mag + 1e-30, "q8mv accuracy row %d", r);
			}
			free(f);
			free(w);
			free(xq);
			free(xf);
			free(a);
			free(b);
		}
}

/* F16 rounding: every variant bit for bit against the scalar one on every
 * F16 value, the floats around each (neighbours, the midpoints to the next
 * F16 value and theirs: the ties), NaNs with every payload bit, and random
 * bits; n of every residue so the tails run. */
static void test_f16_round(const char *v)
{
	const int N = 65536 * 6 + 4096;
	float *x = xalloc((size_t)N * 4), *a = xalloc((size_t)N * 4), *b = xalloc((size_t)(N + 1) * 4);
	int n = 0;
	for (uint32_t h = 0; h < 65536; h++) {
		uint32_t f = f2u(wf_f16_to_f32((uint16_t)h)), g = f2u(wf_f16_to_f32((uint16_t)(h + 1)));
		x[n++] = u2f(f);
		x[n++] = u2f(f + 1);
		x[n++] = u2f(f - 1);
		float mid = (u2f(f) + u2f(g)) / 2;   /* exact in float when both are finite */
		x[n++] = mid;
		x[n++] = u2f(f2u(mid) + 1);
		x[n++] = u2f(f2u(mid) - 1);
	}
	for (int k = 0; k < 23; k++) {
		x[n++] = u2f(0x7f800000u | 1u << k);
		x[n++] = u2f(0xff800000u | 1u << k | (k < 22 ? 1u << 22 : 0));
	}
	while (n < N)
		x[n++] = u2f((uint32_t)rnd());
	memcpy(a, x, (size_t)N * 4);
	use("scalar");
	wf_f16_round(a, N);
	for (int i = 0; i < N; i++)
		CHECK(f2u(a[i]) == f2u(wf_f16_to_f32(wf_f32_to_f16(x[i]))), "f16 round scalar %a", x[i]);
	use(v);
	for (int len = 0; len < 40; len++) {
		int off = (int)rndn(N - 40);
		memcpy(b, x + off, (size_t)len * 4);
		b[len] = u2f(SENTINEL);
		wf_f16_round(b, len);
		for (int i = 0; i < len; i++)
			CHECK(f2u(b[i]) == f2u(a[off + i]), "f16 round %s n=%d: %a gives %a, scalar %a", v, len,
			      x[off + i], b[i], a[off + i]);
		CHECK(f2u(b[len]) == SENTINEL, "f16 round wrote past n=%d", len);
	}
	memcpy(b, x, (size_t)N * 4);
	wf_f16_round(b, N);
	for (int i = 0; i < N; i++)
		CHECK(f2u(b[i]) == f2u(a[i]), "f16 round %s: %a gives %a, scalar %a", v, x[i], b[i], a[i]);
	/* wf_f16_from_f32: the scalar conversion's bits, nothing past n */
	uint16_t *h = xalloc((size_t)(N + 1) * 2);
	for (int len = 0; len < 40; len++) {
		int off = (int)rndn(N - 40);
		h[len] = 0xbeef;
		wf_f16_from_f32(x + off, len, h);
		for (int i = 0; i < len; i++)
			CHECK(h[i] == wf_f32_to_f16(x[off + i]), "f16 from f32 %s n=%d: %a gives %04x", v, len, x[off + i],
			      h[i]);
		CHECK(h[len] == 0xbeef, "f16 from f32 wrote past n=%d", len);
	}
	wf_f16_from_f32(x, N, h);
	for (int i = 0; i < N; i++)
		CHECK(h[i] == wf_f32_to_f16(x[i]), "f16 from f32 %s: %a gives %04x", v, x[i], h[i]);
	free(h);
	free(x);
	free(a);
	free(b);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: kernels_check convert|quant|layout|tmat V|f16mv V|attn V|q8mv V\n");
		return 2;
	}
	const char *t = argv[1], *v = argc > 2 ? argv[2] : "scalar";
	if (!strcmp(t, "name")) {   /* the choice wf_kernels_init makes */
		char err[200];
		if (wf_kernels_init(argc > 2 ? argv[2] : NULL, err, sizeof err)) {
			printf("%s\n", err);
			return 1;
		}
		printf("%s\n", wf_kernels_name());
		return 0;
	}
	if (!strcmp(t, "convert"))
		test_convert();
	else if (!strcmp(t, "quant")) {
		use(v);
		test_quant();
	}
	else if (!strcmp(t, "layout"))
		test_layout();
	else if (!strcmp(t, "tmat"))
		test_tmat(v);
	else if (!strcmp(t, "f16mv"))
		test_f16mv(v);
	else if (!strcmp(t, "attn")) {
		test_attn(v);
		test_attn_grp(v);
		test_softmax(v);
		test_f16_round(v);
	}
	else if (!strcmp(t, "q8mv")) {
		test_q8(v);
		test_q8mm(v);
		test_q8r_conv(v);
	}
	else {
		fprintf(stderr, "kernels_check: unknown test '%s'\n", t);
		return 2;
	}
	if (fails) {
		printf("%d failures\n", fails);
		return 1;
	}
	printf("ok\n");
	return 0;
}
