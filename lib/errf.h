/*
 * errf — how library code reports an error: one line, without a trailing
 * newline, formatted into the caller's err[errlen] buffer.
 */
#ifndef WF_ERRF_H
#define WF_ERRF_H

#include <stddef.h>

/* Format the message into err[errlen] (nothing when err is NULL or errlen
 * is 0; cut to fit) and return -1, so `return wf_errf(err, errlen, ...)`
 * ends a failing function. */
int wf_errf(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;

#endif
