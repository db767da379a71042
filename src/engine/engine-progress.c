/*
 * Progress people can follow. On a terminal: finished steps scroll by as
 * lines, and one live line shows the phase, the step in flight and the time
 * against the budget. Elsewhere (CI): plain timestamped lines. The timing
 * log gets the plain lines either way. Every byte goes through the redactor.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "corpdeploy/docker.h"
#include "corpdeploy/log.h"
#include "corpdeploy/steps.h"
#include "engine-internal.h"

static pthread_mutex_t progress_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t ticker;
static int ticker_running, ticker_stop;
static char live_step[256];
static size_t live_phase = (size_t)-1;

static void emit(FILE *f, const char *text)
{
	struct cd_buf b = CD_BUF_INIT;
	cd_redact_append(&b, text, strlen(text));
	fwrite(b.buf, 1, b.len, f);
	fflush(f);
	cd_buf_release(&b);
}

static void draw_live_locked(struct cd_run *run)
{
	char line[512], e[32], bud[32];
	if (!run->opts.tty || live_phase == (size_t)-1)
		return;
	const struct cd_phase *p = CD_LIST_AT(&run->plan->phases, struct cd_phase, live_phase);
	int64_t el = cd_time_mono_ms() - run->t0_ms - run->phases[live_phase].start_ms;
	cd_duration_format(el, e, sizeof(e));
	snprintf(line, sizeof(line), "\r\033[K\033[1m%s\033[0m %s%s%s  %s", p->name, e,
		p->budget_ms > 0 ? " / " : "",
		p->budget_ms > 0 ? cd_duration_format(p->budget_ms, bud, sizeof(bud)) : "", live_step);
	emit(run->opts.progress, line);
}

static void clear_live_locked(struct cd_run *run)
{
	if (run->opts.tty && live_phase != (size_t)-1)
		emit(run->opts.progress, "\r\033[K");
}

/*
 * A permanent line: on the terminal above the live line (unless only the log
 * wants it), in the timing log with a time stamp.
 */
static void vline(struct cd_run *run, int terminal, const char *fmt, va_list ap) CD_PRINTF(3, 0);
static void vline(struct cd_run *run, int terminal, const char *fmt, va_list ap)
{
	struct cd_buf b = CD_BUF_INIT;
	char stamp[32];
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	time_t now = ts.tv_sec;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
	cd_buf_vaddf(&b, fmt, ap);
	pthread_mutex_lock(&progress_lock);
	if (run->timing) {
		char full[40];
		strftime(full, sizeof(full), "%Y-%m-%dT%H:%M:%S", &tm);
		struct cd_buf t = CD_BUF_INIT;
		/* Milliseconds: the log is what recovery times are measured from. */
		cd_buf_addf(&t, "%s.%03ldZ %s\n", full, ts.tv_nsec / 1000000, b.buf);
		emit(run->timing, t.buf);
		cd_buf_release(&t);
	}
	if (terminal && cd_log_get_level() >= CD_LOG_INFO) {
		struct cd_buf o = CD_BUF_INIT;
		if (run->opts.tty) {
			clear_live_locked(run);
			cd_buf_addf(&o, "%s\n", b.buf);
		} else {
			cd_buf_addf(&o, "[%s] %s\n", stamp, b.buf);
		}
		emit(run->opts.progress, o.buf);
		cd_buf_release(&o);
		draw_live_locked(run);
	}
	pthread_mutex_unlock(&progress_lock);
	cd_buf_release(&b);
}

static void line(struct cd_run *run, const char *fmt, ...) CD_PRINTF(2, 3);
static void line(struct cd_run *run, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vline(run, 1, fmt, ap);
	va_end(ap);
}

static void log_line(struct cd_run *run, int terminal, const char *fmt, ...) CD_PRINTF(3, 4);
static void log_line(struct cd_run *run, int terminal, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vline(run, terminal, fmt, ap);
	va_end(ap);
}

