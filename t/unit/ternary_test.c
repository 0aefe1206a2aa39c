/*
 * ternary_test — unit tests of lib/ternary, run by t/ternary.bats.
 *
 *   ternary_test vectors          worked vectors of notes/bitnet-formats.md
 *   ternary_test roundtrip        pack -> unpack on random trits, odd shapes
 *   ternary_test rounding         the training rule's rounding and absmean
 *   ternary_test errors           exact error messages
 *   ternary_test peers DIR        the four same-seed peer GGUFs agree, and
 *                                 re-encoding reproduces their bytes
 *   ternary_test absmean DIR      tiny-shakespeare: ternarising the BF16
 *                                 latent weights gives the GGUF's trits
 *
 * Prints "ok NAME" lines; on failure prints "FAIL: ..." and exits 1.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf.h"
#include "kernels.h"
#include "ternary.h"

static int failures;

#define CHECK(c, ...) do { if (!(c)) { printf("FAIL %s:%d: ", __FILE__, __LINE__); \
	printf(__VA_ARGS__); printf("\n"); failures++; return; } } while (0)

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		perror("malloc");
		exit(1);
	}
	return p;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	ssize_t r;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) < 0) {
		printf("FAIL: %s: cannot open\n", path);
		exit(1);
	}
	buf = xmalloc((size_t)st.st_size);
	while (got < (size_t)st.st_size && (r = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)r;
	close(fd);
	*len = got;
	return buf;
}

/* A tensor struct over a buffer, as the GGUF parser would hand it out. */
static struct wf_gguf_tensor fake(const char *name, uint32_t type, int64_t cols, int64_t rows,
                                  const uint8_t *data, uint64_t nbytes)
{
	struct wf_gguf_tensor t;
	memset(&t, 0, sizeof t);
	snprintf(t.name, sizeof t.name, "%s", name);
	t.n_dims = rows > 1 ? 2 : 1;
	t.ne[0] = cols;
	t.ne[1] = rows;
	t.ne[2] = t.ne[3] = 1;
	t.type = type;
	t.data = data;
	t.nbytes = nbytes;
	return t;
}

/* ---- worked vectors --------------------------------------------------- */

static void test_tq1_vectors(void)
{
	static const int8_t v207[5] = {1, 0, -1, 1, 0};
	int8_t t[256], back[256];
	uint8_t b[54];
	int j;

	memset(t, 0, sizeof t);
	for (j = 0; j < 5; j++) {
		t[0 + 32 * j] = v207[j];
		t[1 + 32 * j] = -1;
		t[2 + 32 * j] = 0;
		t[3 + 32 * j] = 1;
	}
	for (j = 0; j < 4; j++) {
		t[240 + 4 * j] = v207[j];
		t[241 + 4 * j] = -1;
		t[242 + 4 * j] = 1;
	}
	wf_ternary_pack(WF_TYPE_TQ1_0, t, 256, 0.5f, b);
	CHECK(b[0] == 207 && b[1] == 0 && b[2] == 128 && b[3] == 255,
	      "TQ1_0 qs[0..3] = %u %u %u %u, want 207 0 128 255", b[0], b[1], b[2], b[3]);
	CHECK(b[48] == 206 && b[49] == 0 && b[50] == 253,
	      "TQ1_0 qh[0..2] = %u %u %u, want 206 0 253", b[48], b[49], b[50]);
	CHECK(b[52] == 0x00 && b[53] == 0x38, "TQ1_0 d = %02x%02x, want f16(0.5) 3800", b[53], b[52]);
	CHECK(wf_ternary_unpack(WF_TYPE_TQ1_0, b, 256, 0, back, NULL, 0) == 0, "unpack");
	CHECK(memcmp(t, back, 256) == 0, "TQ1_0 vector does not round-trip");
	/* (207 * 9) mod 256 = 71, (71 * 3) >> 8 = 0 -> -1 at n = 2. */
	CHECK(back[64] == -1, "decode of 207, n = 2");
	printf("ok tq1_0 vectors\n");
}

