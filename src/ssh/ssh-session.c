/*
 * ssh-session: one connection to one host. TCP connect with a deadline and
 * keepalives, the handshake offering only the host-key algorithms
 * known_hosts holds for the host, a strict host-key check before any
 * credential is sent, then authentication with a key file (passphrase from
 * a secret), the agent or the default ed25519/ECDSA keys. RSA keys are
 * refused with the reason: libssh2 1.10 signs only with SHA-1 ("ssh-rsa"),
 * which OpenSSH 8.8 and later reject.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "corpdeploy/log.h"
#include "corpdeploy/plan.h"
#include "ssh-internal.h"

static const char *known_hosts_extra;
static int accept_new;

void cd_ssh_set_known_hosts(const char *path)
{
	known_hosts_extra = path;
}

void cd_ssh_set_accept_new(int on)
{
	accept_new = on;
}

int ssh_accept_new(void)
{
	return accept_new;
}

static const char *home_dir(void)
{
	const char *h = getenv("HOME");
	return h && *h ? h : "/root";
}

char *ssh_trust_file(void)
{
	if (known_hosts_extra)
		return cd_xstrdup(known_hosts_extra);
	return cd_xasprintf("%s/.ssh/known_hosts", home_dir());
}

struct cd_ssh_known_hosts *ssh_load_known_hosts(struct cd_error *err)
{
	struct cd_ssh_known_hosts *kh = cd_ssh_known_hosts_new();
	char *user_file = cd_xasprintf("%s/.ssh/known_hosts", home_dir());
	int r = cd_ssh_known_hosts_add_file(kh, user_file, err);
	if (r == 0 && known_hosts_extra)
		r = cd_ssh_known_hosts_add_file(kh, known_hosts_extra, err);
	free(user_file);
	if (r < 0) {
		cd_ssh_known_hosts_free(kh);
		return NULL;
	}
	return kh;
}

const char *ssh_last_error(struct cd_ssh_session *s)
{
	char *msg = NULL;
	libssh2_session_last_error(s->session, &msg, NULL, 0);
	return msg && *msg ? msg : "connection failed";
}

void ssh_wait_socket(struct cd_ssh_session *s, int64_t deadline_ms)
{
	struct pollfd p = { .fd = s->fd };
	int dir = libssh2_session_block_directions(s->session);
	if (dir & LIBSSH2_SESSION_BLOCK_INBOUND)
		p.events |= POLLIN;
	if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND)
		p.events |= POLLOUT;
	if (!p.events)
		p.events = POLLIN;
	int64_t left = deadline_ms - cd_time_mono_ms();
	if (left > 1000)
		left = 1000;
	if (left < 0)
		left = 0;
	poll(&p, 1, (int)left);
}

/* ---- destinations ---- */

/* ~/.ssh/config, read once per process: a fan-out resolves every host with it. */
static pthread_once_t config_once = PTHREAD_ONCE_INIT;
static struct cd_buf config_text = CD_BUF_INIT;

static void config_load(void)
{
	char *config_path = cd_xasprintf("%s/.ssh/config", home_dir());
	FILE *f = fopen(config_path, "re");
	if (f) {
		char chunk[4096];
		size_t n;
		while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
			cd_buf_add(&config_text, chunk, n);
		fclose(f);
	}
	free(config_path);
}

int cd_ssh_dest_from_target(const struct cd_target *t, const char *passphrase,
	struct cd_ssh_dest *ret, struct cd_error *err)
{
	memset(ret, 0, sizeof(*ret));
	if (t->kind != CD_TARGET_SSH)
		return cd_error_set(err, CD_EUSAGE, "target '%s' is not an SSH host", t->name);
	struct cd_ssh_config cfg;
	pthread_once(&config_once, config_load);
	cd_ssh_config_lookup(config_text.buf, t->host, home_dir(), &cfg);

