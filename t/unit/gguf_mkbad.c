/*
 * gguf_mkbad CLASS FILE — write one hand-made GGUF file of the named class:
 * the malformed classes of ../shared/notes/gguf-malformed.md, and valid
 * controls.  `gguf_mkbad list` prints the class names.  t/gguf.bats runs
 * wf-info on each and checks the exact message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t *buf;
static size_t len, cap;

static void put(const void *p, size_t n)
{
	if (len + n > cap) {
		cap = (len + n) * 2 + 4096;
		buf = realloc(buf, cap);
		if (!buf)
			abort();
	}
	memcpy(buf + len, p, n);
	len += n;
}

static void u8(uint8_t v) { put(&v, 1); }
static void u32(uint32_t v) { for (int i = 0; i < 4; i++) u8((uint8_t)(v >> 8 * i)); }
static void u64(uint64_t v) { for (int i = 0; i < 8; i++) u8((uint8_t)(v >> 8 * i)); }
static void str(const char *s) { u64(strlen(s)); put(s, strlen(s)); }
static void zeros(size_t n) { while (n--) u8(0); }
static void padto(size_t a) { while (len % a) u8(0); }

static void header(uint32_t version, uint64_t nt, uint64_t nkv)
{
	put("GGUF", 4);
	u32(version);
	u64(nt);
	u64(nkv);
}

/* kv helpers */
static void kv_u32(const char *k, uint32_t v) { str(k); u32(4); u32(v); }
static void kv_str(const char *k, const char *v) { str(k); u32(8); str(v); }

/* A tensor info with 2 dims. */
static void tinfo(const char *name, uint64_t ne0, uint64_t ne1, uint32_t type, uint64_t off)
{
	str(name);
	u32(2);
	u64(ne0);
	u64(ne1);
	u32(type);
	u64(off);
}

/* A valid base: 1 kv, 2 F32 tensors of 8x2 (64 bytes each). */
static void valid(uint32_t version)
{
	header(version, 2, 1);
	kv_str("general.architecture", "bitnet-b1.58");
	tinfo("a.weight", 8, 2, 0, 0);
	tinfo("b.weight", 8, 2, 0, 64);
	padto(32);
	for (int i = 0; i < 32; i++) {
		float f = (float)i;
		put(&f, 4);
	}
}

struct cls {
	const char *name;
	void (*make)(void);
};