static void test_tq2_vectors(void)
{
	int8_t t[256], back[256];
	uint8_t b[66];
	int k;

	for (k = 0; k < 256; k++)
		t[k] = (int8_t)((7 * k) % 3 - 1);
	wf_ternary_pack(WF_TYPE_TQ2_0, t, 256, 1.0f, b);
	CHECK(b[0] == 24 && b[1] == 97 && b[2] == 134 && b[32] == 134,
	      "TQ2_0 qs[0,1,2,32] = %u %u %u %u, want 24 97 134 134", b[0], b[1], b[2], b[32]);
	CHECK(b[64] == 0x00 && b[65] == 0x3c, "TQ2_0 d = %02x%02x, want 3c00", b[65], b[64]);
	CHECK(wf_ternary_unpack(WF_TYPE_TQ2_0, b, 256, 0, back, NULL, 0) == 0, "unpack");
	CHECK(memcmp(t, back, 256) == 0, "TQ2_0 vector does not round-trip");
	printf("ok tq2_0 vectors\n");
}

static void test_i2s_vectors(void)
{
	int8_t t[128], back[128];
	uint8_t b[32 + 32];
	int j;
	float s;

	for (j = 0; j < 128; j++)
		t[j] = (int8_t)((5 * j) % 3 - 1);
	CHECK(wf_ternary_encode(WF_TYPE_I2_S, t, 1, 128, 0.25f, b, sizeof b, NULL, 0) == 0, "encode");
	CHECK(b[0] == 24, "I2_S byte0 = %u, want 24", b[0]);
	memcpy(&s, b + 32, 4);
	CHECK(s == 0.25f, "I2_S scale at n/4");
	for (j = 36; j < 64; j++)
		CHECK(b[j] == 0, "I2_S padding byte %d = %u", j, b[j]);
	CHECK(wf_ternary_unpack(WF_TYPE_I2_S, b, 128, 0, back, NULL, 0) == 0, "unpack");
	CHECK(memcmp(t, back, 128) == 0, "I2_S vector does not round-trip");
	printf("ok i2_s vectors\n");
}

/* ---- round trips ------------------------------------------------------ */

