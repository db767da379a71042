/*
 * core: memory, growable text, errors with plan positions, an arena and time.
 * libc only, but for its hashes (libcrypto); every other part of corpdeploy
 * builds on this header.
 */
#ifndef CORPDEPLOY_CORE_H
#define CORPDEPLOY_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CD_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define CD_PRINTF(f, a)	 __attribute__((format(printf, f, a)))

/*
 * Allocation. Out-of-memory is fatal: a CLI gains nothing by unwinding,
 * so these never return NULL (tmux xmalloc.c, git wrapper.c).
 */
void *cd_xmalloc(size_t size);
void *cd_xcalloc(size_t nmemb, size_t size);
void *cd_xrealloc(void *ptr, size_t size);
void *cd_xreallocarray(void *ptr, size_t nmemb, size_t size);
char *cd_xstrdup(const char *s);
char *cd_xstrndup(const char *s, size_t n);
char *cd_xasprintf(const char *fmt, ...) CD_PRINTF(1, 2);
_Noreturn void cd_oom(void);

/*
 * Growable text. Invariant: buf is never NULL and always NUL-terminated.
 * A buffer filled from outside (a file, the network) gets a maximum size;
 * appends past it fail with CD_ETOOBIG and leave the buffer as it was.
 */
struct cd_buf {
	char *buf;
	size_t len;
	size_t alloc;
	size_t max; /* 0: no limit */
};
extern char cd_buf_empty[];
#define CD_BUF_INIT { cd_buf_empty, 0, 0, 0 }

void cd_buf_init(struct cd_buf *b, size_t max);
int cd_buf_add(struct cd_buf *b, const void *data, size_t len);
int cd_buf_adds(struct cd_buf *b, const char *s);
int cd_buf_addch(struct cd_buf *b, char c);
int cd_buf_addf(struct cd_buf *b, const char *fmt, ...) CD_PRINTF(2, 3);
int cd_buf_vaddf(struct cd_buf *b, const char *fmt, va_list ap) CD_PRINTF(2, 0);
void cd_buf_reset(struct cd_buf *b);
/* Returns the text, owned by the caller (free()); the buffer is empty again. */
char *cd_buf_detach(struct cd_buf *b);
void cd_buf_release(struct cd_buf *b);

/*
 * Errors. A function that can fail returns 0 or a negative CD_E* and takes
 * `struct cd_error *err` last (may be NULL). The setters return the code,
 * so a failure is one statement.
 */
enum cd_errcode {
	CD_OK = 0,
	CD_EFAIL = -1,
	CD_ENOTFOUND = -2,
	CD_EPLAN = -3,	   /* the plan is invalid; details are in the diagnostics */
	CD_EIO = -4,	   /* a local file or system call failed */
	CD_ETOOBIG = -5,   /* a size or count limit was reached */
	CD_EUSAGE = -6,	   /* bad command-line usage */
	CD_EREMOTE = -7,   /* another program or host answered with an error */
	CD_ELOCKED = -8,   /* another run holds the plan's lock */
};

struct cd_error {
	enum cd_errcode code;
	int sys;   /* errno or a library's code; 0 if none */
	char *msg; /* owned; one line, "what failed: why" */
};
#define CD_ERROR_INIT { CD_OK, 0, NULL }

int cd_error_set(struct cd_error *err, enum cd_errcode code, const char *fmt, ...) CD_PRINTF(3, 4);
/* Appends ": strerror(errnum)" and returns CD_EIO. */
int cd_error_set_errno(struct cd_error *err, int errnum, const char *fmt, ...) CD_PRINTF(3, 4);
void cd_error_release(struct cd_error *err);

/*
 * Diagnostics: the positioned messages of a plan, all of them, in the order
 * they were found. Lines and columns are 1-based; 0 means unknown.
 */
enum cd_severity { CD_SEV_ERROR, CD_SEV_WARNING };

struct cd_diag {
	enum cd_severity severity;
	char *file; /* owned */
	unsigned line, col;
	char *msg; /* owned; "unknown key 'imgae' in services.api (did you mean 'image'?)" */
};

struct cd_diags {
	struct cd_diag *items;
	size_t n, alloc;
	size_t errors;
	size_t max_errors; /* 0: 200 */
};
#define CD_DIAGS_INIT { NULL, 0, 0, 0, 0 }