#define C(n) static void n(void)
C(ok_v3) { valid(3); }
C(ok_v2) { valid(2); }
C(ok_empty) { header(3, 0, 0); }
/* a tensor name holding a newline and a terminal escape */
C(ok_tname_ctrl)
{
	header(3, 1, 0);
	tinfo("blk.0.attn\nnorm\x1b[31m", 8, 2, 0, 0);
	padto(32);
	zeros(64);
}
C(ok_align1)
{
	header(3, 1, 1);
	kv_u32("general.alignment", 1);
	tinfo("a", 8, 1, 0, 0);
	zeros(32);
}
C(ok_align64)
{
	header(3, 2, 1);
	kv_u32("general.alignment", 64);
	tinfo("a", 8, 1, 0, 0);
	tinfo("b", 8, 1, 0, 64);
	padto(64);
	zeros(96);
}
C(ok_trailing) { valid(3); zeros(100); }
C(short_file) { put("GGUF\3\0\0\0", 8); zeros(2); }
C(bad_magic) { valid(3); memcpy(buf, "GGUX", 4); }
C(version0) { valid(0); }
C(version1) { valid(1); }
C(version4) { valid(4); }
C(version_swapped) { valid(0x03000000); }
C(n_tensors_negative) { header(3, (uint64_t)-1, 0); zeros(64); }
C(n_tensors_huge) { header(3, 1000000, 0); zeros(64); }
C(n_kv_negative) { header(3, 0, (uint64_t)-5); zeros(64); }
C(n_kv_huge) { header(3, 0, 1u << 30); zeros(64); }
C(key_empty) { header(3, 0, 1); str(""); u32(4); u32(1); }
C(key_too_long) { header(3, 0, 1); u64(70000); zeros(70010); }
C(key_past_end) { header(3, 0, 1); u64(100); put("general", 7); zeros(7); }
C(key_not_ascii) { header(3, 0, 1); str("general.\nname"); u32(4); u32(1); }
C(key_duplicate) { header(3, 0, 2); kv_u32("a.b", 1); kv_u32("a.b", 2); }
C(vtype_bad) { header(3, 0, 1); str("a.b"); u32(13); u32(0); u32(0); }
C(array_of_arrays) { header(3, 0, 1); str("a.b"); u32(9); u32(9); u64(1); zeros(16); }
C(array_etype_bad) { header(3, 0, 1); str("a.b"); u32(9); u32(77); u64(1); zeros(16); }
C(string_past_end) { header(3, 0, 1); str("a.b"); u32(8); u64(1000); put("xyz", 3); zeros(20); }
C(string_over_cap)
{
	header(3, 0, 1);
	str("a.b");
	u32(8);
	u64((1u << 20) + 1);
	zeros((1u << 20) + 8);
}
C(string_bad_utf8) { header(3, 0, 1); str("a.b"); u32(8); str("ab\xff\xfe"); }
C(array_count_overflow) { header(3, 0, 1); str("a.b"); u32(9); u32(10); u64(1ull << 62); zeros(64); }
C(array_past_end) { header(3, 0, 1); str("a.b"); u32(9); u32(4); u64(1000); zeros(64); }
C(array_over_cap) { header(3, 0, 1); str("a.b"); u32(9); u32(0); u64((1u << 24) + 1); zeros(64); }
C(array_strings_past_end) { header(3, 0, 1); str("a.b"); u32(9); u32(8); u64(3); str("x"); str("y"); }
C(bool_bad) { header(3, 0, 1); str("a.b"); u32(7); u8(2); }
C(bool_array_bad) { header(3, 0, 1); str("a.b"); u32(9); u32(7); u64(3); u8(0); u8(1); u8(7); }
C(align_wrong_type) { header(3, 0, 1); str("general.alignment"); u32(10); u64(32); }
C(align_zero) { header(3, 0, 1); kv_u32("general.alignment", 0); }
C(align_not_pow2) { header(3, 0, 1); kv_u32("general.alignment", 48); }
C(align_huge) { header(3, 0, 1); kv_u32("general.alignment", 1u << 20); }
C(tname_empty) { header(3, 1, 0); tinfo("", 8, 1, 0, 0); padto(32); zeros(32); }
C(tname_too_long)
{
	char n[65];
	memset(n, 'x', 64);
	n[64] = 0;
	header(3, 1, 0);
	tinfo(n, 8, 1, 0, 0);
	padto(32);
	zeros(32);
}
C(tname_bad_utf8) { header(3, 1, 0); tinfo("a\xc0\xaf", 8, 1, 0, 0); padto(32); zeros(32); }
C(tname_duplicate)
{
	header(3, 2, 0);
	tinfo("w", 8, 1, 0, 0);
	tinfo("w", 8, 1, 0, 32);
	padto(32);
	zeros(64);
}
C(ndims_zero) { header(3, 1, 0); str("w"); u32(0); u32(0); u64(0); zeros(32); }
C(ndims_five) { header(3, 1, 0); str("w"); u32(5); for (int i = 0; i < 5; i++) u64(1); u32(0); u64(0); zeros(32); }
C(dim_zero) { header(3, 1, 0); tinfo("w", 8, 0, 0, 0); padto(32); zeros(32); }
C(dim_negative) { header(3, 1, 0); tinfo("w", 8, (uint64_t)-3, 0, 0); padto(32); zeros(32); }
C(nelem_overflow) { header(3, 1, 0); tinfo("w", 1ull << 32, 1ull << 32, 0, 0); padto(32); zeros(32); }
C(nbytes_overflow) { header(3, 1, 0); tinfo("w", 1ull << 62, 1, 0, 0); padto(32); zeros(32); }
C(type_unknown) { header(3, 1, 0); tinfo("w", 8, 1, 99, 0); padto(32); zeros(32); }
C(type_retired) { header(3, 1, 0); tinfo("w", 8, 1, 4, 0); padto(32); zeros(32); }
C(type_unsupported) { header(3, 1, 0); tinfo("w", 32, 1, 2, 0); padto(32); zeros(32); }
C(row_not_blocks) { header(3, 1, 0); tinfo("w", 100, 1, 35, 0); padto(32); zeros(128); }
C(i2s_not_128) { header(3, 1, 0); tinfo("w", 64, 1, 36, 0); padto(32); zeros(128); }
C(wf_tmat_3d) { header(3, 1, 0); str("w"); u32(3); u64(128); u64(4); u64(2); u32(1000); u64(0); padto(32); zeros(512); }
C(wf_q8r_row_48) { header(3, 1, 0); tinfo("w", 48, 2, 1001, 0); padto(32); zeros(128); }
C(wf_q8r_ok) { header(3, 1, 0); tinfo("w", 64, 2, 1001, 0); padto(32); zeros(144); }
C(offset_unaligned) { header(3, 1, 0); tinfo("w", 8, 1, 0, 4); padto(32); zeros(64); }
C(offset_gap) { header(3, 1, 0); tinfo("w", 8, 1, 0, 64); padto(32); zeros(128); }
C(offset_overlap)
{
	header(3, 2, 0);
	tinfo("a", 8, 2, 0, 0);
	tinfo("b", 8, 2, 0, 32);
	padto(32);
	zeros(128);
}
C(offset_huge) { header(3, 1, 0); tinfo("w", 8, 1, 0, 0xffffffffffffffe0ull); padto(32); zeros(32); }
C(data_start_past_end) { header(3, 1, 0); tinfo("w", 8, 1, 0, 0); zeros(1); }
C(data_past_end) { header(3, 1, 0); tinfo("w", 8, 4, 0, 0); padto(32); zeros(100); }
C(data_second_past_end)
{
	header(3, 2, 0);
	tinfo("a", 8, 1, 0, 0);
	tinfo("b", 1024, 1024, 0, 32);
	padto(32);
	zeros(64);
}
C(truncated_kv) { header(3, 0, 2); kv_u32("a.b", 1); str("c.d"); u32(4); }
C(truncated_tinfo) { header(3, 1, 0); str("w"); u32(2); u64(8); }