static void roundtrip(uint32_t type, int64_t rows, int64_t cols, int zero_frac)
{
	uint64_t n = (uint64_t)(rows * cols), nb = wf_ternary_tensor_bytes(type, n), i;
	int8_t *t = xmalloc(n), *back = xmalloc(n);
	uint8_t *buf = xmalloc(nb);
	float scale = 0.0123f + (float)(rnd() % 1000) * 1e-4f, got, want;
	struct wf_gguf_tensor ten;
	char err[256];
	int64_t r0, r1;
	uint64_t nz = 0;
	int k;

	for (i = 0; i < n; i++) {
		t[i] = (int8_t)((int)(rnd() % 3) - 1);
		if ((int)(rnd() % 100) < zero_frac)
			t[i] = 0;
		nz += t[i] != 0;
	}
	if (wf_ternary_encode(type, t, rows, cols, scale, buf, nb, err, sizeof err)) {
		printf("FAIL %s [%" PRId64 ", %" PRId64 "]: %s\n", wf_ggml_type_name(type), cols, rows, err);
		failures++;
		goto out;
	}
	ten = fake("w", type, cols, rows, buf, nb);
	if (wf_ternary_decode(&ten, back, &got, err, sizeof err)) {
		printf("FAIL %s [%" PRId64 ", %" PRId64 "]: %s\n", wf_ggml_type_name(type), cols, rows, err);
		failures++;
		goto out;
	}
	if (memcmp(t, back, n)) {
		printf("FAIL %s [%" PRId64 ", %" PRId64 "]: trits differ\n", wf_ggml_type_name(type), cols, rows);
		failures++;
		goto out;
	}
	if (type == WF_TYPE_I2_S)
		want = scale;
	else if (type == WF_TYPE_TQ1_0 || type == WF_TYPE_TQ2_0)
		want = nz ? wf_f16_to_f32(wf_f32_to_f16(scale)) : 0; /* all blocks zero: d = 0 */
	else {
		/* absmean of the stored values ±q(scale): q(scale) * nz / n */
		float q = type == WF_TYPE_F32 ? scale : type == WF_TYPE_F16 ?
		          wf_f16_to_f32(wf_f32_to_f16(scale)) : wf_bf16_to_f32(wf_f32_to_bf16(scale));
		double m = (double)q * (double)nz / (double)n;
		want = (float)(m > 1e-5 ? m : 1e-5);
	}
	if (got != want) {
		printf("FAIL %s [%" PRId64 ", %" PRId64 "]: scale %.9g, want %.9g\n", wf_ggml_type_name(type),
		       cols, rows, (double)got, (double)want);
		failures++;
		goto out;
	}
	/* Random row ranges, including ones that cut I2_S blocks. */
	for (k = 0; k < 8; k++) {
		r0 = (int64_t)(rnd() % (uint64_t)(rows + 1));
		r1 = r0 + (int64_t)(rnd() % (uint64_t)(rows - r0 + 1));
		memset(back, 7, n);
		if (wf_ternary_decode_rows(&ten, got, r0, r1, back, err, sizeof err) ||
		    memcmp(back, t + r0 * cols, (size_t)((r1 - r0) * cols))) {
			printf("FAIL %s [%" PRId64 ", %" PRId64 "] rows [%" PRId64 ", %" PRId64 ")\n",
			       wf_ggml_type_name(type), cols, rows, r0, r1);
			failures++;
			goto out;
		}
	}
	/* The code-byte path: the packed layout from reordered bytes equals
	 * the one from decoded trits, over row ranges that cut 4-row groups;
	 * other types and shapes decline (1) and leave the buffer alone. */
	{
		size_t pb = wf_tmat_packed_size((int)rows, (int)cols);
		uint8_t *codes = xmalloc((size_t)n / 4 + 8), *pa = xmalloc(pb + 1), *pc = xmalloc(pb + 1);
		int fast = (type == WF_TYPE_I2_S && cols % 128 == 0) || (type == WF_TYPE_TQ2_0 && cols % 256 == 0);
		for (k = 0; k < 4; k++) {
			r0 = (int64_t)(rnd() % (uint64_t)(rows + 1));
			r1 = r0 + (int64_t)(rnd() % (uint64_t)(rows - r0 + 1));
			codes[0] = 0xa5;
			int rc = wf_ternary_codes_rows(&ten, r0, r1, codes, err, sizeof err);
			if (rc != (fast ? 0 : 1) || (!fast && codes[0] != 0xa5)) {
				printf("FAIL %s [%" PRId64 ", %" PRId64 "] codes rows [%" PRId64 ", %" PRId64 "): %d %s\n",
				       wf_ggml_type_name(type), cols, rows, r0, r1, rc, rc < 0 ? err : "");
				failures++;
				break;
			}
			if (cols % 128)
				continue;
			memset(pa, 0, pb + 1);
			wf_tmat_pack(pa, t + r0 * cols, (int)(r1 - r0), (int)cols);
			if (fast) {
				memset(pc, 0, pb + 1);
				wf_tmat_pack_codes(pc, codes, (int)(r1 - r0), (int)cols);
				if (memcmp(pa, pc, pb + 1)) {
					printf("FAIL %s [%" PRId64 ", %" PRId64 "] rows [%" PRId64 ", %" PRId64 "): packed codes differ\n",
					       wf_ggml_type_name(type), cols, rows, r0, r1);
					failures++;
					break;
				}
			}
			/* and every type through the one entry the loaders use */
			memset(pc, 0, pb + 1);
			rc = wf_ternary_tmat_rows(&ten, got, r0, r1, back, pc, err, sizeof err);
			if (rc || memcmp(pa, pc, pb + 1)) {
				printf("FAIL %s [%" PRId64 ", %" PRId64 "] rows [%" PRId64 ", %" PRId64 "): tmat rows %d %s\n",
				       wf_ggml_type_name(type), cols, rows, r0, r1, rc, rc ? err : "differ");
				failures++;
				break;
			}
		}
		free(codes);
		free(pa);
		free(pc);
	}
out:
	free(t);
	free(back);
	free(buf);
}

