/*
 * unicode — UTF-8 decoding and the character classes the tokenizers need.
 *
 * The classes come from tables generated from the Unicode Character
 * Database by tools/gen-unicode.sh (lib/unicode_tables.h, committed), so
 * the regular expressions of the pre-tokenizers can be matched by hand:
 *   \p{L}  WF_U_LETTER    general category L*
 *   \p{N}  WF_U_NUMBER    N*
 *   \p{P}  WF_U_PUNCT     P*
 *   \s     WF_U_SPACE     property White_Space (PropList.txt)
 * A code point outside Unicode, an unassigned one (Cn) and a byte that does
 * not start valid UTF-8 have no class bits at all.
 */
#ifndef WF_UNICODE_H
#define WF_UNICODE_H

#include <stddef.h>
#include <stdint.h>

enum {
	WF_U_LETTER = 1,     /* L* */
	WF_U_NUMBER = 2,     /* N* */
	WF_U_SPACE = 4,      /* White_Space */
	WF_U_PUNCT = 8,      /* P* */
	WF_U_MARK = 16,      /* M* */
	WF_U_SYMBOL = 32,    /* S* */
	WF_U_SEPARATOR = 64, /* Z* */
	WF_U_OTHER = 128     /* Cc Cf Cs Co (not Cn) */
};

/* Returned by wf_utf8_next() for a byte that does not start a valid
 * sequence. */
#define WF_U_BAD 0xFFFFFFFFu

/* The Unicode version the tables were generated from, e.g. "15.0.0". */
const char *wf_unicode_version(void);

/* Class bits of code point cp (0 for cp > 0x10FFFF or WF_U_BAD). */
uint8_t wf_u_flags(uint32_t cp);

/* Simple lowercase mapping of cp (UnicodeData field 13); cp itself when
 * there is none. */
uint32_t wf_u_lower(uint32_t cp);

/*
 * Decode the code point at s[0..n), n > 0.  Returns the number of bytes
 * it takes (1..4) and stores it in *cp.  A byte that does not start a
 * well-formed sequence (a stray continuation byte, a truncated sequence, an
 * overlong form, a surrogate, a value past U+10FFFF) takes 1 byte and
 * stores WF_U_BAD, so every byte of any input belongs to exactly one
 * "character" and decoding never fails.
 */
size_t wf_utf8_next(const char *s, size_t n, uint32_t *cp);

/* Encode cp (<= 0x10FFFF) into out[4]; returns the length, 0 if cp is not
 * encodable. */
size_t wf_utf8_encode(uint32_t cp, char *out);

/* Length of the longest prefix of s[0..n) that is valid UTF-8. */
size_t wf_utf8_valid_prefix(const char *s, size_t n);

/*
 * Streaming check for a byte sink that must never split a character:
 * given a buffer s[0..n) of pending bytes, returns how many leading bytes
 * are ready to print — every complete character, and every byte that can
 * never become part of a valid character — keeping back only an
 * incomplete but still possible sequence at the end (at most 3 bytes).
 */
size_t wf_utf8_complete(const char *s, size_t n);

/* For s[0..n) (n > 0) that does not start a valid character: the length
 * of its maximal subpart (the longest prefix that could start one, at
 * least 1), which is replaced by one U+FFFD, as Unicode recommends. */
size_t wf_utf8_bad_len(const char *s, size_t n);

#endif
