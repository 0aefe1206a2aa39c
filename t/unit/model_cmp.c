/*
 * model_cmp — compare two logit dumps (raw little-endian float32,
 * [n_tokens][n_vocab], the format of wf-decode --logits and the peer files).
 *
 *   model_cmp [-V n_vocab] [-l max_rel_l2] [-a max_abs] [-t min_top1]
 *             [-M margin] [-o offset_rows] OURS.f32 REF.f32
 *
 * Prints one line:
 *   rows R rel_l2 X max_row_rel_l2 Y max_abs Z top1 A/R clear_top1 C/D
 * where clear_top1 counts agreement only at rows whose reference top1-top2
 * margin exceeds -M (default 0.05).  Exit 0 when within every given bound
 * (and all clear rows agree), 1 otherwise, 2 on usage or I/O errors.
 * -o skips that many rows of OURS first (for a file holding several records).
 *
 *   model_cmp -P < text > f32     decimal numbers in, raw float32 out
 *
 *   model_cmp -V n_vocab -g IDS -s ROW [-M margin] OURS.f32
 *
 * Greedy check (teacher forcing): IDS holds a reference greedy continuation
 * g0 g1 ...; row ROW + j of OURS must have argmax g_j for every j up to the
 * first row whose own top1-top2 margin is below -M (after a near-tie the
 * sequences may legitimately part).  Prints "greedy J/N clear" (J steps
 * checked) and exits 1 at a clear mismatch.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static float *slurp(const char *path, long *nfloats)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		exit(2);
	}
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	float *b = malloc((size_t)n + 4);
	if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "%s: read error\n", path);
		exit(2);
	}
	fclose(f);
	*nfloats = n / 4;
	return b;
}

static int argmax(const float *x, int n, float *margin)
{
	int b = 0, s = -1;
	for (int i = 1; i < n; i++)
		if (x[i] > x[b])
			b = i;
	for (int i = 0; i < n; i++)
		if (i != b && (s < 0 || x[i] > x[s]))
			s = i;
	if (margin)
		*margin = s < 0 ? INFINITY : x[b] - x[s];
	return b;
}

int main(int argc, char **argv)
{
	int V = 1024, c;
	if (argc == 2 && !strcmp(argv[1], "-P")) {
		double d;
		while (scanf("%lf", &d) == 1) {
			float f = (float)d;
			fwrite(&f, 4, 1, stdout);
		}
		return ferror(stdout) ? 1 : 0;
	}
	long off = 0, start = -1;
	const char *gpath = NULL;
	double max_rel = -1, max_abs = -1, min_top1 = -1, M = 0.05;
	while ((c = getopt(argc, argv, "V:l:a:t:M:o:g:s:")) != -1) {
		switch (c) {
		case 'V': V = atoi(optarg); break;
		case 'l': max_rel = atof(optarg); break;
		case 'a': max_abs = atof(optarg); break;
		case 't': min_top1 = atof(optarg); break;
		case 'M': M = atof(optarg); break;
		case 'o': off = atol(optarg); break;
		case 'g': gpath = optarg; break;
		case 's': start = atol(optarg); break;
		default:
			fprintf(stderr, "usage: model_cmp [-V n] [-l rel] [-a abs] [-t top1] [-M margin] [-o rows] A B\n");
			return 2;
		}
	}
	if (gpath) {
		long na, ng = 0;
		if (argc - optind != 1 || start < 0)
			return 2;
		float *a = slurp(argv[optind], &na);
		FILE *f = fopen(gpath, "r");
		if (!f) {
			perror(gpath);
			return 2;
		}
		int id, j = 0, bad = 0;
		while (fscanf(f, "%d", &id) == 1) {
			ng++;
			if (bad || (start + j + 1) * V > na)
				continue;
			float mg;
			int am = argmax(a + (start + j) * V, V, &mg);
			if (am != id) {
				bad = mg >= M ? 2 : 1;
				if (bad == 2)
					printf("greedy step %d: argmax %d (margin %g), reference %d\n", j, am, (double)mg, id);
				continue;
			}
			j++;
			if (mg < M)
				bad = 1;
		}
		fclose(f);
		printf("greedy %d/%ld clear\n", j, ng);
		free(a);
		return bad == 2;
	}
	if (argc - optind != 2 || V <= 0) {
		fprintf(stderr, "usage: model_cmp [-V n] [-l rel] [-a abs] [-t top1] [-M margin] [-o rows] A B\n");
		return 2;
	}
	long na, nb;
	float *a = slurp(argv[optind], &na), *b = slurp(argv[optind + 1], &nb);
	if (nb % V || (na - off * V) < nb) {
		fprintf(stderr, "model_cmp: sizes do not match (%ld and %ld floats, offset %ld rows)\n", na, nb, off);
		return 2;
	}
	const float *A = a + off * V;
	long rows = nb / V;
	double num = 0, den = 0, mabs = 0, mrow = 0;
	long top1 = 0, clear = 0, clear_ok = 0;
	for (long r = 0; r < rows; r++) {
		const float *x = A + r * V, *y = b + r * V;
		double rn = 0, rd = 0;
		for (int i = 0; i < V; i++) {
			double d = (double)x[i] - y[i];
			rn += d * d;
			rd += (double)y[i] * y[i];
			if (fabs(d) > mabs || d != d)
				mabs = d != d ? INFINITY : fabs(d);
		}
		num += rn;
		den += rd;
		double rr = sqrt(rn / (rd > 0 ? rd : 1));
		if (rr > mrow)
			mrow = rr;
		float mg;
		int ta = argmax(x, V, NULL), tb = argmax(y, V, &mg);
		top1 += ta == tb;
		if (mg > M) {
			clear++;
			clear_ok += ta == tb;
		}
	}
	double rel = sqrt(num / (den > 0 ? den : 1));
	printf("rows %ld rel_l2 %.6g max_row_rel_l2 %.6g max_abs %.6g top1 %ld/%ld clear_top1 %ld/%ld\n", rows, rel,
	       mrow, mabs, top1, rows, clear_ok, clear);
	int ok = clear_ok == clear;
	if (max_rel >= 0 && !(rel <= max_rel))
		ok = 0;
	if (max_abs >= 0 && !(mabs <= max_abs))
		ok = 0;
	if (min_top1 >= 0 && !((double)top1 / rows >= min_top1))
		ok = 0;
	free(a);
	free(b);
	return ok ? 0 : 1;
}
