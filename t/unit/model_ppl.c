/*
 * model_ppl -V n_vocab IDS LOGITS — perplexity from wf-decode --logits.
 * IDS holds one record of token ids per line, LOGITS the concatenated
 * [n_i][n_vocab] float32 blocks wf-decode wrote for them.  Row j of record i
 * predicts id j+1: NLL = Σ -log softmax(row j)[id j+1] (softmax in double).
 * With -x, each IDS line carries one extra id at the end: the target of the
 * last row (wf-decode was given the line without it), so a record of n ids
 * has n - 1 rows.  Prints "tokens N loss L ppl P".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int V = 0, c, extra = 0;
	while ((c = getopt(argc, argv, "V:x")) != -1) {
		if (c == 'x')
			extra = 1;
		else if (c == 'V')
			V = atoi(optarg);
		else
			return 2;
	}
	if (argc - optind != 2 || V <= 0) {
		fprintf(stderr, "usage: model_ppl -V n_vocab [-x] IDS LOGITS\n");
		return 2;
	}
	FILE *fi = fopen(argv[optind], "r"), *fl = fopen(argv[optind + 1], "rb");
	if (!fi || !fl) {
		perror("model_ppl");
		return 2;
	}
	float *row = malloc((size_t)V * sizeof *row);
	int *ids = malloc(1 << 20);
	char *line = NULL;
	size_t cap = 0;
	double nll = 0;
	long ntok = 0;
	while (getline(&line, &cap, fi) > 0) {
		int n = 0, off = 0, k;
		long id;
		while (n < (1 << 18) && sscanf(line + off, "%ld%n", &id, &k) == 1) {
			ids[n++] = (int)id;
			off += k;
		}
		for (int j = 0; j < n - extra; j++) {
			if (fread(row, sizeof *row, (size_t)V, fl) != (size_t)V) {
				fprintf(stderr, "model_ppl: logits file too short\n");
				return 1;
			}
			if (j + 1 >= n)
				continue;
			double mx = row[0], z = 0;
			for (int i = 1; i < V; i++)
				mx = row[i] > mx ? row[i] : mx;
			for (int i = 0; i < V; i++)
				z += exp((double)row[i] - mx);
			nll += -((double)row[ids[j + 1]] - mx - log(z));
			ntok++;
		}
	}
	printf("tokens %ld loss %.6f ppl %.4f\n", ntok, nll / ntok, exp(nll / ntok));
	free(row);
	free(ids);
	free(line);
	return 0;
}
