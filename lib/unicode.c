#include "unicode.h"

#include "unicode_tables.h"

const char *wf_unicode_version(void)
{
	return WF_UNICODE_VERSION;
}

uint8_t wf_u_flags(uint32_t cp)
{
	if (cp > 0x10FFFF)
		return 0;
	return ucd_stage2[(size_t)ucd_stage1[cp >> 8] * 256 + (cp & 255)];
}

uint32_t wf_u_lower(uint32_t cp)
{
	if (cp < 128)
		return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
	size_t lo = 0, hi = sizeof ucd_lower / sizeof ucd_lower[0];
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ucd_lower[mid][0] < cp)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < sizeof ucd_lower / sizeof ucd_lower[0] && ucd_lower[lo][0] == cp)
		return ucd_lower[lo][1];
	return cp;
}

size_t wf_utf8_next(const char *s, size_t n, uint32_t *cp)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned c = u[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	size_t len;
	uint32_t v, min;
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2; v = c & 0x1F; min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3; v = c & 0x0F; min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4; v = c & 0x07; min = 0x10000;
	} else {
		*cp = WF_U_BAD;
		return 1;
	}
	if (n < len) {
		*cp = WF_U_BAD;
		return 1;
	}
	for (size_t i = 1; i < len; i++) {
		if ((u[i] & 0xC0) != 0x80) {
			*cp = WF_U_BAD;
			return 1;
		}
		v = (v << 6) | (u[i] & 0x3F);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
		*cp = WF_U_BAD;
		return 1;
	}
	*cp = v;
	return len;
}

size_t wf_utf8_encode(uint32_t cp, char *out)
{
	unsigned char *o = (unsigned char *)out;
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xC0 | (cp >> 6));
		o[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp >= 0xD800 && cp <= 0xDFFF)
		return 0;
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xE0 | (cp >> 12));
		o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	if (cp <= 0x10FFFF) {
		o[0] = (unsigned char)(0xF0 | (cp >> 18));
		o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
		o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		o[3] = (unsigned char)(0x80 | (cp & 0x3F));
		return 4;
	}
	return 0;
}

size_t wf_utf8_valid_prefix(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint32_t cp;
		size_t l = wf_utf8_next(s + i, n - i, &cp);
		if (cp == WF_U_BAD)
			break;
		i += l;
	}
	return i;
}

/* 1 when s[0..n) (n < the sequence length) can still grow into a valid
 * sequence: the same checks as wf_utf8_next() on the bytes present. */
static int utf8_viable_prefix(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
	if (c < 0xC2 || c > 0xF4 || n >= len)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	if (n >= 2) {
		unsigned d = s[1];
		if (c == 0xE0 && d < 0xA0) return 0;   /* overlong */
		if (c == 0xED && d >= 0xA0) return 0;  /* surrogate */
		if (c == 0xF0 && d < 0x90) return 0;   /* overlong */
		if (c == 0xF4 && d >= 0x90) return 0;  /* > U+10FFFF */
	}
	return 1;
}

size_t wf_utf8_complete(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint32_t cp;
		size_t l = wf_utf8_next(s + i, n - i, &cp);
		if (cp == WF_U_BAD && n - i < 4 &&
		    utf8_viable_prefix((const unsigned char *)s + i, n - i))
			return i;
		i += l;
	}
	return n;
}

size_t wf_utf8_bad_len(const char *s, size_t n)
{
	size_t m = 1;
	for (size_t k = 2; k <= 3 && k <= n; k++)
		if (utf8_viable_prefix((const unsigned char *)s, k))
			m = k;
	return m;
}
