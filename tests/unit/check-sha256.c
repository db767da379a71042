/*
 * Unit tests for SHA-256 (src/core/core-sha256.c): the FIPS 180-4 example
 * messages, fed whole and in pieces of awkward sizes (the digest must not
 * depend on how the bytes arrive), and a hash given up before its end.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "corpdeploy/core.h"

static const struct {
	const char *text;
	size_t repeat; /* the text this many times */
	const char *hex;
} vectors[] = {
        {"", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"a", 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
};

/* Piece sizes around the 64-byte block and the libraries' buffers. */
static const size_t pieces[] = {1, 3, 63, 64, 65, 4099, 1 << 20};

static char *message(size_t v, size_t *ret_len)
{
	size_t tl = strlen(vectors[v].text), n = tl * vectors[v].repeat;
	char *m = cd_xmalloc(n + 1);
	for (size_t i = 0; i < vectors[v].repeat; i++)
		memcpy(m + i * tl, vectors[v].text, tl);
	*ret_len = n;
	return m;
}

START_TEST(test_sha256_final_hex_known_digests)
{
	size_t len;
	char *m = message((size_t)_i, &len), hex[65];
	struct cd_sha256 c;
	cd_sha256_init(&c);
	cd_sha256_update(&c, m, len);
	cd_sha256_final_hex(&c, hex);
	ck_assert_str_eq(hex, vectors[_i].hex);
	ck_assert_ptr_null(c.ctx);
	free(m);
}
END_TEST

START_TEST(test_sha256_update_in_pieces_same_digest)
{
	size_t len;
	char *m = message(CD_ARRAY_SIZE(vectors) - 1, &len), hex[65];
	struct cd_sha256 c;
	cd_sha256_init(&c);
	for (size_t off = 0; off < len;) {
		size_t n = len - off < pieces[_i] ? len - off : pieces[_i];
		cd_sha256_update(&c, m + off, n);
		off += n;
	}
	cd_sha256_update(&c, m, 0);
	cd_sha256_final_hex(&c, hex);
	ck_assert_str_eq(hex, vectors[CD_ARRAY_SIZE(vectors) - 1].hex);
	free(m);
}
END_TEST

START_TEST(test_sha256_release_abandons_and_repeats)
{
	struct cd_sha256 c = {0};
	char hex[65];
	cd_sha256_release(&c); /* never started: nothing to free */
	cd_sha256_init(&c);
	cd_sha256_update(&c, "abandoned", 9);
	cd_sha256_release(&c);
	ck_assert_ptr_null(c.ctx);
	cd_sha256_release(&c);
	/* The same struct starts afresh: nothing of the abandoned bytes remains. */
	cd_sha256_init(&c);
	cd_sha256_update(&c, "abc", 3);
	cd_sha256_final_hex(&c, hex);
	cd_sha256_release(&c);
	ck_assert_str_eq(hex, vectors[1].hex);
}
END_TEST

static Suite *sha256_suite(void)
{
	Suite *s = suite_create("sha256");
	TCase *tc = tcase_create("digest");
	tcase_add_loop_test(tc, test_sha256_final_hex_known_digests, 0, CD_ARRAY_SIZE(vectors));
	tcase_add_loop_test(tc, test_sha256_update_in_pieces_same_digest, 0, CD_ARRAY_SIZE(pieces));
	tcase_add_test(tc, test_sha256_release_abandons_and_repeats);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sha256_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
