/*
 * convert_mkckpt DIR [-e E -k K [-s mixtral|qwen] [-d]] [-r R [-z]] [-S SEED]
 *
 * Write a small synthetic BitNet checkpoint for t/convert_moe.bats:
 * DIR (created if absent)/config.json, DIR/tokenizer.json and DIR/model.safetensors (F32 latent
 * weights).  Shape: hidden 256, ffn 512, 2 layers, 4 heads (2 KV), vocab 64,
 * tied embedding.  Every tensor draws from its own stream (splitmix64 seeded
 * from SEED and the FNV-1a hash of a name), so dense tensors are the same
 * with and without the options.
 *   -e E -k K   MoE layers of E experts, K used (num_local_experts /
 *               num_experts, num_experts_per_tok), in the naming style -s:
 *               mixtral  model.layers.N.block_sparse_moe.gate.weight [E, H],
 *                        ...block_sparse_moe.experts.X.{w1,w3,w2}.weight,
 *                        sub-norm block_sparse_moe.ffn_sub_norm.weight
 *               qwen     model.layers.N.mlp.gate.weight,
 *                        mlp.experts.X.{gate_proj,up_proj,down_proj}.weight,
 *                        sub-norm mlp.ffn_sub_norm.weight
 *   -d          every expert a copy of the dense FFN (the dense names' streams)
 *   -r R        LRC on every projection (not experts): <proj>.lrc_U [out, R]
 *               and <proj>.lrc_V [R, in]; config lrc_rank R
 *   -z          LRC U all zero
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { H = 256, F = 512, L = 2, NH = 4, NKV = 2, V = 64 };

static uint64_t seed = 1;

struct rng {
	uint64_t s;
};

static uint64_t next64(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static float gauss(struct rng *r)
{
	uint64_t x = next64(r);
	uint32_t s = (uint32_t)(x & 0xffff) + (uint32_t)(x >> 16 & 0xffff) + (uint32_t)(x >> 32 & 0xffff) +
	             (uint32_t)(x >> 48);
	return ((float)s * (1.0f / 65536.0f) - 2.0f) * 1.7320508f;
}

/* value = add + mul * g from the stream of src */
struct tens {
	char name[128], src[128];
	long d0, d1; /* d1 = 0: one dimension */
	float add, mul;
};

static struct tens T[512];
static int nt;

static void t_add(const char *name, const char *src, long d0, long d1, float add, float mul)
{
	struct tens *t = &T[nt++];
	snprintf(t->name, sizeof t->name, "%s", name);
	snprintf(t->src, sizeof t->src, "%s", src ? src : name);
	t->d0 = d0, t->d1 = d1, t->add = add, t->mul = mul;
}

static FILE *xopen(const char *dir, const char *name)
{
	char p[4096];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	FILE *f = fopen(p, "wb");
	if (!f) {
		perror(p);
		exit(1);
	}
	return f;
}

