/*
 * convert — IEEE binary16 and bfloat16 <-> binary32, bit-exact, no FPU
 * tricks: round to nearest even, subnormals, infinities and NaNs handled.
 */
#include <string.h>

#include "kernels.h"

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* Exact: every half is a float. */
float wf_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;

	if (e == 0) {   /* zero or subnormal: m * 2^-24, exact in float */
		float v = (float)m * 0x1p-24f;
		return u2f(f2u(v) | sign);
	}
	if (e == 31)    /* inf / NaN, payload kept */
		return u2f(sign | 0x7f800000u | m << 13);
	return u2f(sign | (e + 112) << 23 | m << 13);
}

/* Round to nearest, ties to even.  NaN -> quiet NaN with the sign and the
 * top 9 payload bits kept; |f| >= 65520 -> inf. */
uint16_t wf_f32_to_f16(float f)
{
	uint32_t x = f2u(f), ax = x & 0x7fffffffu;
	uint16_t sign = (uint16_t)((x >> 16) & 0x8000);

	if (ax > 0x7f800000u)
		return sign | 0x7e00 | ((ax >> 13) & 0x1ff);
	if (ax >= 0x477ff000u)   /* 65520 = halfway 65504..65536: ties to inf */
		return sign | 0x7c00;
	if (ax >= 0x38800000u) { /* normal half: drop 13 bits, carry may bump e */
		uint32_t h = (ax - (112u << 23)) >> 13, rem = ax & 0x1fff;
		if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
			h++;
		return sign | (uint16_t)h;
	}
	/* subnormal half (or zero): value / 2^-24 = m * 2^(e - 126) */
	uint32_t e = ax >> 23, shift = 126 - e;
	if (shift > 24)
		return sign;
	uint32_t m = (ax & 0x7fffffu) | 0x800000u;
	uint32_t h = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
	if (rem > half || (rem == half && (h & 1)))
		h++;
	return sign | (uint16_t)h;
}

float wf_bf16_to_f32(uint16_t h)
{
	return u2f((uint32_t)h << 16);
}

/* Round to nearest, ties to even; NaN -> quiet NaN keeping sign and the
 * top payload bits; overflow rounds to inf as IEEE says. */
uint16_t wf_f32_to_bf16(float f)
{
	uint32_t x = f2u(f);

	if ((x & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((x >> 16) | 0x40);
	x += 0x7fffu + ((x >> 16) & 1);
	return (uint16_t)(x >> 16);
}