#define E(n) {#n, n}
static const struct cls CLASSES[] = {
	E(ok_v3), E(ok_v2), E(ok_empty), E(ok_tname_ctrl), E(ok_align1), E(ok_align64), E(ok_trailing),
	E(short_file), E(bad_magic), E(version0), E(version1), E(version4), E(version_swapped),
	E(n_tensors_negative), E(n_tensors_huge), E(n_kv_negative), E(n_kv_huge),
	E(key_empty), E(key_too_long), E(key_past_end), E(key_not_ascii), E(key_duplicate),
	E(vtype_bad), E(array_of_arrays), E(array_etype_bad),
	E(string_past_end), E(string_over_cap), E(string_bad_utf8),
	E(array_count_overflow), E(array_past_end), E(array_over_cap), E(array_strings_past_end),
	E(bool_bad), E(bool_array_bad),
	E(align_wrong_type), E(align_zero), E(align_not_pow2), E(align_huge),
	E(tname_empty), E(tname_too_long), E(tname_bad_utf8), E(tname_duplicate),
	E(ndims_zero), E(ndims_five), E(dim_zero), E(dim_negative), E(nelem_overflow),
	E(nbytes_overflow), E(type_unknown), E(type_retired), E(type_unsupported),
	E(row_not_blocks), E(i2s_not_128), E(wf_tmat_3d), E(wf_q8r_row_48), E(wf_q8r_ok),
	E(offset_unaligned), E(offset_gap), E(offset_overlap), E(offset_huge),
	E(data_start_past_end), E(data_past_end), E(data_second_past_end),
	E(truncated_kv), E(truncated_tinfo),
};

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "list") == 0) {
		for (size_t i = 0; i < sizeof CLASSES / sizeof CLASSES[0]; i++)
			puts(CLASSES[i].name);
		return 0;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: gguf_mkbad list | CLASS FILE\n");
		return 2;
	}
	for (size_t i = 0; i < sizeof CLASSES / sizeof CLASSES[0]; i++) {
		if (strcmp(argv[1], CLASSES[i].name))
			continue;
		CLASSES[i].make();
		FILE *f = fopen(argv[2], "wb");
		if (!f || fwrite(buf, 1, len, f) != len || fclose(f)) {
			perror(argv[2]);
			return 1;
		}
		free(buf);
		return 0;
	}
	fprintf(stderr, "gguf_mkbad: unknown class '%s'\n", argv[1]);
	return 2;
}