	ret->name = cd_xstrdup(t->name);
	ret->host = cd_xstrdup(t->host);
	ret->address = cd_xstrdup(cfg.hostname ? cfg.hostname : t->host);
	/* The plan's port is 22 unless it said otherwise; ssh_config fills in only then. */
	int plan_port_given = t->port != 22 || strchr(t->ssh, ':') != NULL;
	ret->port = plan_port_given || !cfg.port ? (int)t->port : cfg.port;
	const char *user = t->user ? t->user : cfg.user ? cfg.user : getenv("USER");
	ret->user = cd_xstrdup(user && *user ? user : "root");
	if (t->identity) {
		if (t->identity[0] == '~' && t->identity[1] == '/')
			ret->identity = cd_xasprintf("%s/%s", home_dir(), t->identity + 2);
		else
			ret->identity = cd_xstrdup(t->identity);
	} else if (cfg.identity_file) {
		ret->identity = cd_xstrdup(cfg.identity_file);
	}
	ret->passphrase = passphrase ? cd_xstrdup(passphrase) : NULL;
	ret->host_key = t->host_key ? cd_xstrdup(t->host_key) : NULL;
	ret->connect_timeout_ms = t->connect_timeout_ms > 0 ? t->connect_timeout_ms : 10000;
	cd_ssh_config_release(&cfg);
	return 0;
}

void cd_ssh_dest_release(struct cd_ssh_dest *d)
{
	free(d->name);
	free(d->host);
	free(d->address);
	free(d->user);
	free(d->identity);
	if (d->passphrase) {
		memset(d->passphrase, 0, strlen(d->passphrase));
		free(d->passphrase);
	}
	free(d->host_key);
	memset(d, 0, sizeof(*d));
}

/* ---- TCP ---- */

static int tcp_connect(const struct cd_ssh_dest *d, int64_t deadline, struct cd_error *err)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res, *ai;
	char port[16];
	snprintf(port, sizeof(port), "%d", d->port);
	int gai = getaddrinfo(d->address, port, &hints, &res);
	if (gai)
		return cd_error_set(err, CD_EREMOTE, "host '%s': cannot resolve %s: %s", d->name,
			d->address, gai_strerror(gai));
	int fd = -1, last_errno = 0;
	for (ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
		if (fd < 0) {
			last_errno = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
			last_errno = errno;
			close(fd);
			fd = -1;
			continue;
		}
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int64_t left = deadline - cd_time_mono_ms();
		if (left < 0)
			left = 0;
		int so_error = 0;
		socklen_t sl = sizeof(so_error);
		if (poll(&p, 1, (int)left) <= 0) {
			last_errno = ETIMEDOUT;
		} else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &sl) < 0 || so_error) {
			last_errno = so_error ? so_error : errno;
		} else {
			break;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return cd_error_set(err, CD_EREMOTE, "host '%s': cannot connect to %s port %d: %s",
			d->name, d->address, d->port, strerror(last_errno));
	/* Blocking again for libssh2; dead peers are noticed by TCP keepalive and the user timeout. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	int one = 1, idle = 30, intvl = 10, cnt = 3;
	unsigned user_timeout = 60000;
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* ---- host keys ---- */

/* 1 when the file already holds hashed host names (HashKnownHosts): new lines are hashed too. */
static int file_is_hashed(int fd)
{
	FILE *f = fdopen(dup(fd), "r");
	if (!f)
		return 0;
	char line[256];
	int hashed = 0;
	while (!hashed && fgets(line, sizeof(line), f))
		hashed = strncmp(line, "|1|", 3) == 0;
	fclose(f);
	return hashed;
}

static int record_key(const struct cd_ssh_dest *d, const char *key, size_t len, int type,
	struct cd_error *err)
{
	char *path = ssh_trust_file();
	char *line = NULL;
	int r = 0;
	char *slash = strrchr(path, '/');
	if (slash && slash != path) {
		*slash = '\0';
		mkdir(path, 0700); /* ~/.ssh may not exist yet */
		*slash = '/';
	}
	int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = cd_error_set_errno(err, errno, "cannot record the host key of '%s' in %s", d->name, path);
	} else {
		/* Several hosts may be trusted at once: one whole line per write, under the lock. */
		flock(fd, LOCK_EX);
		unsigned char salt[20];
		int hashed = file_is_hashed(fd) && getrandom(salt, sizeof(salt), 0) == sizeof(salt);
		line = cd_ssh_known_hosts_line(d->host, d->port, key, len, type, hashed ? salt : NULL);
		size_t n = strlen(line);
		if (write(fd, line, n) != (ssize_t)n)
			r = cd_error_set_errno(err, errno, "cannot record the host key of '%s' in %s",
				d->name, path);
		flock(fd, LOCK_UN);
		close(fd);
	}
	free(line);
	free(path);
	return r;
}

