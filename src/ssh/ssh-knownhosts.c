/*
 * ssh-knownhosts: strict host-key checking. Lines are read one at a time
 * (libssh2 1.10's readfile stops at the first line it cannot parse) into
 * libssh2's matcher, which knows hashed |1|salt|hash entries and the
 * [host]:port form. libssh2 1.10 does not understand @revoked (it would
 * store a host literally named "@revoked"), so revocations are kept here.
 * The algorithms recorded for a host decide the host-key method offered in
 * the handshake: libssh2 otherwise negotiates ECDSA first and reports a
 * host known only by its ed25519 key as unknown or, worse, changed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libssh2.h>

#include "corpdeploy/log.h"
#include "corpdeploy/ssh.h"

struct revoked_key {
	char *patterns;
	char *key_b64;
};

struct cd_ssh_known_hosts {
	pthread_mutex_t lock;	  /* a run's hosts check their keys against one set, from many threads */
	LIBSSH2_SESSION *session; /* libssh2 needs one to own the collection; never connected */
	LIBSSH2_KNOWNHOSTS *kh;
	struct revoked_key *revoked;
	size_t n_revoked;
};

static const struct {
	int type;
	int bits;
	const char *name;
} key_types[] = {
	{ LIBSSH2_HOSTKEY_TYPE_ED25519, LIBSSH2_KNOWNHOST_KEY_ED25519, "ssh-ed25519" },
	{ LIBSSH2_HOSTKEY_TYPE_ECDSA_256, LIBSSH2_KNOWNHOST_KEY_ECDSA_256, "ecdsa-sha2-nistp256" },
	{ LIBSSH2_HOSTKEY_TYPE_ECDSA_384, LIBSSH2_KNOWNHOST_KEY_ECDSA_384, "ecdsa-sha2-nistp384" },
	{ LIBSSH2_HOSTKEY_TYPE_ECDSA_521, LIBSSH2_KNOWNHOST_KEY_ECDSA_521, "ecdsa-sha2-nistp521" },
	{ LIBSSH2_HOSTKEY_TYPE_RSA, LIBSSH2_KNOWNHOST_KEY_SSHRSA, "ssh-rsa" },
};

static int key_bits(int type)
{
	for (size_t i = 0; i < CD_ARRAY_SIZE(key_types); i++)
		if (key_types[i].type == type)
			return key_types[i].bits;
	return LIBSSH2_KNOWNHOST_KEY_UNKNOWN;
}

const char *cd_ssh_key_type_name(int key_type)
{
	for (size_t i = 0; i < CD_ARRAY_SIZE(key_types); i++)
		if (key_types[i].type == key_type)
			return key_types[i].name;
	return "unknown";
}

static void base64_encode(struct cd_buf *out, const unsigned char *p, size_t n, int pad)
{
	static const char tbl[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;
	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
		char q[4] = { tbl[v >> 18], tbl[(v >> 12) & 63], tbl[(v >> 6) & 63], tbl[v & 63] };
		cd_buf_add(out, q, 4);
	}
	if (n - i == 1) {
		unsigned v = (unsigned)p[i] << 16;
		cd_buf_addch(out, tbl[v >> 18]);
		cd_buf_addch(out, tbl[(v >> 12) & 63]);
		if (pad)
			cd_buf_adds(out, "==");
	} else if (n - i == 2) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
		cd_buf_addch(out, tbl[v >> 18]);
		cd_buf_addch(out, tbl[(v >> 12) & 63]);
		cd_buf_addch(out, tbl[(v >> 6) & 63]);
		if (pad)
			cd_buf_addch(out, '=');
	}
}

void cd_ssh_fingerprint(const void *key, size_t key_len, char *buf, size_t size)
{
	struct cd_sha256 c;
	char hex[65];
	unsigned char digest[32];
	cd_sha256_init(&c);
	cd_sha256_update(&c, key, key_len);
	cd_sha256_final_hex(&c, hex);
	for (int i = 0; i < 32; i++) {
		unsigned v;
		sscanf(hex + 2 * i, "%2x", &v);
		digest[i] = (unsigned char)v;
	}
	struct cd_buf b = CD_BUF_INIT;
	cd_buf_adds(&b, "SHA256:");
	base64_encode(&b, digest, sizeof(digest), 0);
	snprintf(buf, size, "%s", b.buf);
	cd_buf_release(&b);
}

struct cd_ssh_known_hosts *cd_ssh_known_hosts_new(void)
{
	struct cd_ssh_known_hosts *kh = cd_xcalloc(1, sizeof(*kh));
	kh->session = libssh2_session_init();
	if (!kh->session)
		cd_oom();
	kh->kh = libssh2_knownhost_init(kh->session);
	if (!kh->kh)
		cd_oom();
	pthread_mutex_init(&kh->lock, NULL);
	return kh;
}

void cd_ssh_known_hosts_free(struct cd_ssh_known_hosts *kh)
{
	if (!kh)
		return;
	for (size_t i = 0; i < kh->n_revoked; i++) {
		free(kh->revoked[i].patterns);
		free(kh->revoked[i].key_b64);
	}
	free(kh->revoked);
	libssh2_knownhost_free(kh->kh);
	libssh2_session_free(kh->session);
	pthread_mutex_destroy(&kh->lock);
	free(kh);
}

/* "@revoked patterns keytype base64 [comment]" */
static int add_revoked(struct cd_ssh_known_hosts *kh, const char *rest)
{
	char patterns[1024], type[64], b64[8192];
	if (sscanf(rest, "%1023s %63s %8191s", patterns, type, b64) != 3)
		return CD_EFAIL;
	kh->revoked = cd_xreallocarray(kh->revoked, kh->n_revoked + 1, sizeof(*kh->revoked));
	kh->revoked[kh->n_revoked].patterns = cd_xstrdup(patterns);
	kh->revoked[kh->n_revoked].key_b64 = cd_xstrdup(b64);
	kh->n_revoked++;
	return 0;
}