static void test_roundtrip(void)
{
	static const struct { uint32_t type; int64_t rows, cols; } sh[] = {
		{WF_TYPE_I2_S, 1, 128}, {WF_TYPE_I2_S, 3, 384}, {WF_TYPE_I2_S, 6, 64},
		{WF_TYPE_I2_S, 5, 384}, {WF_TYPE_I2_S, 128, 1}, {WF_TYPE_I2_S, 9, 896},
		{WF_TYPE_I2_S, 4, 160}, {WF_TYPE_I2_S, 7, 2560},
		{WF_TYPE_TQ2_0, 1, 256}, {WF_TYPE_TQ2_0, 3, 512}, {WF_TYPE_TQ2_0, 5, 768},
		{WF_TYPE_TQ2_0, 7, 2560}, {WF_TYPE_TQ2_0, 1, 6912},
		{WF_TYPE_TQ1_0, 1, 256}, {WF_TYPE_TQ1_0, 3, 512}, {WF_TYPE_TQ1_0, 5, 768},
		{WF_TYPE_TQ1_0, 7, 2560}, {WF_TYPE_TQ1_0, 1, 6912},
		{WF_TYPE_F32, 1, 1}, {WF_TYPE_F32, 3, 7}, {WF_TYPE_F32, 5, 256},
		{WF_TYPE_F16, 1, 3}, {WF_TYPE_F16, 4, 33}, {WF_TYPE_F16, 2, 768},
		{WF_TYPE_BF16, 1, 5}, {WF_TYPE_BF16, 6, 17}, {WF_TYPE_BF16, 3, 256},
	};
	size_t i;
	int before = failures, z;

	for (z = 0; z <= 100; z += 50)
		for (i = 0; i < sizeof sh / sizeof sh[0]; i++)
			roundtrip(sh[i].type, sh[i].rows, sh[i].cols, z);
	if (failures == before)
		printf("ok roundtrip\n");
}

/* An all-zero TQ block carries d = 0 (as ggml writes) and is ignored when
 * the per-tensor scale is read. */
static void test_zero_blocks(void)
{
	int8_t t[512] = {0}, back[512];
	uint8_t b[2 * 66];
	struct wf_gguf_tensor ten;
	float s;
	char err[256];

	t[300] = 1;
	wf_ternary_pack(WF_TYPE_TQ2_0, t, 512, 0.75f, b);
	CHECK(b[64] == 0 && b[65] == 0, "all-zero block d = %02x%02x, want 0", b[65], b[64]);
	CHECK(b[130] == 0x00 && b[131] == 0x3a, "block 1 d = %02x%02x, want f16(0.75) 3a00", b[131], b[130]);
	ten = fake("z", WF_TYPE_TQ2_0, 256, 2, b, sizeof b);
	CHECK(wf_ternary_decode(&ten, back, &s, err, sizeof err) == 0, "%s", err);
	CHECK(s == 0.75f && memcmp(t, back, 512) == 0, "scale %g", (double)s);
	printf("ok zero blocks\n");
}

/* ---- rounding --------------------------------------------------------- */

static void test_rounding(void)
{
	static const float w[] = {0.5f, -0.5f, 1.5f, -1.5f, 0.49f, 2.5f, 0.0f, -3.0f, 0.51f, -0.51f};
	static const int8_t want[] = {0, 0, 1, -1, 0, 1, 0, -1, 1, -1};
	float zeros[4] = {0, 0, 0, 0}, v[3] = {1.0f, -2.0f, 0.0f};
	size_t i;

	for (i = 0; i < sizeof w / sizeof w[0]; i++)
		CHECK(wf_ternary_round(w[i], 1.0f) == want[i], "round(%g) = %d, want %d",
		      (double)w[i], wf_ternary_round(w[i], 1.0f), want[i]);
	CHECK(wf_ternary_round(NAN, 1.0f) == 0, "NaN");
	CHECK(wf_ternary_absmean(zeros, 4) == 1e-5f, "absmean floor");
	CHECK(wf_ternary_absmean(v, 3) == 1.0f, "absmean 1, -2, 0");
	printf("ok rounding\n");
}