static void *ticker_main(void *arg)
{
	struct cd_run *run = arg;
	for (;;) {
		struct timespec ts = { 0, 200 * 1000000 };
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&progress_lock);
		int stop = ticker_stop;
		if (!stop && cd_log_get_level() >= CD_LOG_INFO)
			draw_live_locked(run);
		pthread_mutex_unlock(&progress_lock);
		if (stop)
			return NULL;
	}
}

void engine_progress_begin(struct cd_run *run)
{
	const struct cd_plan *plan = run->plan;
	if (run->opts.timing_log && !(run->timing = fopen(run->opts.timing_log, "we")))
		cd_log_warn("cannot write the timing log '%s'", run->opts.timing_log);
	live_phase = (size_t)-1;
	line(run, "deploying %s release %s (run %s, %zu phases, %zu steps)", plan->name, plan->release,
		run->run_id, plan->phases.n, cd_plan_step_count(plan));
	if (run->opts.tty && cd_log_get_level() >= CD_LOG_INFO) {
		ticker_stop = 0;
		ticker_running = pthread_create(&ticker, NULL, ticker_main, run) == 0;
	}
}

void engine_progress_phase_start(struct cd_run *run, size_t phase)
{
	const struct cd_phase *p = CD_LIST_AT(&run->plan->phases, struct cd_phase, phase);
	char b[32];
	line(run, "phase %zu/%zu %s started%s%s%s", phase + 1, run->plan->phases.n, p->name,
		p->budget_ms > 0 ? " (budget " : "",
		p->budget_ms > 0 ? cd_duration_format(p->budget_ms, b, sizeof(b)) : "",
		p->budget_ms > 0 ? ")" : "");
	pthread_mutex_lock(&progress_lock);
	live_phase = phase;
	live_step[0] = '\0';
	pthread_mutex_unlock(&progress_lock);
}

void engine_progress_phase_done(struct cd_run *run, size_t phase)
{
	const struct cd_phase_result *pr = &run->phases[phase];
	const struct cd_phase *p = pr->phase;
	char d[32], b[32];
	pthread_mutex_lock(&progress_lock);
	clear_live_locked(run);
	live_phase = (size_t)-1;
	pthread_mutex_unlock(&progress_lock);
	cd_duration_format(pr->duration_ms, d, sizeof(d));
	if (p->budget_ms > 0) {
		long pct = (long)(pr->duration_ms * 100 / p->budget_ms);
		line(run, "phase %s %s in %s (budget %s, %ld%% used)", p->name,
			pr->result == CD_RESULT_OK ? "done" : "FAILED", d,
			cd_duration_format(p->budget_ms, b, sizeof(b)), pct);
	} else {
		line(run, "phase %s %s in %s", p->name, pr->result == CD_RESULT_OK ? "done" : "FAILED", d);
	}
}

void engine_progress_step_start(struct cd_run *run, const struct cd_step *step)
{
	struct cd_buf d = CD_BUF_INIT;
	step->kind->describe(step, &d);
	pthread_mutex_lock(&progress_lock);
	snprintf(live_step, sizeof(live_step), "%s: %.200s", step->name, d.buf);
	pthread_mutex_unlock(&progress_lock);
	/* On a terminal the live line shows it; the log wants it either way. */
	log_line(run, !run->opts.tty, "  %s: %s", step->name, d.buf);
	cd_buf_release(&d);
}

void engine_progress_step_done(struct cd_run *run, size_t idx)
{
	pthread_mutex_lock(&run->lock);
	const struct cd_step_result r = run->steps[idx];
	char *msg = r.message ? cd_xstrdup(r.message) : NULL;
	pthread_mutex_unlock(&run->lock);
	char d[32];
	cd_duration_format(r.duration_ms, d, sizeof(d));
	const char *mark = r.result == CD_RESULT_OK ? (run->opts.tty ? "\342\234\223" : "ok")
						     : (run->opts.tty ? "\342\234\227" : "FAILED");
	if (r.result == CD_RESULT_OK && r.attempts > 1)
		line(run, "  %s %s (%s, attempt %d)%s%s", mark, r.step->name, d, r.attempts,
			msg ? ": " : "", msg ? msg : "");
	else if (r.result == CD_RESULT_OK)
		line(run, "  %s %s (%s)%s%s", mark, r.step->name, d, msg ? ": " : "", msg ? msg : "");
	else
		line(run, "  %s %s (%s): %s", mark, r.step->name, d, msg ? msg : "failed");
	free(msg);
}

