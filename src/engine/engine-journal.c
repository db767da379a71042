/*
 * The run journal: appending records durably, and replaying a journal's
 * text into what the run changed and finished (include/corpdeploy/journal.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "corpdeploy/journal.h"

/* Journals bigger than this are not journals corpdeploy wrote. */
#define JOURNAL_MAX (64L * 1024 * 1024)

struct cd_journal {
	int fd;
	long seq;
	char *path;
};

uint32_t cd_crc32(const void *data, size_t len)
{
	static uint32_t table[256];
	static int ready;
	if (!ready) {
		/* Idempotent: racing threads write the same values. */
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
		ready = 1;
	}
	const unsigned char *p = data;
	uint32_t c = 0xFFFFFFFFu;
	for (size_t i = 0; i < len; i++)
		c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
	return c ^ 0xFFFFFFFFu;
}

int cd_journal_open(const char *path, long last_seq, struct cd_journal **ret, struct cd_error *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return cd_error_set_errno(err, errno, "cannot open the journal '%s'", path);
	struct cd_journal *j = cd_xcalloc(1, sizeof(*j));
	j->fd = fd;
	j->seq = last_seq;
	j->path = cd_xstrdup(path);
	*ret = j;
	return 0;
}

void cd_journal_close(struct cd_journal *j)
{
	if (!j)
		return;
	close(j->fd);
	free(j->path);
	free(j);
}

long cd_journal_append(struct cd_journal *j, cJSON *rec, int sync, struct cd_error *err)
{
	long seq = j->seq + 1;
	char *text = cJSON_PrintUnformatted(rec);
	if (!text)
		cd_oom();
	/* seq first, so that a person reading the file sees the order at once. */
	char *json = cd_xasprintf("{\"seq\":%ld%s%s", seq, strcmp(text, "{}") ? "," : "}",
		strcmp(text, "{}") ? text + 1 : "");
	cJSON_free(text);
	char *line = cd_xasprintf("%s\t%08x\n", json, cd_crc32(json, strlen(json)));
	free(json);
	cJSON_DeleteItemFromObjectCaseSensitive(rec, "seq");
	cJSON_AddNumberToObject(rec, "seq", (double)seq);
	size_t len = strlen(line), off = 0;
	int r = 0;
	while (off < len) {
		ssize_t w = write(j->fd, line + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			r = cd_error_set_errno(err, errno, "cannot write the journal '%s'", j->path);
			break;
		}
		off += (size_t)w;
	}
	free(line);
	if (r == 0 && sync && fdatasync(j->fd) < 0)
		r = cd_error_set_errno(err, errno, "cannot flush the journal '%s'", j->path);
	if (r < 0)
		return r;
	j->seq = seq;
	return seq;
}

void cd_journal_state_release(struct cd_journal_state *st)
{
	cJSON_Delete(st->records);
	free(st->undo);
	free(st->undone);
	free(st->steps_done);
	memset(st, 0, sizeof(*st));
}

static const char *str_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static long seq_of(const cJSON *o)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "seq");
	return cJSON_IsNumber(v) ? (long)v->valuedouble : -1;
}

