/*
 * tokio — the record format every filter speaks (man/wf-tokens.5).
 *
 * A stream is a sequence of records, each ended by a delimiter ('\n' by
 * default, '\0' with -z) or, in whole-input mode, the entire input as one
 * record.  A record may start with a key: everything before the first TAB.
 * A token-ID record is decimal IDs separated by spaces (runs of spaces are
 * accepted; an empty line is an empty record).
 */
#ifndef WF_TOKIO_H
#define WF_TOKIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define WF_READ_WHOLE (-1) /* delim value: the whole input is one record */

struct wf_reader {
	int fd;           /* read with read(2): stdio's buffer is not used */
	int delim;        /* '\n', '\0' or WF_READ_WHOLE */
	size_t max;       /* longest record accepted, in bytes */
	char *buf;        /* the record being gathered, then returned */
	size_t n, cap;    /* its length (at most max) and allocation */
	char *in;         /* bytes read but not yet gathered: in[ip, il) */
	size_t ip, il;
	uint64_t recno;   /* 1-based number of the record last returned */
	int any;          /* the record being gathered has a byte (or its delimiter) */
	int toolong;      /* ... and more than max: the rest is being skipped */
	int done;         /* ... and is complete: the next call returns it */
	int eof;          /* end of input seen (or reading failed) */
	int failed;       /* nonzero once reading failed (read error, out of memory): no record follows */
	int err_no;       /* the errno of that failure */
};

/* Set up r to read f's descriptor.  max_len 0 means 1 GiB.  Returns 0.
 * Nothing may have been read from f through stdio before. */
int wf_reader_init(struct wf_reader *r, FILE *f, int delim, size_t max_len);
void wf_reader_free(struct wf_reader *r);

/*
 * Next record.  Returns 1 with *rec pointing at a NUL-terminated copy of
 * the record (delimiter stripped; valid until the next call) and *len its
 * length (it may contain NULs in whole-input mode); 0 at end of input; -1
 * with a message, in two cases:
 *   - the record is longer than max: its first max bytes are in *rec and
 *     *len (so that a caller can still find its key), the rest was
 *     skipped, r->recno counts it, and the next call resumes at the
 *     following record;
 *   - reading failed (r->failed set; "read error: ..." or "out of
 *     memory"): this is not a record, and every later call returns 0.
 * A final record without a delimiter is returned like any other; in
 * whole-input mode an empty input is one empty record.  Blocks until a
 * whole record (or the end of input) has arrived.
 */
int wf_reader_next(struct wf_reader *r, char **rec, size_t *len, char *err, size_t errlen);

/*
 * Whether wf_reader_next would return without waiting for input: reads
 * only what has already arrived (poll(2) with no timeout, then at most
 * one read(2) at a time) and keeps a partial record for the next call.
 * Returns 1 when a whole record, the end of input or a failure is at
 * hand, 0 when the next record has not fully arrived.
 */
int wf_reader_ready(struct wf_reader *r);

/* The key of record rec[len]: rec itself with *keylen the bytes before its
 * first TAB; NULL (and *keylen 0) when it has no TAB. */
const char *wf_rec_key(const char *rec, size_t len, size_t *keylen);

/* For a message: the first max bytes of s[n] in out, control bytes and
 * DEL written \r, \t, \n or \xHH, "..." after them when n > max; always
 * NUL-terminated (whole when outlen >= 4·max + 4).  Returns out. */
const char *wf_quote(char *out, size_t outlen, const char *s, size_t n, size_t max);

/* A parsed token-ID record. */
struct wf_idrec {
	const char *key;  /* points into the parsed line; NULL when no key */
	size_t keylen;
	int32_t *ids;     /* grown as needed; reused between records */
	size_t n, cap;
};

/*
 * Parse line[len] ("KEY\t1 2 3" or "1 2 3") into out (out->n reset first;
 * ids buffer reused).  n_vocab > 0 checks every id is in [0, n_vocab).
 * Returns 0, or -1 with a message such as "token 3: 'x7' is not a token id"
 * or "token 2: id 99999 out of range [0, 1024)"; out->key is set even then,
 * so the caller can still echo the key of a bad record.
 */
int wf_idrec_parse(const char *line, size_t len, uint32_t n_vocab, struct wf_idrec *out,
                   char *err, size_t errlen);
void wf_idrec_free(struct wf_idrec *r);

/* Write "KEY\t" when key is non-NULL; then ids as "1 2 3" (no newline).
 * Return 0, or -1 on a write error (errno set). */
int wf_write_key(FILE *f, const char *key, size_t keylen);
int wf_write_ids(FILE *f, const int32_t *ids, size_t n);

#endif
