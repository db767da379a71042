/*
 * libFuzzer harness for the plan loader: YAML parsing, the schema decoder,
 * interpolation and the checks across objects, all from bytes in memory.
 *
 *   CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined \
 *       -Db_lundef=false -Dc_args=-fsanitize=fuzzer-no-link
 *   meson compile -C build-fuzz fuzz-plan
 *   rm -rf /tmp/corpus && cp -r tests/fuzz/corpus /tmp/corpus
 *   build-fuzz/tests/fuzz/fuzz-plan -dict=tests/fuzz/plan.dict /tmp/corpus
 *
 * The plan is loaded offline (missing secrets and env_file are warnings)
 * and with an empty environment, so the result depends on the input alone.
 * The input is named "fuzz.yaml" in the current directory: relative files a
 * plan names (env_file, smoke suites) are looked up from there.
 */
#include <stddef.h>
#include <stdint.h>

#include "corpdeploy/core.h"
#include "corpdeploy/log.h"
#include "corpdeploy/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__ubsan_default_options(void);

/* UBSan only prints by default; make undefined behaviour a finding the fuzzer stops at. */
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

static const char *no_env(const char *name)
{
	(void)name;
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cd_plan_opts opts = { .flags = CD_PLAN_LOAD_OFFLINE, .getenv = no_env };
	struct cd_diags diags = CD_DIAGS_INIT;
	struct cd_plan *plan = NULL;

	if (cd_plan_load_buffer("fuzz.yaml", (const char *)data, size, &opts, &diags, &plan) == 0)
		cd_plan_free(plan);
	cd_diags_release(&diags);
	cd_redact_clear();
	return 0;
}
