/*
 * Unit tests for the run journal (src/engine/engine-journal.c): records
 * written by cd_journal_append replay into what the run changed and
 * finished; a last record cut short anywhere is ignored and reported; a
 * damaged record before the last one, a gap in the numbering or a second
 * begin is an error; undone records and step ends are replayed.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "corpdeploy/journal.h"

static char path[256];

static void setup(void)
{
	snprintf(path, sizeof(path), "/tmp/check-journal-%d", (int)getpid());
	unlink(path);
}

static void teardown(void)
{
	unlink(path);
}

static long append(struct cd_journal *j, const char *json)
{
	struct cd_error err = CD_ERROR_INIT;
	cJSON *rec = cJSON_Parse(json);
	ck_assert_ptr_nonnull(rec);
	long seq = cd_journal_append(j, rec, 1, &err);
	ck_assert_msg(seq > 0, "append: %s", err.msg ? err.msg : "?");
	ck_assert_int_eq((long)cJSON_GetNumberValue(cJSON_GetObjectItem(rec, "seq")), seq);
	cJSON_Delete(rec);
	return seq;
}

/* A run that deployed two services and was rolled back half way. */
static void write_sample(void)
{
	struct cd_journal *j;
	struct cd_error err = CD_ERROR_INIT;
	ck_assert_int_eq(cd_journal_open(path, 0, &j, &err), 0);
	append(j, "{\"type\":\"begin\",\"run_id\":\"r-1\",\"release\":\"abc1234\"}");
	append(j, "{\"type\":\"step\",\"step\":\"db\",\"phase\":\"deploy\"}");
	append(j, "{\"type\":\"undo\",\"step\":\"db\",\"kind\":\"deploy\",\"action\":\"container.replace\","
		  "\"description\":\"put back db\",\"data\":{\"name\":\"p-db\"}}");
	append(j, "{\"type\":\"step-end\",\"step\":\"db\",\"result\":\"ok\"}");
	append(j, "{\"type\":\"step\",\"step\":\"api\",\"phase\":\"deploy\"}");
	append(j, "{\"type\":\"undo\",\"step\":\"api\",\"kind\":\"deploy\",\"action\":\"container.replace\","
		  "\"description\":\"put back api\",\"data\":{\"name\":\"p-api\"}}");
	append(j, "{\"type\":\"step-end\",\"step\":\"api\",\"result\":\"failed\"}");
	append(j, "{\"type\":\"rollback\",\"why\":\"api failed\"}");
	append(j, "{\"type\":\"undone\",\"undo\":6,\"ok\":true}");
	cd_journal_close(j);
}

static char *slurp(size_t *len)
{
	FILE *f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	static char buf[65536];
	*len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return buf;
}

START_TEST(replays_a_run)
{
	struct cd_journal_state st;
	struct cd_error err = CD_ERROR_INIT;
	write_sample();
	ck_assert_int_eq(cd_journal_read(path, &st, &err), 0);
	ck_assert_int_eq(st.last_seq, 9);
	ck_assert_uint_eq(st.torn_bytes, 0);
	ck_assert_ptr_nonnull(st.begin);
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(st.begin, "release")), "abc1234");
	ck_assert_uint_eq(st.n_undo, 2);
	ck_assert_int_eq(st.undone[0], 0); /* db: still to undo */
	ck_assert_int_eq(st.undone[1], 1); /* api: undone */
	ck_assert_uint_eq(st.n_steps_done, 1);
	ck_assert(cd_journal_step_done(&st, "db"));
	ck_assert(!cd_journal_step_done(&st, "api"));
	ck_assert(st.rollback_started);
	ck_assert(!st.rollback_ok);
	ck_assert_ptr_null(st.outcome); /* never ended: unfinished */
	cd_journal_state_release(&st);
}
END_TEST

/* Cut the file at every byte inside the last record: always the first 8 records, a warning. */
START_TEST(a_torn_last_record_is_ignored)
{
	size_t len;
	write_sample();
	char *buf = slurp(&len);
	size_t last_start = len - 1;
	while (last_start > 0 && buf[last_start - 1] != '\n')
		last_start--;
	for (size_t cut = last_start + 1; cut < len; cut++) {
		struct cd_journal_state st;
		struct cd_error err = CD_ERROR_INIT;
		ck_assert_msg(cd_journal_parse(buf, cut, &st, &err) == 0, "cut at %zu: %s", cut, err.msg);
		ck_assert_int_eq(st.last_seq, 8);
		ck_assert_uint_eq(st.torn_bytes, cut - last_start);
		ck_assert_int_eq(st.undone[1], 0);
		cd_journal_state_release(&st);
	}
}
END_TEST