/* ---- error messages --------------------------------------------------- */

static void expect_err(int rc, const char *err, const char *want)
{
	if (rc != -1 || strcmp(err, want)) {
		printf("FAIL: rc %d, message\n  '%s'\nwant\n  '%s'\n", rc, err, want);
		failures++;
	}
}

static void test_errors(void)
{
	int8_t t[512], back[512];
	uint8_t b[512];
	struct wf_gguf_tensor ten;
	char err[256];
	float s;
	int before = failures, rc;

	memset(t, 0, sizeof t);
	memset(b, 0, sizeof b);
	t[0] = t[300] = 1;

	ten = fake("blk.0.attn_q.weight", WF_TYPE_Q8_0, 256, 2, b, 68);
	rc = wf_ternary_decode(&ten, back, &s, err, sizeof err);
	expect_err(rc, err, "tensor 'blk.0.attn_q.weight': type Q8_0 is not a ternary weight format");

	wf_ternary_pack(WF_TYPE_TQ2_0, t, 512, 0.5f, b);
	ten = fake("blk.1.ffn_up.weight", WF_TYPE_TQ2_0, 256, 2, b, 131);
	rc = wf_ternary_decode(&ten, back, &s, err, sizeof err);
	expect_err(rc, err, "tensor 'blk.1.ffn_up.weight': TQ2_0 [256, 2] needs 132 bytes, found 131");

	ten = fake("x", WF_TYPE_TQ1_0, 128, 2, b, 54);
	rc = wf_ternary_decode(&ten, back, &s, err, sizeof err);
	expect_err(rc, err, "tensor 'x': TQ1_0 rows must be a multiple of 256 weights, found 128");

	ten = fake("x", WF_TYPE_I2_S, 100, 1, b, 57);
	rc = wf_ternary_decode(&ten, back, &s, err, sizeof err);
	expect_err(rc, err, "tensor 'x': I2_S needs a multiple of 128 weights, found 100");

	b[131] = 0x3c; /* block 1's d: 1.0 instead of 0.5 */
	ten = fake("blk.2.attn_k.weight", WF_TYPE_TQ2_0, 256, 2, b, 132);
	rc = wf_ternary_decode(&ten, back, &s, err, sizeof err);
	expect_err(rc, err, "tensor 'blk.2.attn_k.weight': TQ2_0 blocks 0 and 1 have different scales "
	           "(0.5 and 1); wf needs one scale per tensor");

	wf_ternary_pack(WF_TYPE_TQ2_0, t, 512, 0.5f, b);
	b[66 + 5] |= 0x30; /* weight 256 + 32*2 + 5 gets code 3 */
	rc = wf_ternary_decode(&ten, back, &s, err, sizeof err);
	expect_err(rc, err, "tensor 'blk.2.attn_k.weight': weight 325: code 3 is not a ternary value");
	{
		uint8_t codes[128];
		rc = wf_ternary_codes_rows(&ten, 0, 2, codes, err, sizeof err);
		expect_err(rc, err, "tensor 'blk.2.attn_k.weight': weight 325: code 3 is not a ternary value");
		rc = wf_ternary_codes_rows(&ten, 0, 3, codes, err, sizeof err);
		expect_err(rc, err, "tensor 'blk.2.attn_k.weight': rows [0, 3) outside [0, 2)");
	}

	CHECK(wf_ternary_encode(WF_TYPE_I2_S, t, 2, 256, 0.5f, b, 160, err, sizeof err) == 0, "%s", err);
	b[32 + 7] |= 0x0c; /* block 1, byte 7, weights 128 + 64 + 7 */
	ten = fake("w", WF_TYPE_I2_S, 256, 2, b, 160);
	rc = wf_ternary_decode(&ten, back, &s, err, sizeof err);
	expect_err(rc, err, "tensor 'w': weight 199: code 3 is not a ternary value");
	{
		uint8_t codes[128];
		rc = wf_ternary_codes_rows(&ten, 0, 1, codes, err, sizeof err);
		expect_err(rc, err, "tensor 'w': weight 199: code 3 is not a ternary value");
		rc = wf_ternary_codes_rows(&ten, 1, 2, codes, err, sizeof err);
		CHECK(rc == 0, "row 1 of w has no code 3: %d %s", rc, err);
	}
	ten = fake("w", WF_TYPE_I2_S, 64, 8, b, 160);
	rc = wf_ternary_decode_rows(&ten, s, 1, 4, back, err, sizeof err);
	expect_err(rc, err, "tensor 'w': weight 199: code 3 is not a ternary value");
	rc = wf_ternary_decode_rows(&ten, s, 2, 9, back, err, sizeof err);
	expect_err(rc, err, "tensor 'w': rows [2, 9) outside [0, 8)");

	wf_ternary_i2s_trailer(INFINITY, b + 128);
	rc = wf_ternary_scale(&ten, &s, err, sizeof err);
	expect_err(rc, err, "tensor 'w': scale inf is not finite");

	rc = wf_ternary_encode(WF_TYPE_TQ1_0, t, 2, 128, 0.5f, b, 54, err, sizeof err);
	expect_err(rc, err, "TQ1_0: shape [128, 2] is not a multiple of the 256-weight block");
	rc = wf_ternary_encode(WF_TYPE_TQ1_0, t, 2, 256, 0.5f, b, 100, err, sizeof err);
	expect_err(rc, err, "TQ1_0 [256, 2] takes 108 bytes, not 100");
	rc = wf_ternary_encode(WF_TYPE_Q8_0, t, 2, 256, 0.5f, b, 100, err, sizeof err);
	expect_err(rc, err, "type Q8_0 is not a ternary weight format");
	if (failures == before)
		printf("ok errors\n");
}

