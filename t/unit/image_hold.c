/*
 * image_hold MODEL — attach a model the way programs do, read every page
 * of its mapping, print "attached image|file", then wait for SIGUSR1; on it
 * print the mapping's Rss and Pss in kB from /proc/self/smaps:
 *   rss=KB pss=KB
 * and exit at the next SIGUSR1.  Two holders of one image at once each see Pss about half of
 * Rss: the pages exist once.  Errors: "image_hold: MESSAGE", exit 1.
 */
#include "image.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Rss and Pss (kB) of the mapping that contains addr; -1 if not found. */
static int smaps(uintptr_t addr, long *rss, long *pss)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	int in = 0, found = 0;
	*rss = *pss = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		/* "lo-hi perms offset dev inode path" starts a mapping; then "Name: N kB" lines */
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			in = addr >= lo && addr < hi;
			continue;
		}
		if (in && strncmp(line, "Rss:", 4) == 0)
			*rss = strtol(line + 4, NULL, 10);
		if (in && strncmp(line, "Pss:", 4) == 0) {
			*pss = strtol(line + 4, NULL, 10);
			found = 1;
		}
	}
	fclose(f);
	return found ? 0 : -1;
}

/* Reading each page into this makes it resident. */
static volatile unsigned sink;

int main(int argc, char **argv)
{
	struct wf_model_src src;
	char err[1024];
	sigset_t set;
	long page = sysconf(_SC_PAGESIZE), rss, pss;
	size_t i;
	int sig;

	if (argc != 2) {
		fprintf(stderr, "usage: image_hold MODEL\n");
		return 2;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (wf_model_open(argv[1], &src, err, sizeof err) < 0) {
		fprintf(stderr, "image_hold: %s\n", err);
		return 1;
	}
	for (i = 0; i < src.size; i += (size_t)page)
		sink += ((const unsigned char *)src.base)[i];
	printf("attached %s\n", src.is_image ? "image" : "file");
	fflush(stdout);
	sigwait(&set, &sig);
	if (smaps((uintptr_t)src.base, &rss, &pss) < 0) {
		fprintf(stderr, "image_hold: mapping not found in /proc/self/smaps\n");
		return 1;
	}
	printf("rss=%ld pss=%ld\n", rss, pss);
	fflush(stdout);
	/* Stay attached until told, so a peer measuring now still shares. */
	sigwait(&set, &sig);
	wf_model_close(&src);
	return 0;
}