void engine_progress_retry(struct cd_run *run, const struct cd_step *step, int attempt,
	const struct cd_error *err, int64_t delay_ms)
{
	char d[32];
	line(run, "  %s: attempt %d failed: %s; retrying in %s", step->name, attempt,
		err->msg ? err->msg : "failed", cd_duration_format(delay_ms, d, sizeof(d)));
}

void cd_run_note(struct cd_run *run, const char *fmt, ...)
{
	struct cd_buf b = CD_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	cd_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	if (cd_log_get_level() >= CD_LOG_VERBOSE || !run->opts.tty) {
		line(run, "    %s", b.buf);
	} else {
		log_line(run, 0, "    %s", b.buf);
		pthread_mutex_lock(&progress_lock);
		snprintf(live_step, sizeof(live_step), "%.250s", b.buf);
		draw_live_locked(run);
		pthread_mutex_unlock(&progress_lock);
	}
	cd_buf_release(&b);
}

void engine_progress_rollback_start(struct cd_run *run, size_t pending)
{
	line(run, "rolling back %zu change%s: %s", pending, pending == 1 ? "" : "s",
		run->failure ? run->failure : "a step failed");
}

void engine_progress_undo(struct cd_run *run, const struct cd_undo *u, int r, const char *msg)
{
	if (r == 0)
		line(run, "  undone: %s", u->description);
	else
		line(run, "  NOT undone: %s: %s", u->description, msg ? msg : "failed");
}

void engine_progress_end(struct cd_run *run, enum cd_run_outcome outcome)
{
	char d[32], rb[32];
	int64_t total = cd_time_mono_ms() - run->t0_ms;
	if (ticker_running) {
		pthread_mutex_lock(&progress_lock);
		ticker_stop = 1;
		pthread_mutex_unlock(&progress_lock);
		pthread_join(ticker, NULL);
		ticker_running = 0;
	}
	cd_duration_format(total, d, sizeof(d));
	cd_duration_format(run->rollback_ms, rb, sizeof(rb));
	const struct cd_plan *plan = run->plan;
	/* How much the run asked of the engines: an unchanged release asks nothing that changes. */
	struct cd_docker_stats sum = { 0 };
	for (size_t i = 0; i < plan->targets.n; i++) {
		struct cd_docker_stats st;
		if (!run->docker[i])
			continue;
		cd_docker_get_stats(run->docker[i], &st);
		sum.calls += st.calls;
		sum.mutating += st.mutating;
	}
	if (sum.calls)
		line(run, "engine calls: %lu, of which %lu changing", sum.calls, sum.mutating);
	switch (outcome) {
	case CD_RUN_OK:
		line(run, "deployed %s release %s in %s", plan->name, plan->release, d);
		break;
	case CD_RUN_PRECHECK_FAILED:
		line(run, "%s release %s not deployed, nothing changed (%s): %s", plan->name,
			plan->release, d, run->failure);
		break;
	case CD_RUN_FAILED_ROLLED_BACK:
		line(run, "%s release %s FAILED and was rolled back in %s (total %s): %s", plan->name,
			plan->release, rb, d, run->failure);
		break;
	case CD_RUN_FAILED_NOT_ROLLED_BACK:
		line(run, "%s release %s FAILED (%s), not rolled back: %s", plan->name, plan->release, d,
			run->failure);
		break;
	case CD_RUN_ROLLBACK_FAILED:
		line(run, "%s release %s FAILED and the ROLLBACK FAILED (%s): %s; see the steps above to "
			  "finish by hand",
			plan->name, plan->release, d, run->failure);
		break;
	}
}
