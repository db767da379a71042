/*
 * The redactor: the registry of secret values and the forms they take in
 * transit (base64 at every alignment, URL and JSON encoding, each line of a
 * multi-line value). Masking is a backstop: secrets should never reach a
 * sink, and when one does, it is replaced here.
 */
#include <stdlib.h>
#include <string.h>

#include "corpdeploy/log.h"

static struct {
	char **forms; /* sorted longest first, so the widest match wins */
	size_t *lens;
	size_t n, alloc;
	size_t secrets;
} redactor;

static void redact_add_form(const char *s, size_t len)
{
	if (len == 0)
		return;
	for (size_t i = 0; i < redactor.n; i++)
		if (redactor.lens[i] == len && memcmp(redactor.forms[i], s, len) == 0)
			return;
	if (redactor.n == redactor.alloc) {
		redactor.alloc = redactor.alloc ? redactor.alloc * 2 : 32;
		redactor.forms = cd_xreallocarray(redactor.forms, redactor.alloc, sizeof(char *));
		redactor.lens = cd_xreallocarray(redactor.lens, redactor.alloc, sizeof(size_t));
	}
	size_t at = 0;
	while (at < redactor.n && redactor.lens[at] >= len)
		at++;
	memmove(redactor.forms + at + 1, redactor.forms + at, (redactor.n - at) * sizeof(char *));
	memmove(redactor.lens + at + 1, redactor.lens + at, (redactor.n - at) * sizeof(size_t));
	redactor.forms[at] = cd_xstrndup(s, len);
	redactor.lens[at] = len;
	redactor.n++;
}

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Unpadded base64 of data; the caller frees. */
static char *base64(const unsigned char *data, size_t len)
{
	char *out = cd_xmalloc(len / 3 * 4 + 5);
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)data[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)data[i + 1] << 8;
		if (i + 2 < len)
			v |= data[i + 2];
		out[o++] = b64_alphabet[(v >> 18) & 63];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		if (i + 1 < len)
			out[o++] = b64_alphabet[(v >> 6) & 63];
		if (i + 2 < len)
			out[o++] = b64_alphabet[v & 63];
	}
	out[o] = '\0';
	return out;
}

/*
 * A secret inside a larger base64 text (a Basic auth header, say) shows as
 * a core of characters that depend on the secret alone. Register that core
 * for each of the three alignments.
 */
static void redact_add_base64(const char *value, size_t len)
{
	for (size_t align = 0; align < 3; align++) {
		unsigned char *data = cd_xmalloc(len + align);
		memset(data, 0, align);
		memcpy(data + align, value, len);
		char *enc = base64(data, len + align);
		size_t total = len + align, elen = strlen(enc);
		size_t start = align == 0 ? 0 : align == 1 ? 2 : 3;
		size_t end = elen;
		if (total % 3 != 0)
			end--; /* the last character mixes in whatever follows */
		if (align == 0 && total % 3 == 0)
			redact_add_form(enc, elen);
		if (end > start && end - start >= 8)
			redact_add_form(enc + start, end - start);
		if (align == 0 && total % 3 != 0) {
			/* The whole value encoded alone, padded. */
			char *padded = cd_xasprintf("%s%s", enc, total % 3 == 1 ? "==" : "=");
			redact_add_form(padded, strlen(padded));
			redact_add_form(enc, elen);
			free(padded);
		}
		free(enc);
		free(data);
	}
}

