/*
 * core-sha1: HMAC-SHA-1, for the one place a format fixes it: hashed
 * known_hosts host names (|1|salt|HMAC-SHA1(salt, host)), as OpenSSH writes
 * them. Not for anything that must resist collisions. libcrypto computes it,
 * as it does SHA-256 (core-sha256.c).
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>

#include "corpdeploy/core.h"

void cd_hmac_sha1(const void *key, size_t key_len, const void *data, size_t len,
	unsigned char out[20])
{
	unsigned int out_len = 20;
	/* Fails only when libcrypto cannot allocate: as with any allocation here, that ends the process. */
	if (!HMAC(EVP_sha1(), key, (int)key_len, data, len, out, &out_len) || out_len != 20)
		abort();
}