/*
 * Checks the key the host presented. mode_trust: record an unknown key
 * (trust command); otherwise record it only with --accept-new.
 */
static int verify_host_key(struct cd_ssh_session *s, const struct cd_ssh_dest *d,
	struct cd_ssh_known_hosts *kh, int mode_trust, int *ret_added, struct cd_error *err)
{
	size_t len;
	int type;
	const char *key = libssh2_session_hostkey(s->session, &len, &type);
	if (!key)
		return cd_error_set(err, CD_EREMOTE, "host %s: no host key received", s->name);
	cd_ssh_fingerprint(key, len, s->fingerprint, sizeof(s->fingerprint));
	const char *tname = cd_ssh_key_type_name(type);
	if (d->host_key) {
		if (strcmp(d->host_key, s->fingerprint) == 0)
			return 0;
		cd_error_set(err, CD_EFAIL,
			"host %s: REMOTE HOST KEY CHANGED: it presents %s %s, the plan pins %s; "
			"refusing to connect",
			s->name, tname, s->fingerprint, d->host_key);
		err->sys = CD_SSH_EHOSTKEY;
		return CD_EFAIL;
	}
	switch (cd_ssh_known_hosts_check(kh, d->host, d->port, key, len, type)) {
	case CD_SSH_KNOWN_MATCH:
		return 0;
	case CD_SSH_KNOWN_REVOKED:
		cd_error_set(err, CD_EFAIL, "host %s: its %s key %s is marked @revoked in known_hosts; "
					  "refusing to connect", s->name, tname, s->fingerprint);
		break;
	case CD_SSH_KNOWN_MISMATCH:
		cd_error_set(err, CD_EFAIL,
			"host %s: REMOTE HOST KEY CHANGED: it presents %s %s, which is not the key "
			"known_hosts records for it. Someone may be intercepting the connection, or the "
			"host was reinstalled; check, then remove the old line from known_hosts",
			s->name, tname, s->fingerprint);
		break;
	case CD_SSH_KNOWN_NOTFOUND:
		if (mode_trust || accept_new) {
			int r = record_key(d, key, len, type, err);
			if (r == 0 && ret_added)
				*ret_added = 1;
			if (r == 0 && !mode_trust)
				cd_log_warn("host %s: recorded new %s key %s (--accept-new)", s->name, tname,
					s->fingerprint);
			return r;
		}
		cd_error_set(err, CD_EFAIL,
			"host %s: unknown host key %s %s; nothing was sent to it. If that is its key, "
			"record it with `corpdeploy trust PLAN %s` (or run up with --accept-new)",
			s->name, tname, s->fingerprint, d->name);
		break;
	}
	err->sys = CD_SSH_EHOSTKEY;
	return CD_EFAIL;
}

/* ---- authentication ---- */

static int b64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/*
 * 1 when the private key file holds an RSA key: an old PEM RSA file, a .pub
 * beside it, or the public part of an openssh-key-v1 file (readable even
 * when the private part is encrypted).
 */