/* ---- peers ------------------------------------------------------------ */

struct model {
	const char *file;
	uint8_t *buf;
	size_t len;
	struct wf_gguf g;
};

static void load(struct model *m, const char *dir, const char *file)
{
	char path[4096], err[256];

	snprintf(path, sizeof path, "%s/%s", dir, file);
	m->file = file;
	m->buf = slurp(path, &m->len);
	if (wf_gguf_parse(&m->g, m->buf, m->len, err, sizeof err)) {
		printf("FAIL: %s: %s\n", path, err);
		exit(1);
	}
}

static void unload(struct model *m)
{
	wf_gguf_free(&m->g);
	free(m->buf);
}

static int is_ternary(uint32_t type)
{
	return type == WF_TYPE_I2_S || type == WF_TYPE_TQ1_0 || type == WF_TYPE_TQ2_0;
}

static void test_peers(const char *dir)
{
	static const char *files[] = {"tiny-bitnet-tq2_0.gguf", "tiny-bitnet-tq1_0.gguf",
	                              "tiny-b158-i2_s.gguf", "tiny-b158-tq2_0.gguf"};
	struct model m[4];
	uint64_t i;
	int f, n_tern = 0, before = failures;
	char err[256];

	for (f = 0; f < 4; f++)
		load(&m[f], dir, files[f]);
	for (f = 1; f < 4; f++)
		CHECK(m[f].g.n_tensors == m[0].g.n_tensors, "%s: %" PRIu64 " tensors", files[f], m[f].g.n_tensors);
	for (i = 0; i < m[0].g.n_tensors; i++) {
		const struct wf_gguf_tensor *t0 = &m[0].g.tensors[i];
		int8_t *ref = NULL, *tr;
		float s0 = 0, s;
		int64_t rows, cols;

		for (f = 0; f < 4; f++) {
			const struct wf_gguf_tensor *t = wf_gguf_tensor(&m[f].g, t0->name);
			uint8_t *re;
			uint64_t j;

			CHECK(t, "%s: no tensor '%s'", files[f], t0->name);
			if (!is_ternary(t->type)) {
				/* embedding and norms: the same bytes in every file */
				CHECK(t->type == t0->type && t->nbytes == t0->nbytes &&
				      !memcmp(t->data, t0->data, t->nbytes), "%s: '%s' differs", files[f], t->name);
				continue;
			}
			CHECK(wf_ternary_check(t, &rows, &cols, err, sizeof err) == 0, "%s: %s", files[f], err);
			tr = xmalloc((size_t)(rows * cols));
			re = xmalloc(t->nbytes);
			if (wf_ternary_decode(t, tr, &s, err, sizeof err)) {
				printf("FAIL %s: %s\n", files[f], err);
				failures++;
			} else if (wf_ternary_encode(t->type, tr, rows, cols, s, re, t->nbytes, err, sizeof err)) {
				printf("FAIL %s: %s\n", files[f], err);
				failures++;
			} else if (memcmp(re, t->data, t->nbytes)) {
				for (j = 0; re[j] == t->data[j]; j++)
					;
				printf("FAIL %s: '%s': re-encoded byte %" PRIu64 " is %u, file has %u\n",
				       files[f], t->name, j, re[j], t->data[j]);
				failures++;
			} else if (!ref) {
				ref = tr;
				tr = NULL;
				s0 = s;
				n_tern++;
			} else if (memcmp(ref, tr, (size_t)(rows * cols))) {
				printf("FAIL %s: '%s': trits differ from %s\n", files[f], t->name, files[0]);
				failures++;
			} else if (wf_f16_to_f32(wf_f32_to_f16(s)) != s0) {
				printf("FAIL %s: '%s': scale %.9g, %s has %.9g\n", files[f], t->name, (double)s,
				       files[0], (double)s0);
				failures++;
			}
			free(tr);
			free(re);
		}
		free(ref);
		if (failures != before)
			break;
	}
	for (f = 0; f < 4; f++)
		unload(&m[f]);
	CHECK(n_tern == 28, "%d ternary tensors, want 28", n_tern);
	if (failures == before)
		printf("ok peers: %d ternary tensors agree across 4 files and re-encode byte-identically\n", n_tern);
}