/* Returns CD_EPLAN, or CD_ETOOBIG once max_errors errors have been recorded. */
int cd_diag_add(struct cd_diags *d, enum cd_severity sev, const char *file, unsigned line,
	unsigned col, const char *fmt, ...) CD_PRINTF(6, 7);
int cd_diag_vadd(struct cd_diags *d, enum cd_severity sev, const char *file, unsigned line,
	unsigned col, const char *fmt, va_list ap) CD_PRINTF(6, 0);
void cd_diags_release(struct cd_diags *d);

/*
 * Arena: many small allocations freed at once. Every object of a loaded plan
 * lives in its arena. A limit bounds what hostile input can make us hold.
 */
struct cd_arena_chunk;
struct cd_arena {
	struct cd_arena_chunk *head;
	size_t used;  /* bytes handed out, for the limit and for reports */
	size_t limit; /* 0: no limit */
};
#define CD_ARENA_INIT { NULL, 0, 0 }

/* Returns zeroed memory, or NULL when the limit would be passed. */
void *cd_arena_alloc(struct cd_arena *a, size_t size);
char *cd_arena_strndup(struct cd_arena *a, const char *s, size_t n);
char *cd_arena_strdup(struct cd_arena *a, const char *s);
void cd_arena_release(struct cd_arena *a);

/* Time. Monotonic milliseconds for measuring; never for wall-clock display. */
int64_t cd_time_mono_ms(void);
/* Formats a duration as "850ms", "2s", "1m30s", "1h5m" into buf. */
const char *cd_duration_format(int64_t ms, char *buf, size_t size);
/* Formats a size as "512B", "10KiB", "1.5GiB" into buf. */
const char *cd_size_format(uint64_t bytes, char *buf, size_t size);

/*
 * Starts argv (argv[0] looked up in PATH) with extra "K=V" env entries
 * overriding inherited ones, leading its own process group, with the
 * default action for SIGPIPE, SIGINT and SIGTERM; its stdin, stdout and
 * stderr are pipes whose other ends (close-on-exec) come back in *ret_in,
 * *ret_out and *ret_err, the caller's to close. CD_EIO when it cannot start.
 */
int cd_proc_spawn(const char *const *argv, const char *const *env, pid_t *ret_pid, int *ret_in,
	int *ret_out, int *ret_err, struct cd_error *err);

/*
 * Local processes. Runs argv (argv[0] looked up in PATH) with extra "K=V"
 * env entries, writes stdin_data (may be NULL) to its stdin, captures
 * stdout and stderr (each capped at max bytes, the rest read and dropped),
 * and kills its whole process group when timeout_ms passes. *ret_status is
 * the exit code, or 128+signal. Returns 0 when it ran (whatever its exit
 * code), CD_EFAIL on timeout (err says so) or CD_EIO when it cannot start.
 */
int cd_proc_run(const char *const *argv, const char *const *env, const char *stdin_data,
	int64_t timeout_ms, size_t max, struct cd_buf *out, struct cd_buf *errout, int *ret_status,
	struct cd_error *err);

/*
 * SHA-256, incremental (libcrypto underneath). init allocates; final_hex
 * writes 64 hex digits and a NUL into hex and frees; a hash given up before
 * its final is freed with cd_sha256_release(), a no-op after final_hex.
 */
struct cd_sha256 {
	void *ctx; /* libcrypto's EVP_MD_CTX */
};
void cd_sha256_init(struct cd_sha256 *c);
void cd_sha256_update(struct cd_sha256 *c, const void *data, size_t len);
void cd_sha256_final_hex(struct cd_sha256 *c, char hex[65]);
void cd_sha256_release(struct cd_sha256 *c);
/* HMAC-SHA-1 of data under key (libcrypto): only where a format demands it (hashed known_hosts). */
void cd_hmac_sha1(const void *key, size_t key_len, const void *data, size_t len,
	unsigned char out[20]);

/* Strings. */
size_t cd_levenshtein(const char *a, const char *b);
/* The closest candidate within a distance that still looks like a typo, or NULL. */
const char *cd_suggest(const char *word, const char *const *candidates, size_t n);

#endif