static int key_file_is_rsa(const char *path)
{
	char *pub = cd_xasprintf("%s.pub", path);
	char head[32] = "";
	FILE *f = fopen(pub, "re");
	free(pub);
	if (f) {
		int rsa = fgets(head, sizeof(head), f) && strncmp(head, "ssh-rsa ", 8) == 0;
		fclose(f);
		if (rsa)
			return 1;
	}
	f = fopen(path, "re");
	if (!f)
		return 0;
	struct cd_buf b64 = CD_BUF_INIT;
	char line[512];
	int rsa = 0, in_body = 0;
	while (fgets(line, sizeof(line), f) && b64.len < 2048) {
		if (strstr(line, "BEGIN RSA PRIVATE KEY")) {
			rsa = 1;
			break;
		}
		if (strstr(line, "BEGIN OPENSSH PRIVATE KEY")) {
			in_body = 1;
			continue;
		}
		if (in_body && strstr(line, "END "))
			break;
		if (in_body)
			for (char *c = line; *c; c++)
				if (b64_value((unsigned char)*c) >= 0)
					cd_buf_addch(&b64, *c);
	}
	fclose(f);
	if (!rsa && b64.len) {
		/* "openssh-key-v1\0", string cipher, string kdf, string kdfopts, u32 n, string pubkey{string type}. */
		size_t n = 0;
		unsigned char *bin = cd_xmalloc(b64.len);
		unsigned acc = 0;
		int bits = 0;
		for (size_t i = 0; i < b64.len; i++) {
			acc = acc << 6 | (unsigned)b64_value((unsigned char)b64.buf[i]);
			bits += 6;
			if (bits >= 8) {
				bits -= 8;
				bin[n++] = (unsigned char)(acc >> bits);
			}
		}
		size_t off = 15;
		for (int field = 0; field < 3 && off + 4 <= n; field++) {
			size_t l = (size_t)bin[off] << 24 | (size_t)bin[off + 1] << 16 |
				   (size_t)bin[off + 2] << 8 | bin[off + 3];
			off += 4 + l;
		}
		off += 4 + 4 + 4; /* nkeys, the public key's length, its type's length */
		if (off + 7 <= n && memcmp(bin, "openssh-key-v1", 14) == 0)
			rsa = memcmp(bin + off, "ssh-rsa", 7) == 0;
		free(bin);
	}
	cd_buf_release(&b64);
	return rsa;
}

static const char rsa_reason[] =
	"RSA keys cannot be used: this build of libssh2 (1.10) signs with SHA-1 (ssh-rsa), "
	"which OpenSSH 8.8 and later refuse. Use an ed25519 or ECDSA key "
	"(ssh-keygen -t ed25519) and add it to the host's authorized_keys";

static int auth_key_file(struct cd_ssh_session *s, const struct cd_ssh_dest *d, const char *path,
	struct cd_buf *tried, struct cd_error *err)
{
	if (key_file_is_rsa(path))
		return cd_error_set(err, CD_EFAIL, "host %s: key %s: %s", s->name, path, rsa_reason);
	int rc = libssh2_userauth_publickey_fromfile_ex(s->session, d->user,
		(unsigned)strlen(d->user), NULL, path, d->passphrase ? d->passphrase : "");
	if (rc == 0)
		return 0;
	if (rc == LIBSSH2_ERROR_FILE)
		return cd_error_set(err, CD_EFAIL,
			"host %s: cannot use key %s: %s (a wrong passphrase, or no passphrase_secret "
			"for an encrypted key)",
			s->name, path, access(path, R_OK) == 0 ? "unreadable key" : "no such file");
	cd_buf_addf(tried, "%skey %s", tried->len ? ", " : "", path);
	return 1;
}

