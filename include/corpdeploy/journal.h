/*
 * journal: the write-ahead record of a run, one file per run. Before every
 * change a record of how to undo it is appended and flushed to disk; steps'
 * starts and ends, the rollback and the run's end are appended too. Another
 * process can then tell, after a crash, what the run changed and what it
 * finished, and take the changes back or carry on from there.
 *
 * Each record is one line: a JSON object, a tab, and the CRC-32 of the JSON
 * text in 8 hex digits. A last line that is cut short or fails its checksum
 * is a write the crash interrupted: it is ignored, with a warning. A bad
 * line before the last one is damage, not a crash, and reading fails.
 */
#ifndef CORPDEPLOY_JOURNAL_H
#define CORPDEPLOY_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "corpdeploy/core.h"

struct cJSON;

#define CD_JOURNAL_VERSION 1

/* Record types. */
#define CD_JR_BEGIN "begin"		/* run_id, plan, plan_file, release, pid, user, host, started_at */
#define CD_JR_STEP "step"		/* step, phase: started */
#define CD_JR_STEP_END "step-end"	/* step, result: ok|failed|skipped */
#define CD_JR_UNDO "undo"		/* step, kind, action, description, data */
#define CD_JR_ROLLBACK "rollback"	/* why */
#define CD_JR_UNDONE "undone"		/* undo (its seq), ok, message */
#define CD_JR_ROLLBACK_END "rollback-end" /* ok */
#define CD_JR_END "end"			/* outcome */

struct cd_journal;

/*
 * Opens path for appending (created 0600 if missing); records get numbers
 * after last_seq. *ret is closed with cd_journal_close().
 */
int cd_journal_open(const char *path, long last_seq, struct cd_journal **ret, struct cd_error *err);
void cd_journal_close(struct cd_journal *j);
/*
 * Appends rec (borrowed; its "seq" is set) and, with sync, waits until it is
 * on disk. Returns its seq, or a negative CD_E* with err set.
 */
long cd_journal_append(struct cd_journal *j, struct cJSON *rec, int sync, struct cd_error *err);

/* What a journal says, replayed. */
struct cd_journal_state {
	struct cJSON *records;	   /* owned: every valid record, in order */
	const struct cJSON *begin; /* the begin record, or NULL */
	const struct cJSON **undo; /* owned array of pointers into records: undo records, oldest first */
	unsigned char *undone;	   /* owned, per undo: taken back already */
	size_t n_undo;
	const char **steps_done; /* owned array; names of steps that ended ok (strings in records) */
	size_t n_steps_done;
	int rollback_started;
	int rollback_ok; /* a rollback ended with everything undone */
	const char *outcome; /* the end record's, or NULL: the run never finished */
	long last_seq;
	size_t torn_bytes; /* a last record cut short by a crash, ignored */
};

/* Replays the journal text buf. Pure: no I/O. Release st with cd_journal_state_release(). */
int cd_journal_parse(const char *buf, size_t len, struct cd_journal_state *st, struct cd_error *err);
/* Reads and replays the journal at path. */
int cd_journal_read(const char *path, struct cd_journal_state *st, struct cd_error *err);
void cd_journal_state_release(struct cd_journal_state *st);
/* Whether a step of that name ended ok in the journal. */
int cd_journal_step_done(const struct cd_journal_state *st, const char *step);

uint32_t cd_crc32(const void *data, size_t len);

#endif
