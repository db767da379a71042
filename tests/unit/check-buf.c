/*
 * Unit tests for struct cd_buf (src/core/core-buf.c) and the "did you mean"
 * helpers (src/core/core-string.c). The buffer's contract: always
 * NUL-terminated, never NULL, and an append past the maximum fails with
 * CD_ETOOBIG leaving the buffer exactly as it was.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corpdeploy/core.h"

/* The whole state of a buffer, to compare before and after a failed append. */
struct buf_snapshot {
	char *text;
	size_t len, alloc, max;
	const char *ptr;
};

static struct buf_snapshot snapshot(const struct cd_buf *b)
{
	struct buf_snapshot s = { cd_xstrndup(b->buf, b->len), b->len, b->alloc, b->max, b->buf };
	return s;
}

static void assert_unchanged(const struct cd_buf *b, struct buf_snapshot *s)
{
	ck_assert_ptr_eq(b->buf, s->ptr);
	ck_assert_uint_eq(b->len, s->len);
	ck_assert_uint_eq(b->alloc, s->alloc);
	ck_assert_uint_eq(b->max, s->max);
	ck_assert_mem_eq(b->buf, s->text, s->len);
	ck_assert_int_eq(b->buf[b->len], '\0');
	free(s->text);
}

START_TEST(test_buf_init_empty)
{
	struct cd_buf a = CD_BUF_INIT, b;

	cd_buf_init(&b, 16);
	ck_assert_ptr_nonnull(a.buf);
	ck_assert_str_eq(a.buf, "");
	ck_assert_uint_eq(a.len, 0);
	ck_assert_uint_eq(a.max, 0);
	ck_assert_ptr_nonnull(b.buf);
	ck_assert_str_eq(b.buf, "");
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.alloc, 0);
	ck_assert_uint_eq(b.max, 16);
	cd_buf_release(&a);
	cd_buf_release(&b);
}
END_TEST

START_TEST(test_buf_add_appends)
{
	struct cd_buf b = CD_BUF_INIT;

	ck_assert_int_eq(cd_buf_adds(&b, "hello"), 0);
	ck_assert_int_eq(cd_buf_addch(&b, ','), 0);
	ck_assert_int_eq(cd_buf_add(&b, " world!!", 6), 0);
	ck_assert_int_eq(cd_buf_addf(&b, " %d-%s", 42, "x"), 0);
	ck_assert_str_eq(b.buf, "hello, world 42-x");
	ck_assert_uint_eq(b.len, strlen("hello, world 42-x"));
	ck_assert_uint_ge(b.alloc, b.len + 1);
	cd_buf_release(&b);
}
END_TEST

START_TEST(test_buf_add_binary_keeps_nul)
{
	struct cd_buf b = CD_BUF_INIT;

	ck_assert_int_eq(cd_buf_add(&b, "a\0b", 3), 0);
	ck_assert_uint_eq(b.len, 3);
	ck_assert_mem_eq(b.buf, "a\0b\0", 4);
	cd_buf_release(&b);
}
END_TEST

START_TEST(test_buf_add_grows)
{
	struct cd_buf b = CD_BUF_INIT;

	for (size_t i = 0; i < 100000; i++)
		ck_assert_int_eq(cd_buf_addch(&b, (char)('a' + i % 26)), 0);
	ck_assert_uint_eq(b.len, 100000);
	for (size_t i = 0; i < 100000; i++)
		if (b.buf[i] != (char)('a' + i % 26))
			ck_abort_msg("byte %zu is '%c'", i, b.buf[i]);
	ck_assert_int_eq(b.buf[b.len], '\0');
	cd_buf_release(&b);
}
END_TEST

START_TEST(test_buf_add_empty_format)
{
	struct cd_buf b = CD_BUF_INIT;
	const char *empty = "";

	ck_assert_int_eq(cd_buf_addf(&b, "%s", empty), 0);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_str_eq(b.buf, "");
	cd_buf_release(&b);
}
END_TEST

/* Every way of appending, each asked to go one byte past a maximum of 8. */
enum { ADD, ADDS, ADDCH, ADDF };
static const struct {
	const char *name;
	int how;
	const char *start; /* what the buffer holds before */
	const char *more;  /* what the failing append tries to add */
} past_max[] = {
	{ "add on an empty buffer", ADD, "", "123456789" },
	{ "add on a partly full buffer", ADD, "12345", "6789" },
	{ "adds on a full buffer", ADDS, "12345678", "9" },
	{ "addch on a full buffer", ADDCH, "12345678", "9" },
	{ "addf past the end", ADDF, "1234", "56789" },
	{ "addf on an empty buffer", ADDF, "", "123456789" },
};