static int auth_agent(struct cd_ssh_session *s, const struct cd_ssh_dest *d, struct cd_buf *tried,
	int *ret_rsa_skipped)
{
	const char *sock = getenv("SSH_AUTH_SOCK");
	if (!sock || !*sock)
		return 1;
	LIBSSH2_AGENT *agent = libssh2_agent_init(s->session);
	if (!agent)
		return 1;
	int ok = 1;
	if (libssh2_agent_connect(agent) == 0 && libssh2_agent_list_identities(agent) == 0) {
		struct libssh2_agent_publickey *id = NULL, *prev = NULL;
		int n = 0;
		while (libssh2_agent_get_identity(agent, &id, prev) == 0) {
			prev = id;
			/* The blob starts with the key type as an SSH string. */
			if (id->blob_len >= 11 && memcmp(id->blob + 4, "ssh-rsa", 7) == 0) {
				(*ret_rsa_skipped)++;
				continue;
			}
			n++;
			if (libssh2_agent_userauth(agent, d->user, id) == 0) {
				ok = 0;
				break;
			}
		}
		cd_buf_addf(tried, "%s%d agent key(s)", tried->len ? ", " : "", n);
		libssh2_agent_disconnect(agent);
	}
	libssh2_agent_free(agent);
	return ok;
}

static int authenticate(struct cd_ssh_session *s, const struct cd_ssh_dest *d, struct cd_error *err)
{
	char *methods = libssh2_userauth_list(s->session, d->user, (unsigned)strlen(d->user));
	if (!methods) {
		if (libssh2_userauth_authenticated(s->session))
			return 0;
		return cd_error_set(err, CD_EREMOTE, "host %s: %s", s->name, ssh_last_error(s));
	}
	if (!strstr(methods, "publickey"))
		return cd_error_set(err, CD_EFAIL,
			"host %s: the server does not accept public keys for %s (it offers: %s)", s->name,
			d->user, methods);
	struct cd_buf tried = CD_BUF_INIT;
	int r, rsa_skipped = 0;
	if (d->identity) {
		r = auth_key_file(s, d, d->identity, &tried, err);
	} else {
		r = auth_agent(s, d, &tried, &rsa_skipped);
		static const char *const defaults[] = { "id_ed25519", "id_ecdsa" };
		for (size_t i = 0; r > 0 && i < CD_ARRAY_SIZE(defaults); i++) {
			char *path = cd_xasprintf("%s/.ssh/%s", home_dir(), defaults[i]);
			if (access(path, R_OK) == 0)
				r = auth_key_file(s, d, path, &tried, err);
			free(path);
		}
		if (r > 0 && !tried.len) {
			char *rsa = cd_xasprintf("%s/.ssh/id_rsa", home_dir());
			if (access(rsa, R_OK) == 0)
				rsa_skipped++;
			free(rsa);
		}
	}
	if (r > 0)
		r = cd_error_set(err, CD_EFAIL, "host %s: %s@%s refused %s%s%s", s->name, d->user,
			d->host, tried.len ? tried.buf : "every key (none found: give identity, or start "
							 "ssh-agent)",
			rsa_skipped ? "; RSA keys were skipped: " : "", rsa_skipped ? rsa_reason : "");
	cd_buf_release(&tried);
	return r;
}

/* ---- sessions ---- */

