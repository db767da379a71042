/*
 * SHA-256, for configuration fingerprints and archive manifests, from
 * libcrypto: its code picks the CPU's SHA extensions or AVX2 at run time,
 * several times faster than portable C over the gigabytes of a dump. The
 * one place libcrypto is used; its types stay out of the headers.
 */
#include <openssl/evp.h>
#include <stdio.h>

#include "corpdeploy/core.h"

void cd_sha256_init(struct cd_sha256 *c)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		cd_oom();
	c->ctx = ctx;
}

void cd_sha256_update(struct cd_sha256 *c, const void *data, size_t len)
{
	/* Fails only on a context that was never initialised: a programming error. */
	if (len && EVP_DigestUpdate(c->ctx, data, len) != 1)
		abort();
}

void cd_sha256_final_hex(struct cd_sha256 *c, char hex[65])
{
	unsigned char md[32];
	unsigned int n = 0;
	if (EVP_DigestFinal_ex(c->ctx, md, &n) != 1 || n != sizeof(md))
		abort();
	cd_sha256_release(c);
	for (size_t i = 0; i < sizeof(md); i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

void cd_sha256_release(struct cd_sha256 *c)
{
	EVP_MD_CTX_free(c->ctx);
	c->ctx = NULL;
}
