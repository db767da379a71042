/*
 * ssh-sftp-dir: the entries of a directory on a host (OPENDIR, READDIR until
 * the end), with their lstat attributes, sorted by name: the server lists
 * them in the order of its file system, which would make two archives of
 * the same tree differ.
 */
#include <stdlib.h>
#include <string.h>

#include "ssh-sftp-internal.h"

struct entries {
	struct cd_ssh_dir_entry *v;
	size_t n, cap;
};

/* Adds the names of a NAME answer but "." and "..". */
static int take_names(struct cd_ssh_session *s, struct sftp_answer *a, struct entries *e,
	struct cd_error *err)
{
	uint32_t count = sftp_get_u32(&a->rest);
	for (uint32_t i = 0; i < count && !a->rest.bad; i++) {
		size_t nl, ll;
		const char *name = sftp_get_str(&a->rest, &nl);
		sftp_get_str(&a->rest, &ll); /* the "ls -l" line */
		struct cd_ssh_file_attrs attrs;
		sftp_get_attrs(&a->rest, &attrs);
		if (a->rest.bad || memchr(name, '\0', nl) || memchr(name, '/', nl))
			break;
		if ((nl == 1 && name[0] == '.') || (nl == 2 && name[0] == '.' && name[1] == '.'))
			continue;
		if (e->n == e->cap) {
			e->cap = e->cap ? e->cap * 2 : 16;
			e->v = cd_xrealloc(e->v, e->cap * sizeof(*e->v));
		}
		e->v[e->n++] = (struct cd_ssh_dir_entry){ cd_xstrndup(name, nl), attrs };
	}
	return a->rest.bad ? sftp_unexpected(s, err) : 0;
}

static int by_name(const void *x, const void *y)
{
	return strcmp(((const struct cd_ssh_dir_entry *)x)->name,
		((const struct cd_ssh_dir_entry *)y)->name);
}

int cd_ssh_sftp_list(struct cd_ssh_session *s, const char *path, struct cd_ssh_dir_entry **ret,
	size_t *ret_n, struct cd_error *err)
{
	int r = sftp_begin(s, err);
	if (r < 0)
		return r;
	struct cd_buf req = CD_BUF_INIT;
	struct sftp_answer a = { .pkt = CD_BUF_INIT };
	struct entries e = { 0 };
	int in_sync = 0, end = 0;
	size_t hl;
	char *handle = NULL;
	if ((r = sftp_open_handle(s, path, 0, -1, "list", &req, &a, &in_sync, &handle, &hl, err)) < 0)
		goto done;
	while (r == 0 && !end) {
		size_t start;
		cd_buf_reset(&req);
		uint32_t id = sftp_request_begin(s->sftp, &req, FXP_READDIR, &start);
		sftp_put_str(&req, handle, hl);
		sftp_request_end(&req, start);
		in_sync = 0;
		if ((r = sftp_send(s, &req, err)) < 0 || (r = sftp_recv_answer(s, id, &a, err)) < 0)
			break;
		in_sync = 1;
		if (a.type == FXP_NAME)
			r = take_names(s, &a, &e, err);
		else if (a.type == FXP_STATUS && a.status == FX_EOF)
			end = 1;
		else
			r = a.type == FXP_STATUS ? sftp_status_error(s, &a, "list", path, err) :
				sftp_unexpected(s, err);
	}
	if (in_sync)
		in_sync = sftp_close_handle(s, handle, hl, &req, &a);
done:
	free(handle);
	cd_buf_release(&a.pkt);
	cd_buf_release(&req);
	if (r < 0) {
		cd_ssh_dir_entries_free(e.v, e.n);
	} else {
		if (e.n)
			qsort(e.v, e.n, sizeof(*e.v), by_name);
		*ret = e.v;
		*ret_n = e.n;
	}
	return sftp_end(s, r, in_sync);
}

void cd_ssh_dir_entries_free(struct cd_ssh_dir_entry *entries, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(entries[i].name);
	free(entries);
}