/* Parses one line "JSON\tCRC"; NULL when it is not a whole, intact record. */
static cJSON *parse_line(const char *s, size_t len)
{
	if (len < 10 || s[len - 9] != '\t')
		return NULL;
	size_t jl = len - 9;
	uint32_t want = 0;
	for (size_t i = jl + 1; i < len; i++) {
		char c = s[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (v < 0)
			return NULL;
		want = want << 4 | (uint32_t)v;
	}
	if (cd_crc32(s, jl) != want)
		return NULL;
	cJSON *o = cJSON_ParseWithLength(s, jl);
	if (o && (!cJSON_IsObject(o) || seq_of(o) < 1 || !str_of(o, "type"))) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static int replay(struct cd_journal_state *st, const cJSON *rec, struct cd_error *err)
{
	const char *type = str_of(rec, "type");
	if (strcmp(type, CD_JR_BEGIN) == 0) {
		if (st->begin)
			return cd_error_set(err, CD_EFAIL, "record %ld: a second begin record",
				seq_of(rec));
		st->begin = rec;
	} else if (strcmp(type, CD_JR_UNDO) == 0) {
		if (!str_of(rec, "kind") || !str_of(rec, "action") || !str_of(rec, "step"))
			return cd_error_set(err, CD_EFAIL, "record %ld: an undo record without kind, "
							   "action or step", seq_of(rec));
		st->undo = cd_xreallocarray(st->undo, st->n_undo + 1, sizeof(*st->undo));
		st->undone = cd_xreallocarray(st->undone, st->n_undo + 1, 1);
		st->undo[st->n_undo] = rec;
		st->undone[st->n_undo++] = 0;
	} else if (strcmp(type, CD_JR_UNDONE) == 0) {
		const cJSON *of = cJSON_GetObjectItemCaseSensitive(rec, "undo");
		if (!cJSON_IsNumber(of))
			return cd_error_set(err, CD_EFAIL, "record %ld: undone names no undo record",
				seq_of(rec));
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec, "ok")))
			for (size_t i = 0; i < st->n_undo; i++)
				if (seq_of(st->undo[i]) == (long)of->valuedouble)
					st->undone[i] = 1;
	} else if (strcmp(type, CD_JR_STEP_END) == 0) {
		const char *step = str_of(rec, "step"), *result = str_of(rec, "result");
		if (step && result && strcmp(result, "ok") == 0) {
			st->steps_done = cd_xreallocarray(st->steps_done, st->n_steps_done + 1,
				sizeof(*st->steps_done));
			st->steps_done[st->n_steps_done++] = step;
		}
	} else if (strcmp(type, CD_JR_ROLLBACK) == 0) {
		st->rollback_started = 1;
		st->rollback_ok = 0;
	} else if (strcmp(type, CD_JR_ROLLBACK_END) == 0) {
		st->rollback_ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec, "ok"));
	} else if (strcmp(type, CD_JR_END) == 0) {
		st->outcome = str_of(rec, "outcome") ? str_of(rec, "outcome") : "unknown";
	}
	/* Other types (step starts, notes of later versions) change nothing to replay. */
	return 0;
}

int cd_journal_parse(const char *buf, size_t len, struct cd_journal_state *st, struct cd_error *err)
{
	memset(st, 0, sizeof(*st));
	st->records = cJSON_CreateArray();
	if (!st->records)
		cd_oom();
	size_t off = 0;
	while (off < len) {
		const char *nl = memchr(buf + off, '\n', len - off);
		size_t line_len = nl ? (size_t)(nl - (buf + off)) : len - off;
		cJSON *rec = nl ? parse_line(buf + off, line_len) : NULL;
		if (!rec) {
			if (!nl || (size_t)(nl - buf) + 1 == len) {
				/* The last line: a write the crash cut short. */
				st->torn_bytes = len - off;
				break;
			}
			long last = st->last_seq;
			cd_journal_state_release(st);
			return cd_error_set(err, CD_EFAIL, "damaged record after record %ld (byte %zu)",
				last, off);
		}
		long seq = seq_of(rec);
		if (seq != st->last_seq + 1) {
			cJSON_Delete(rec);
			long last = st->last_seq;
			cd_journal_state_release(st);
			return cd_error_set(err, CD_EFAIL, "record %ld follows record %ld", seq, last);
		}
		cJSON_AddItemToArray(st->records, rec);
		int r = replay(st, rec, err);
		if (r < 0) {
			cd_journal_state_release(st);
			return r;
		}
		st->last_seq = seq;
		off += line_len + 1;
	}
	if (!st->begin && st->last_seq > 0) {
		cd_journal_state_release(st);
		return cd_error_set(err, CD_EFAIL, "no begin record");
	}
	return 0;
}

int cd_journal_read(const char *path, struct cd_journal_state *st, struct cd_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cd_error_set_errno(err, errno, "cannot open the journal '%s'", path);
	struct stat sb;
	if (fstat(fd, &sb) < 0 || sb.st_size > JOURNAL_MAX) {
		close(fd);
		return cd_error_set(err, CD_EFAIL, "'%s' is not a journal (too big)", path);
	}
	struct cd_buf b = CD_BUF_INIT;
	char chunk[65536];
	ssize_t n;
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			cd_buf_release(&b);
			return cd_error_set_errno(err, e, "cannot read the journal '%s'", path);
		}
		cd_buf_add(&b, chunk, (size_t)n);
	}
	close(fd);
	int r = cd_journal_parse(b.buf ? b.buf : "", b.len, st, err);
	cd_buf_release(&b);
	if (r < 0)
		return cd_error_set(err, err->code, "journal '%s': %s", path, err->msg);
	return 0;
}

int cd_journal_step_done(const struct cd_journal_state *st, const char *step)
{
	for (size_t i = 0; i < st->n_steps_done; i++)
		if (strcmp(st->steps_done[i], step) == 0)
			return 1;
	return 0;
}
