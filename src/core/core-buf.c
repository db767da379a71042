/*
 * struct cd_buf: growable NUL-terminated text with an optional maximum
 * (git strbuf, curl dynbuf). A failed append leaves the buffer unchanged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corpdeploy/core.h"

char cd_buf_empty[1];

void cd_buf_init(struct cd_buf *b, size_t max)
{
	b->buf = cd_buf_empty;
	b->len = 0;
	b->alloc = 0;
	b->max = max;
}

static int buf_grow(struct cd_buf *b, size_t extra)
{
	size_t want;

	if (extra > SIZE_MAX - b->len - 1)
		return CD_ETOOBIG;
	want = b->len + extra + 1;
	if (b->max && want - 1 > b->max)
		return CD_ETOOBIG;
	if (want <= b->alloc)
		return 0;
	size_t alloc = b->alloc ? b->alloc : 64;
	while (alloc < want)
		alloc = alloc > SIZE_MAX / 2 ? want : alloc * 2;
	if (b->alloc == 0) {
		b->buf = cd_xmalloc(alloc);
		b->buf[0] = '\0';
	} else {
		b->buf = cd_xrealloc(b->buf, alloc);
	}
	b->alloc = alloc;
	return 0;
}

int cd_buf_add(struct cd_buf *b, const void *data, size_t len)
{
	int r = buf_grow(b, len);
	if (r < 0)
		return r;
	if (len)
		memcpy(b->buf + b->len, data, len);
	b->len += len;
	b->buf[b->len] = '\0';
	return 0;
}

int cd_buf_adds(struct cd_buf *b, const char *s)
{
	return cd_buf_add(b, s, strlen(s));
}

int cd_buf_addch(struct cd_buf *b, char c)
{
	return cd_buf_add(b, &c, 1);
}

int cd_buf_vaddf(struct cd_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return CD_EFAIL;
	int r = buf_grow(b, (size_t)n);
	if (r < 0)
		return r;
	vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int cd_buf_addf(struct cd_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = cd_buf_vaddf(b, fmt, ap);
	va_end(ap);
	return r;
}

void cd_buf_reset(struct cd_buf *b)
{
	b->len = 0;
	if (b->alloc)
		b->buf[0] = '\0';
}

char *cd_buf_detach(struct cd_buf *b)
{
	char *s = b->alloc ? b->buf : cd_xstrdup("");
	size_t max = b->max;
	cd_buf_init(b, max);
	return s;
}

void cd_buf_release(struct cd_buf *b)
{
	if (b->alloc)
		free(b->buf);
	cd_buf_init(b, b->max);
}