START_TEST(test_buf_add_past_max_fails_unchanged)
{
	struct cd_buf b;
	int r = 0;

	cd_buf_init(&b, 8);
	ck_assert_int_eq(cd_buf_adds(&b, past_max[_i].start), 0);
	struct buf_snapshot s = snapshot(&b);
	switch (past_max[_i].how) {
	case ADD: r = cd_buf_add(&b, past_max[_i].more, strlen(past_max[_i].more)); break;
	case ADDS: r = cd_buf_adds(&b, past_max[_i].more); break;
	case ADDCH: r = cd_buf_addch(&b, past_max[_i].more[0]); break;
	case ADDF: r = cd_buf_addf(&b, "%s", past_max[_i].more); break;
	}
	ck_assert_msg(r == CD_ETOOBIG, "%s: returned %d", past_max[_i].name, r);
	assert_unchanged(&b, &s);
	/* The static empty string is shared by every buffer: it must stay empty. */
	ck_assert_int_eq(cd_buf_empty[0], '\0');
	cd_buf_release(&b);
}
END_TEST

START_TEST(test_buf_add_up_to_max_succeeds)
{
	struct cd_buf b;

	cd_buf_init(&b, 8);
	ck_assert_int_eq(cd_buf_adds(&b, "1234"), 0);
	ck_assert_int_eq(cd_buf_addf(&b, "%s", "5678"), 0);
	ck_assert_str_eq(b.buf, "12345678");
	ck_assert_uint_eq(b.len, 8);
	/* Full: one more byte fails, a zero-length append still succeeds. */
	ck_assert_int_eq(cd_buf_addch(&b, 'x'), CD_ETOOBIG);
	ck_assert_int_eq(cd_buf_add(&b, "", 0), 0);
	ck_assert_str_eq(b.buf, "12345678");
	cd_buf_release(&b);
}
END_TEST

START_TEST(test_buf_add_size_overflow_fails)
{
	struct cd_buf b = CD_BUF_INIT;

	ck_assert_int_eq(cd_buf_adds(&b, "abc"), 0);
	struct buf_snapshot s = snapshot(&b);
	/* The length alone must be refused: the data is never read. */
	ck_assert_int_eq(cd_buf_add(&b, "x", SIZE_MAX), CD_ETOOBIG);
	ck_assert_int_eq(cd_buf_add(&b, "x", SIZE_MAX - 2), CD_ETOOBIG);
	assert_unchanged(&b, &s);
	cd_buf_release(&b);
}
END_TEST

START_TEST(test_buf_reset_keeps_memory)
{
	struct cd_buf b;

	cd_buf_init(&b, 100);
	ck_assert_int_eq(cd_buf_adds(&b, "some text"), 0);
	char *mem = b.buf;
	size_t alloc = b.alloc;
	cd_buf_reset(&b);
	ck_assert_ptr_eq(b.buf, mem);
	ck_assert_uint_eq(b.alloc, alloc);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.max, 100);
	ck_assert_str_eq(b.buf, "");
	ck_assert_int_eq(cd_buf_adds(&b, "again"), 0);
	ck_assert_str_eq(b.buf, "again");
	cd_buf_release(&b);

	struct cd_buf e = CD_BUF_INIT;
	cd_buf_reset(&e); /* nothing allocated: must not write the shared empty string */
	ck_assert_ptr_eq(e.buf, cd_buf_empty);
	ck_assert_str_eq(e.buf, "");
}
END_TEST

START_TEST(test_buf_detach_returns_text)
{
	struct cd_buf b;

	cd_buf_init(&b, 64);
	ck_assert_int_eq(cd_buf_adds(&b, "owned by caller"), 0);
	char *mem = b.buf;
	char *s = cd_buf_detach(&b);
	ck_assert_ptr_eq(s, mem);
	ck_assert_str_eq(s, "owned by caller");
	/* The buffer is empty again, keeps its maximum and can be reused. */
	ck_assert_ptr_eq(b.buf, cd_buf_empty);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.alloc, 0);
	ck_assert_uint_eq(b.max, 64);
	ck_assert_int_eq(cd_buf_adds(&b, "next"), 0);
	ck_assert_str_eq(b.buf, "next");
	ck_assert_ptr_ne(b.buf, s);
	free(s);
	cd_buf_release(&b);
}
END_TEST

START_TEST(test_buf_detach_empty_is_freeable)
{
	struct cd_buf b = CD_BUF_INIT;
	char *s = cd_buf_detach(&b);

	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_ne(s, cd_buf_empty); /* the caller will free() it */
	ck_assert_str_eq(s, "");
	free(s);
}
END_TEST

START_TEST(test_buf_release_resets)
{
	struct cd_buf b;

	cd_buf_init(&b, 32);
	ck_assert_int_eq(cd_buf_adds(&b, "text"), 0);
	cd_buf_release(&b);
	ck_assert_ptr_eq(b.buf, cd_buf_empty);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.alloc, 0);
	ck_assert_uint_eq(b.max, 32);
	cd_buf_release(&b); /* twice is harmless */
	ck_assert_ptr_eq(b.buf, cd_buf_empty);
}
END_TEST