static int session_open(const struct cd_ssh_dest *d, struct cd_ssh_known_hosts *kh,
	struct cd_ssh_session **ret, struct cd_error *err)
{
	int64_t deadline = cd_time_mono_ms() + d->connect_timeout_ms;
	int fd = tcp_connect(d, deadline, err);
	if (fd < 0)
		return fd;
	struct cd_ssh_session *s = cd_xcalloc(1, sizeof(*s));
	s->fd = fd;
	s->timeout_ms = d->connect_timeout_ms;
	if (d->port == 22)
		s->name = cd_xasprintf("'%s' (%s@%s)", d->name, d->user, d->address);
	else
		s->name = cd_xasprintf("'%s' (%s@%s:%d)", d->name, d->user, d->address, d->port);
	s->session = libssh2_session_init();
	if (!s->session)
		cd_oom();
	libssh2_session_set_blocking(s->session, 1);
	libssh2_session_set_timeout(s->session, (long)d->connect_timeout_ms);
	/*
	 * Offer only the key types known_hosts holds for this host, best first;
	 * an unknown host gets ed25519 first, as OpenSSH records it.
	 */
	char algs[256] = "";
	if (!d->host_key)
		cd_ssh_known_hosts_algorithms(kh, d->host, d->port, algs, sizeof(algs));
	int known_algs = algs[0] != '\0';
	if (!known_algs)
		snprintf(algs, sizeof(algs), "%s",
			"ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,ssh-rsa");
	libssh2_session_method_pref(s->session, LIBSSH2_METHOD_HOSTKEY, algs);
	int rc = libssh2_session_handshake(s->session, fd);
	if (rc) {
		if (known_algs && (rc == LIBSSH2_ERROR_KEX_FAILURE || rc == LIBSSH2_ERROR_METHOD_NONE)) {
			cd_error_set(err, CD_EFAIL,
				"host %s: REMOTE HOST KEY CHANGED: known_hosts holds only %s for it and "
				"the host offers none of them; refusing to connect",
				s->name, algs);
			err->sys = CD_SSH_EHOSTKEY;
		} else {
			cd_error_set(err, CD_EREMOTE, "host %s: SSH handshake failed: %s", s->name,
				ssh_last_error(s));
		}
		cd_ssh_close(s);
		return CD_EFAIL;
	}
	libssh2_keepalive_config(s->session, 1, 15);
	*ret = s;
	return 0;
}

int ssh_connect_known(const struct cd_ssh_dest *d, struct cd_ssh_known_hosts *kh,
	struct cd_ssh_session **ret, struct cd_error *err)
{
	struct cd_ssh_session *s = NULL;
	int r = session_open(d, kh, &s, err);
	if (r == 0 && (r = verify_host_key(s, d, kh, 0, NULL, err)) == 0)
		r = authenticate(s, d, err);
	if (r < 0) {
		cd_ssh_close(s);
		return r;
	}
	libssh2_session_set_timeout(s->session, 0);
	*ret = s;
	return 0;
}

int cd_ssh_connect(const struct cd_ssh_dest *d, struct cd_ssh_session **ret, struct cd_error *err)
{
	struct cd_ssh_known_hosts *kh = ssh_load_known_hosts(err);
	if (!kh)
		return CD_EIO;
	int r = ssh_connect_known(d, kh, ret, err);
	cd_ssh_known_hosts_free(kh);
	return r;
}

int cd_ssh_trust(const struct cd_ssh_dest *d, char **ret_fp, int *ret_added, struct cd_error *err)
{
	struct cd_ssh_known_hosts *kh = ssh_load_known_hosts(err);
	if (!kh)
		return CD_EIO;
	struct cd_ssh_session *s = NULL;
	*ret_added = 0;
	int r = session_open(d, kh, &s, err);
	if (r == 0 && (r = verify_host_key(s, d, kh, 1, ret_added, err)) == 0)
		*ret_fp = cd_xstrdup(s->fingerprint);
	cd_ssh_known_hosts_free(kh);
	cd_ssh_close(s);
	return r;
}

void cd_ssh_close(struct cd_ssh_session *s)
{
	if (!s)
		return;
	if (s->session) {
		libssh2_session_set_blocking(s->session, 1);
		libssh2_session_set_timeout(s->session, 2000);
		ssh_sftp_free(s);
		libssh2_session_disconnect(s->session, "corpdeploy done");
		libssh2_session_free(s->session);
	}
	if (s->fd >= 0)
		close(s->fd);
	free(s->name);
	free(s);
}

const char *cd_ssh_session_fingerprint(const struct cd_ssh_session *s)
{
	return s->fingerprint;
}

const char *cd_ssh_session_name(const struct cd_ssh_session *s)
{
	return s->name;
}
