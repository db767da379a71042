/*
 * A bump allocator in chunks. A loaded plan owns one arena, so freeing a
 * plan is one call and a parse error never leaks. The limit caps memory
 * that hostile input can make corpdeploy hold.
 */
#include <stdlib.h>
#include <string.h>

#include "corpdeploy/core.h"

#define ARENA_CHUNK (64 * 1024)

struct cd_arena_chunk {
	struct cd_arena_chunk *next;
	size_t size, used;
	max_align_t data[];
};

void *cd_arena_alloc(struct cd_arena *a, size_t size)
{
	size_t align = sizeof(max_align_t);
	size = (size + align - 1) & ~(align - 1);
	if (a->limit && (size > a->limit || a->used > a->limit - size))
		return NULL;

	struct cd_arena_chunk *c = a->head;
	if (!c || c->size - c->used < size) {
		size_t csize = size > ARENA_CHUNK / 4 ? size : ARENA_CHUNK;
		c = cd_xmalloc(sizeof(*c) + csize);
		c->size = csize;
		c->used = 0;
		if (size > ARENA_CHUNK / 4 && a->head) {
			/* A big block gets its own chunk behind the current one. */
			c->next = a->head->next;
			a->head->next = c;
		} else {
			c->next = a->head;
			a->head = c;
		}
	}
	void *p = (char *)c->data + c->used;
	c->used += size;
	a->used += size;
	memset(p, 0, size);
	return p;
}

char *cd_arena_strndup(struct cd_arena *a, const char *s, size_t n)
{
	char *p = cd_arena_alloc(a, n + 1);
	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *cd_arena_strdup(struct cd_arena *a, const char *s)
{
	return cd_arena_strndup(a, s, strlen(s));
}

void cd_arena_release(struct cd_arena *a)
{
	struct cd_arena_chunk *c = a->head;
	while (c) {
		struct cd_arena_chunk *next = c->next;
		free(c);
		c = next;
	}
	a->head = NULL;
	a->used = 0;
}