int main(int argc, char **argv)
{
	int E = 0, K = 0, R = 0, zero_u = 0, copies = 0, c;
	const char *style = "mixtral";
	while ((c = getopt(argc, argv, "e:k:s:dr:zS:")) != -1) {
		switch (c) {
		case 'e': E = atoi(optarg); break;
		case 'k': K = atoi(optarg); break;
		case 's': style = optarg; break;
		case 'd': copies = 1; break;
		case 'r': R = atoi(optarg); break;
		case 'z': zero_u = 1; break;
		case 'S': seed = strtoull(optarg, NULL, 10); break;
		default: return 2;
		}
	}
	if (argc - optind != 1 || (strcmp(style, "mixtral") && strcmp(style, "qwen"))) {
		fprintf(stderr, "usage: convert_mkckpt DIR [-e E -k K [-s mixtral|qwen] [-d]] [-r R [-z]] [-S SEED]\n");
		return 2;
	}
	const char *dir = argv[optind];
	mkdir(dir, 0777); /* may exist */
	int mix = !strcmp(style, "mixtral");
	char n[128], s[128];
	static const char *const attn[4] = {"q_proj", "k_proj", "v_proj", "o_proj"};
	static const char *const mlp[3] = {"gate_proj", "up_proj", "down_proj"};
	static const char *const mixn[3] = {"w1", "w3", "w2"};
	const long kv = H / NH * NKV;
	const long aout[4] = {H, kv, kv, H};

	t_add("model.embed_tokens.weight", NULL, V, H, 0, 0.5f);
	for (int l = 0; l < L; l++) {
#define LAYER(fmt, ...) snprintf(n, sizeof n, "model.layers.%d." fmt, l, __VA_ARGS__)
		LAYER("%s", "input_layernorm.weight"), t_add(n, NULL, H, 0, 1, 0.1f);
		LAYER("%s", "post_attention_layernorm.weight"), t_add(n, NULL, H, 0, 1, 0.1f);
		LAYER("%s", "self_attn.attn_sub_norm.weight"), t_add(n, NULL, H, 0, 1, 0.1f);
		for (int p = 0; p < 7; p++) {
			int is_mlp = p >= 4;
			const char *mod = is_mlp ? "mlp" : "self_attn", *pn = is_mlp ? mlp[p - 4] : attn[p];
			long out = is_mlp ? (p == 6 ? H : F) : aout[p], in = p == 6 ? F : H;
			if (is_mlp && E) {
				if (p > 4)
					continue;
				const char *pre = mix ? "block_sparse_moe" : "mlp";
				LAYER("%s.gate.weight", pre), t_add(n, NULL, E, H, 0, 1.0f / 16);
				for (int e = 0; e < E; e++) {
					for (int q = 0; q < 3; q++) {
						long o2 = q == 2 ? H : F, i2 = q == 2 ? F : H;
						LAYER("%s.experts.%d.%s.weight", pre, e, mix ? mixn[q] : mlp[q]);
						snprintf(s, sizeof s, "model.layers.%d.mlp.%s.weight", l, mlp[q]);
						t_add(n, copies ? s : NULL, o2, i2, 0, 0.02f);
					}
				}
				LAYER("%s.ffn_sub_norm.weight", pre);
				snprintf(s, sizeof s, "model.layers.%d.mlp.ffn_sub_norm.weight", l);
				t_add(n, s, F, 0, 1, 0.1f);
				continue;
			}
			LAYER("%s.%s.weight", mod, pn), t_add(n, NULL, out, in, 0, 0.02f);
			if (R) {
				LAYER("%s.%s.lrc_U", mod, pn), t_add(n, NULL, out, R, 0, zero_u ? 0 : 0.01f / sqrtf((float)R));
				LAYER("%s.%s.lrc_V.weight", mod, pn), t_add(n, NULL, R, in, 0, 1 / sqrtf((float)in));
			}
		}
		if (!E)
			LAYER("%s", "mlp.ffn_sub_norm.weight"), t_add(n, NULL, F, 0, 1, 0.1f);
#undef LAYER
	}
	t_add("model.norm.weight", NULL, H, 0, 1, 0.1f);

	/* safetensors: header (padded with spaces to a multiple of 8), data */
	size_t cap = 1 << 20, hl = 0;
	char *hdr = malloc(cap);
	unsigned long long off = 0;
	hl += (size_t)snprintf(hdr + hl, cap - hl, "{");
	for (int i = 0; i < nt; i++) {
		unsigned long long nb = 4ull * (unsigned long long)T[i].d0 * (unsigned long long)(T[i].d1 ? T[i].d1 : 1);
		char shape[64];
		if (T[i].d1)
			snprintf(shape, sizeof shape, "%ld,%ld", T[i].d0, T[i].d1);
		else
			snprintf(shape, sizeof shape, "%ld", T[i].d0);
		hl += (size_t)snprintf(hdr + hl, cap - hl, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%s],\"data_offsets\":[%llu,%llu]}",
		                       i ? "," : "", T[i].name, shape, off, off + nb);
		off += nb;
	}
	hl += (size_t)snprintf(hdr + hl, cap - hl, "}");
	while (hl % 8)
		hdr[hl++] = ' ';
	FILE *f = xopen(dir, "model.safetensors");
	unsigned char len8[8];
	for (int i = 0; i < 8; i++)
		len8[i] = (unsigned char)((unsigned long long)hl >> (8 * i));
	fwrite(len8, 1, 8, f);
	fwrite(hdr, 1, hl, f);
	for (int i = 0; i < nt; i++) {
		struct rng r = {seed};
		uint64_t h = 0xcbf29ce484222325u;
		for (const char *p = T[i].src; *p; p++)
			h = (h ^ (unsigned char)*p) * 0x100000001b3u;
		r.s ^= h;
		long cnt = T[i].d0 * (T[i].d1 ? T[i].d1 : 1);
		for (long k = 0; k < cnt; k++) {
			float x = T[i].add + T[i].mul * gauss(&r);
			fwrite(&x, 4, 1, f);
		}
	}
	if (fclose(f)) {
		perror("model.safetensors");
		return 1;
	}
	free(hdr);

	f = xopen(dir, "config.json");
	fprintf(f, "{\"architectures\": [\"BitNetForCausalLM\"], \"hidden_size\": %d, \"intermediate_size\": %d,\n"
	           " \"num_hidden_layers\": %d, \"num_attention_heads\": %d, \"num_key_value_heads\": %d,\n"
	           " \"vocab_size\": %d, \"rms_norm_eps\": 1e-05, \"rope_theta\": 10000.0,\n"
	           " \"max_position_embeddings\": 256, \"hidden_act\": \"relu2\", \"tie_word_embeddings\": true",
	        H, F, L, NH, NKV, V);
	if (E)
		fprintf(f, ",\n \"%s\": %d, \"num_experts_per_tok\": %d, \"moe_intermediate_size\": %d",
		        mix ? "num_local_experts" : "num_experts", E, K, F);
	if (R)
		fprintf(f, ",\n \"lrc_rank\": %d", R);
	fprintf(f, "}\n");
	fclose(f);
	f = xopen(dir, "tokenizer.json");
	fprintf(f, "{\"added_tokens\":[{\"id\":63,\"content\":\"<|end|>\",\"special\":true}],\n"
	           " \"pre_tokenizer\":{\"type\":\"ByteLevel\",\"use_regex\":true},\n"
	           " \"model\":{\"type\":\"BPE\",\"vocab\":{");
	for (int i = 0; i < 26; i++)
		fprintf(f, "%s\"%c\":%d", i ? "," : "", 'a' + i, i);
	fprintf(f, "},\"merges\":[]}}\n");
	fclose(f);
	return 0;
}