START_TEST(a_damaged_record_before_the_last_is_an_error)
{
	size_t len;
	write_sample();
	char *buf = slurp(&len);
	char *copy = malloc(len);
	memcpy(copy, buf, len);
	char *p = strstr(copy, "p-db");
	ck_assert_ptr_nonnull(p);
	p[2] = 'X'; /* the checksum no longer matches */
	struct cd_journal_state st;
	struct cd_error err = CD_ERROR_INIT;
	ck_assert_int_lt(cd_journal_parse(copy, len, &st, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "damaged record after record 2"));
	cd_error_release(&err);
	free(copy);
}
END_TEST

START_TEST(gaps_and_second_begins_are_errors)
{
	struct cd_journal *j;
	struct cd_journal_state st;
	struct cd_error err = CD_ERROR_INIT;
	ck_assert_int_eq(cd_journal_open(path, 0, &j, &err), 0);
	append(j, "{\"type\":\"begin\"}");
	append(j, "{\"type\":\"begin\"}");
	cd_journal_close(j);
	ck_assert_int_lt(cd_journal_read(path, &st, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "second begin"));
	unlink(path);
	ck_assert_int_eq(cd_journal_open(path, 0, &j, &err), 0);
	append(j, "{\"type\":\"begin\"}");
	cd_journal_close(j);
	/* A second writer that does not know the numbering: record 5 after record 1. */
	ck_assert_int_eq(cd_journal_open(path, 4, &j, &err), 0);
	append(j, "{\"type\":\"step\"}");
	cd_journal_close(j);
	ck_assert_int_lt(cd_journal_read(path, &st, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "record 5 follows record 1"));
	cd_error_release(&err);
}
END_TEST

START_TEST(appending_after_a_reopen_continues_the_numbering)
{
	struct cd_journal *j;
	struct cd_journal_state st;
	struct cd_error err = CD_ERROR_INIT;
	write_sample();
	ck_assert_int_eq(cd_journal_read(path, &st, &err), 0);
	ck_assert_int_eq(cd_journal_open(path, st.last_seq, &j, &err), 0);
	cd_journal_state_release(&st);
	append(j, "{\"type\":\"undone\",\"undo\":3,\"ok\":true}");
	append(j, "{\"type\":\"rollback-end\",\"ok\":true}");
	append(j, "{\"type\":\"end\",\"outcome\":\"rolled-back\"}");
	cd_journal_close(j);
	ck_assert_int_eq(cd_journal_read(path, &st, &err), 0);
	ck_assert_int_eq(st.undone[0], 1);
	ck_assert(st.rollback_ok);
	ck_assert_str_eq(st.outcome, "rolled-back");
	cd_journal_state_release(&st);
}
END_TEST

START_TEST(empty_and_garbage)
{
	struct cd_journal_state st;
	struct cd_error err = CD_ERROR_INIT;
	ck_assert_int_eq(cd_journal_parse("", 0, &st, &err), 0);
	ck_assert_int_eq(st.last_seq, 0);
	cd_journal_state_release(&st);
	/* One line of garbage is a torn first record. */
	ck_assert_int_eq(cd_journal_parse("garbage", 7, &st, &err), 0);
	ck_assert_uint_eq(st.torn_bytes, 7);
	cd_journal_state_release(&st);
	ck_assert_int_lt(cd_journal_parse("garbage\nmore\n", 13, &st, &err), 0);
	cd_error_release(&err);
}
END_TEST

START_TEST(crc32_known_value)
{
	ck_assert_uint_eq(cd_crc32("123456789", 9), 0xCBF43926u);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("journal");
	TCase *tc = tcase_create("journal");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, replays_a_run);
	tcase_add_test(tc, a_torn_last_record_is_ignored);
	tcase_add_test(tc, a_damaged_record_before_the_last_is_an_error);
	tcase_add_test(tc, gaps_and_second_begins_are_errors);
	tcase_add_test(tc, appending_after_a_reopen_continues_the_numbering);
	tcase_add_test(tc, empty_and_garbage);
	tcase_add_test(tc, crc32_known_value);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