static void redact_add_urlencoded(const char *value, size_t len)
{
	struct cd_buf pct = CD_BUF_INIT, plus = CD_BUF_INIT;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			c == '-' || c == '_' || c == '.' || c == '~') {
			cd_buf_addch(&pct, (char)c);
			cd_buf_addch(&plus, (char)c);
		} else {
			cd_buf_addf(&pct, "%%%02X", c);
			if (c == ' ')
				cd_buf_addch(&plus, '+');
			else
				cd_buf_addf(&plus, "%%%02X", c);
		}
	}
	redact_add_form(pct.buf, pct.len);
	redact_add_form(plus.buf, plus.len);
	/* Lowercase hex digits, as some encoders write them. */
	struct cd_buf *forms[] = { &pct, &plus };
	for (size_t f = 0; f < 2; f++) {
		struct cd_buf *b = forms[f];
		for (size_t i = 0; i + 2 < b->len; i++)
			if (b->buf[i] == '%')
				for (size_t k = 1; k <= 2; k++)
					if (b->buf[i + k] >= 'A' && b->buf[i + k] <= 'F')
						b->buf[i + k] = (char)(b->buf[i + k] - 'A' + 'a');
		redact_add_form(b->buf, b->len);
	}
	cd_buf_release(&pct);
	cd_buf_release(&plus);
}

static void redact_add_json(const char *value, size_t len)
{
	struct cd_buf j = CD_BUF_INIT;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];
		switch (c) {
		case '"': cd_buf_adds(&j, "\\\""); break;
		case '\\': cd_buf_adds(&j, "\\\\"); break;
		case '\n': cd_buf_adds(&j, "\\n"); break;
		case '\r': cd_buf_adds(&j, "\\r"); break;
		case '\t': cd_buf_adds(&j, "\\t"); break;
		case '\b': cd_buf_adds(&j, "\\b"); break;
		case '\f': cd_buf_adds(&j, "\\f"); break;
		default:
			if (c < 0x20)
				cd_buf_addf(&j, "\\u%04x", c);
			else
				cd_buf_addch(&j, (char)c);
		}
	}
	redact_add_form(j.buf, j.len);
	cd_buf_release(&j);
}

void cd_redact_add(const char *value)
{
	size_t len = value ? strlen(value) : 0;
	if (len == 0)
		return;
	redactor.secrets++;
	redact_add_form(value, len);
	/* Each line of a multi-line value (a key, a certificate) on its own. */
	const char *line = value;
	while (line < value + len) {
		const char *nl = memchr(line, '\n', (size_t)(value + len - line));
		size_t llen = nl ? (size_t)(nl - line) : (size_t)(value + len - line);
		if (llen && line[llen - 1] == '\r')
			llen--;
		if (llen >= CD_SECRET_MIN_LEN && llen < len)
			redact_add_form(line, llen);
		line += llen + (nl ? 1 + (line[llen] == '\r') : 0);
		if (!nl)
			break;
	}
	redact_add_base64(value, len);
	redact_add_urlencoded(value, len);
	redact_add_json(value, len);
}

void cd_redact_append(struct cd_buf *out, const char *text, size_t len)
{
	size_t i = 0, copied = 0;
	if (redactor.n == 0) {
		cd_buf_add(out, text, len);
		return;
	}
	while (i < len) {
		size_t k;
		for (k = 0; k < redactor.n; k++) {
			size_t fl = redactor.lens[k];
			if (fl <= len - i && text[i] == redactor.forms[k][0] &&
				memcmp(text + i, redactor.forms[k], fl) == 0)
				break;
		}
		if (k < redactor.n) {
			cd_buf_add(out, text + copied, i - copied);
			cd_buf_adds(out, CD_REDACTED);
			i += redactor.lens[k];
			copied = i;
		} else {
			i++;
		}
	}
	cd_buf_add(out, text + copied, len - copied);
}

char *cd_redact_dup(const char *s)
{
	struct cd_buf b = CD_BUF_INIT;
	cd_redact_append(&b, s, strlen(s));
	return cd_buf_detach(&b);
}

void cd_redact_clear(void)
{
	for (size_t i = 0; i < redactor.n; i++)
		free(redactor.forms[i]);
	free(redactor.forms);
	free(redactor.lens);
	memset(&redactor, 0, sizeof(redactor));
}

size_t cd_redact_count(void)
{
	return redactor.secrets;
}