void cd_ssh_known_hosts_add_text(struct cd_ssh_known_hosts *kh, const char *text, size_t *ret_skipped)
{
	size_t skipped = 0;
	const char *p = text;
	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char *line = cd_xstrndup(p, len);
		if (len && line[len - 1] == '\r')
			line[--len] = '\0';
		const char *s = line;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s && *s != '#') {
			if (strncmp(s, "@revoked", 8) == 0 && (s[8] == ' ' || s[8] == '\t')) {
				if (add_revoked(kh, s + 9) < 0)
					skipped++;
			} else if (*s == '@') {
				skipped++; /* @cert-authority: host certificates are not supported */
			} else if (libssh2_knownhost_readline(kh->kh, s, strlen(s),
					   LIBSSH2_KNOWNHOST_FILE_OPENSSH) != 0) {
				skipped++;
			}
		}
		free(line);
		p = nl ? nl + 1 : NULL;
	}
	if (ret_skipped)
		*ret_skipped = skipped;
}

int cd_ssh_known_hosts_add_file(struct cd_ssh_known_hosts *kh, const char *path,
	struct cd_error *err)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : cd_error_set_errno(err, errno, "cannot read %s", path);
	struct cd_buf b = CD_BUF_INIT;
	char chunk[8192];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		cd_buf_add(&b, chunk, n);
	fclose(f);
	size_t skipped = 0;
	cd_ssh_known_hosts_add_text(kh, b.buf, &skipped);
	if (skipped)
		cd_log_debug("%s: %zu line(s) skipped (unreadable or @cert-authority)", path, skipped);
	cd_buf_release(&b);
	return 0;
}

static int revoked_match(struct cd_ssh_known_hosts *kh, const char *host, int port,
	const void *key, size_t key_len)
{
	if (!kh->n_revoked)
		return 0;
	struct cd_buf b64 = CD_BUF_INIT;
	base64_encode(&b64, key, key_len, 1);
	char *bracketed = cd_xasprintf("[%s]:%d", host, port);
	int hit = 0;
	for (size_t i = 0; i < kh->n_revoked && !hit; i++)
		hit = strcmp(kh->revoked[i].key_b64, b64.buf) == 0 &&
		      (cd_ssh_host_matches(kh->revoked[i].patterns, host) ||
			      cd_ssh_host_matches(kh->revoked[i].patterns, bracketed));
	free(bracketed);
	cd_buf_release(&b64);
	return hit;
}

enum cd_ssh_known_result cd_ssh_known_hosts_check(struct cd_ssh_known_hosts *kh, const char *host,
	int port, const void *key, size_t key_len, int key_type)
{
	if (revoked_match(kh, host, port, key, key_len))
		return CD_SSH_KNOWN_REVOKED;
	int mask = LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | key_bits(key_type);
	pthread_mutex_lock(&kh->lock);
	int found = libssh2_knownhost_checkp(kh->kh, host, port, key, key_len, mask, NULL);
	pthread_mutex_unlock(&kh->lock);
	switch (found) {
	case LIBSSH2_KNOWNHOST_CHECK_MATCH: return CD_SSH_KNOWN_MATCH;
	case LIBSSH2_KNOWNHOST_CHECK_MISMATCH: return CD_SSH_KNOWN_MISMATCH;
	default: return CD_SSH_KNOWN_NOTFOUND;
	}
}

void cd_ssh_known_hosts_algorithms(struct cd_ssh_known_hosts *kh, const char *host, int port,
	char *buf, size_t size)
{
	/*
	 * A key that cannot be recorded answers MISMATCH exactly when a line
	 * for this host holds a key of the asked type.
	 */
	static const char probe[] = "corpdeploy-probe";
	struct cd_buf algs = CD_BUF_INIT;
	for (size_t i = 0; i < CD_ARRAY_SIZE(key_types); i++) {
		int mask = LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW |
			   key_types[i].bits;
		pthread_mutex_lock(&kh->lock);
		int found = libssh2_knownhost_checkp(kh->kh, host, port, probe, sizeof(probe) - 1,
			mask, NULL);
		pthread_mutex_unlock(&kh->lock);
		if (found == LIBSSH2_KNOWNHOST_CHECK_MISMATCH)
			cd_buf_addf(&algs, "%s%s", algs.len ? "," : "", key_types[i].name);
	}
	snprintf(buf, size, "%s", algs.buf);
	cd_buf_release(&algs);
}

char *cd_ssh_known_hosts_line(const char *host, int port, const void *key, size_t key_len,
	int key_type, const unsigned char *salt)
{
	struct cd_buf b = CD_BUF_INIT;
	char *name = port != 22 ? cd_xasprintf("[%s]:%d", host, port) : cd_xstrdup(host);
	if (salt) {
		/* OpenSSH's HashKnownHosts form: |1|base64(salt)|base64(HMAC-SHA1(salt, name)) */
		unsigned char mac[20];
		cd_hmac_sha1(salt, 20, name, strlen(name), mac);
		cd_buf_adds(&b, "|1|");
		base64_encode(&b, salt, 20, 1);
		cd_buf_addch(&b, '|');
		base64_encode(&b, mac, sizeof(mac), 1);
	} else {
		cd_buf_adds(&b, name);
	}
	free(name);
	cd_buf_addf(&b, " %s ", cd_ssh_key_type_name(key_type));
	base64_encode(&b, key, key_len, 1);
	cd_buf_addch(&b, '\n');
	return cd_buf_detach(&b);
}