/* ---- tiny-shakespeare: the training rule ------------------------------ */

/* The number after "key": in a JSON text (fixture files only). */
static const char *json_after(const char *text, const char *key)
{
	char pat[256];
	const char *p;

	snprintf(pat, sizeof pat, "\"%s\"", key);
	p = strstr(text, pat);
	return p ? p + strlen(pat) : NULL;
}

static void test_absmean(const char *dir)
{
	static const char *hf[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
	                           "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
	static const char *gg[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
	struct model m;
	char path[4096], name[128], err[256];
	uint8_t *st, *gold;
	size_t stlen, goldlen;
	uint64_t hlen;
	int l, k, n_ok = 0, n_exact = 0, before = failures;

	load(&m, dir, "tiny-shakespeare-bitnet-b158-tq2_0.gguf");
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	st = slurp(path, &stlen);
	snprintf(path, sizeof path, "%s/golden.json", dir);
	gold = slurp(path, &goldlen);
	gold = realloc(gold, goldlen + 1);
	gold[goldlen] = 0;
	memcpy(&hlen, st, 8);
	CHECK(hlen + 8 <= stlen, "safetensors header");
	{
		char *hdr = xmalloc(hlen + 1);
		memcpy(hdr, st + 8, hlen);
		hdr[hlen] = 0;
		for (l = 0; l < 4; l++)
			for (k = 0; k < 7; k++) {
				const struct wf_gguf_tensor *t;
				const char *p, *g;
				unsigned long long a, b;
				int64_t rows, cols;
				uint64_t n, i;
				float *w, s, sg, st16;
				int8_t *mine, *theirs;

				snprintf(name, sizeof name, "model.layers.%d.%s.weight", l, hf[k]);
				p = json_after(hdr, name);
				p = p ? strstr(p, "\"data_offsets\":[") : NULL;
				if (!p || sscanf(p, "\"data_offsets\":[%llu,%llu]", &a, &b) != 2 ||
				    8 + hlen + b > stlen || b < a) {
					printf("FAIL: safetensors: %s\n", name);
					failures++;
					continue;
				}
				g = json_after((const char *)gold, name);
				sg = g ? strtof(g + 1, NULL) : 0;
				snprintf(path, sizeof path, "blk.%d.%s.weight", l, gg[k]);
				t = wf_gguf_tensor(&m.g, path);
				if (!t || wf_ternary_check(t, &rows, &cols, err, sizeof err)) {
					printf("FAIL: %s\n", t ? err : path);
					failures++;
					continue;
				}
				n = (b - a) / 2;
				if (n != (uint64_t)(rows * cols)) {
					printf("FAIL: %s: %" PRIu64 " weights\n", name, n);
					failures++;
					continue;
				}
				w = xmalloc(n * sizeof *w);
				mine = xmalloc(n);
				theirs = xmalloc(n);
				for (i = 0; i < n; i++) {
					const uint8_t *q = st + 8 + hlen + a + 2 * i;
					w[i] = wf_bf16_to_f32((uint16_t)(q[0] | q[1] << 8));
				}
				s = wf_ternary_absmean(w, n);
				for (i = 0; i < n; i++)
					mine[i] = wf_ternary_round(w[i], s);
				if (wf_ternary_decode(t, theirs, &st16, err, sizeof err)) {
					printf("FAIL: %s\n", err);
					failures++;
				} else if (memcmp(mine, theirs, n)) {
					printf("FAIL: %s: ternarised trits differ from the GGUF's\n", name);
					failures++;
				} else if (wf_f16_to_f32(wf_f32_to_f16(s)) != st16) {
					printf("FAIL: %s: f16(absmean %.9g) != GGUF d %.9g\n", name, (double)s, (double)st16);
					failures++;
				} else if (fabsf(s - sg) > 1.5f * (nextafterf(sg, 1) - sg)) {
					/* golden.json's mean comes from torch's float32 reduction,
					 * which may differ from the double sum by one ulp */
					printf("FAIL: %s: absmean %.9g, golden %.9g\n", name, (double)s, (double)sg);
					failures++;
				} else {
					n_ok++;
					n_exact += s == sg;
				}
				free(w);
				free(mine);
				free(theirs);
			}
		free(hdr);
	}
	free(st);
	free(gold);
	unload(&m);
	if (failures == before)
		printf("ok absmean: %d tensors ternarise to the GGUF's trits; scale = golden for %d, 1 ulp off for %d\n",
		       n_ok, n_exact, n_ok - n_exact);
}

int main(int argc, char **argv)
{
	char err[128];

	if (wf_kernels_init("scalar", err, sizeof err)) {
		printf("FAIL: %s\n", err);
		return 1;
	}
	if (argc == 2 && !strcmp(argv[1], "vectors")) {
		test_tq1_vectors();
		test_tq2_vectors();
		test_i2s_vectors();
	} else if (argc == 2 && !strcmp(argv[1], "roundtrip")) {
		test_roundtrip();
		test_zero_blocks();
	} else if (argc == 2 && !strcmp(argv[1], "rounding")) {
		test_rounding();
	} else if (argc == 2 && !strcmp(argv[1], "errors")) {
		test_errors();
	} else if (argc == 3 && !strcmp(argv[1], "peers")) {
		test_peers(argv[2]);
	} else if (argc == 3 && !strcmp(argv[1], "absmean")) {
		test_absmean(argv[2]);
	} else {
		fprintf(stderr, "usage: ternary_test vectors|roundtrip|rounding|errors|peers DIR|absmean DIR\n");
		return 2;
	}
	return failures ? 1 : 0;
}