/* ---- cd_levenshtein ---- */

static const char long64[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char long65[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

static const struct {
	const char *a, *b;
	size_t want;
} distances[] = {
	{ "", "", 0 },
	{ "a", "", 1 },
	{ "", "abc", 3 },
	{ "abc", "abc", 0 },
	{ "kitten", "sitting", 3 },
	{ "flaw", "lawn", 2 },
	{ "image", "imgae", 2 },
	{ "imgae", "image", 2 },
	{ "depends_on", "depend_on", 1 },
	{ long64, long64, 0 },
	{ long64, "", 64 },
	{ long65, "a", (size_t)-1 }, /* too long for a hint */
	{ "a", long65, (size_t)-1 },
};

START_TEST(test_buf_levenshtein_distance)
{
	ck_assert_msg(cd_levenshtein(distances[_i].a, distances[_i].b) == distances[_i].want,
		"d('%s', '%s') = %zu, want %zu", distances[_i].a, distances[_i].b,
		cd_levenshtein(distances[_i].a, distances[_i].b), distances[_i].want);
}
END_TEST

/* ---- cd_suggest ---- */

static const char *const service_keys[] = { "image", "build", "ports", "port_map", "volumes",
	"environment", "depends_on", "restart" };

static const struct {
	const char *word;
	const char *want; /* NULL: no suggestion */
} suggestions[] = {
	{ "imgae", "image" },
	{ "imag", "image" },
	{ "prots", "ports" },
	{ "enviroment", "environment" },
	{ "depend_on", "depends_on" },
	{ "restrat", "restart" },
	{ "xyz", NULL },	  /* nothing close */
	{ "img", NULL },	  /* 3 letters allow one edit; "image" is two away */
	{ "vol", NULL },	  /* a prefix is not a typo */
	{ "bulid", "build" },	  /* 5 letters allow two edits */
	{ "environ", NULL },	  /* 7 letters allow three edits; "environment" is four away */
	{ long65, NULL },	  /* too long to compare */
};

START_TEST(test_buf_suggest_closest)
{
	const char *got = cd_suggest(suggestions[_i].word, service_keys,
		CD_ARRAY_SIZE(service_keys));

	if (!suggestions[_i].want)
		ck_assert_msg(got == NULL, "'%s': suggested '%s'", suggestions[_i].word, got);
	else
		ck_assert_msg(got && strcmp(got, suggestions[_i].want) == 0,
			"'%s': got '%s', want '%s'", suggestions[_i].word, got ? got : "(none)",
			suggestions[_i].want);
}
END_TEST

START_TEST(test_buf_suggest_ties_and_empty)
{
	static const char *const cands[] = { "ac", "ad" };

	/* Equally close: the first candidate in table order. */
	ck_assert_str_eq(cd_suggest("ab", cands, 2), "ac");
	ck_assert_ptr_null(cd_suggest("ab", cands, 0));
	/* The candidate pointer itself comes back, not a copy. */
	ck_assert_ptr_eq(cd_suggest("imgae", service_keys, CD_ARRAY_SIZE(service_keys)),
		service_keys[0]);
}
END_TEST

static Suite *buf_suite(void)
{
	Suite *s = suite_create("buf");
	TCase *tc;

	tc = tcase_create("buf");
	tcase_add_test(tc, test_buf_init_empty);
	tcase_add_test(tc, test_buf_add_appends);
	tcase_add_test(tc, test_buf_add_binary_keeps_nul);
	tcase_add_test(tc, test_buf_add_grows);
	tcase_add_test(tc, test_buf_add_empty_format);
	tcase_add_loop_test(tc, test_buf_add_past_max_fails_unchanged, 0, CD_ARRAY_SIZE(past_max));
	tcase_add_test(tc, test_buf_add_up_to_max_succeeds);
	tcase_add_test(tc, test_buf_add_size_overflow_fails);
	tcase_add_test(tc, test_buf_reset_keeps_memory);
	tcase_add_test(tc, test_buf_detach_returns_text);
	tcase_add_test(tc, test_buf_detach_empty_is_freeable);
	tcase_add_test(tc, test_buf_release_resets);
	suite_add_tcase(s, tc);

	tc = tcase_create("suggest");
	tcase_add_loop_test(tc, test_buf_levenshtein_distance, 0, CD_ARRAY_SIZE(distances));
	tcase_add_loop_test(tc, test_buf_suggest_closest, 0, CD_ARRAY_SIZE(suggestions));
	tcase_add_test(tc, test_buf_suggest_ties_and_empty);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(buf_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
