/*
 * libFuzzer harness for the journal reader: any bytes replay or fail
 * cleanly, and whatever replays holds together (undo records have their
 * fields, the numbering has no gap).
 *
 *   meson compile -C build-fuzz fuzz-journal
 *   build-fuzz/tests/fuzz/fuzz-journal tests/fuzz/corpus-journal
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "corpdeploy/journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cd_journal_state st;
	struct cd_error err = CD_ERROR_INIT;
	if (cd_journal_parse((const char *)data, size, &st, &err) == 0) {
		if (cJSON_GetArraySize(st.records) != st.last_seq)
			abort();
		for (size_t i = 0; i < st.n_undo; i++)
			if (!cJSON_GetObjectItemCaseSensitive(st.undo[i], "kind") || st.undone[i] > 1)
				abort();
		if (st.torn_bytes > size)
			abort();
		cd_journal_state_release(&st);
	}
	cd_error_release(&err);
	return 0;
}
