/* ssh-internal: what the files of src/ssh share about a session. */
#ifndef CORPDEPLOY_SSH_INTERNAL_H
#define CORPDEPLOY_SSH_INTERNAL_H

#include <libssh2.h>

#include "corpdeploy/ssh.h"

struct cd_ssh_session {
	int fd;
	LIBSSH2_SESSION *session;
	struct ssh_sftp *sftp; /* the SFTP channel, opened on first use (ssh-sftp.c) */
	char *name;	    /* "db1 (deploy@127.0.0.1:2201)", for messages */
	char fingerprint[64];
	int64_t timeout_ms; /* of blocking calls: the connect timeout */
};

/* The libssh2 error text of the session's last error, for messages. */
const char *ssh_last_error(struct cd_ssh_session *s);
/* Waits until the session's socket is ready in the direction libssh2 blocked on, or deadline (monotonic ms). */
void ssh_wait_socket(struct cd_ssh_session *s, int64_t deadline_ms);
/* The known_hosts file new keys are recorded in: --known-hosts, else ~/.ssh/known_hosts. malloc'd. */
char *ssh_trust_file(void);
/* Loads ~/.ssh/known_hosts and --known-hosts. */
struct cd_ssh_known_hosts *ssh_load_known_hosts(struct cd_error *err);
int ssh_accept_new(void);
/* cd_ssh_connect() with known_hosts already loaded (a run loads it once for all its hosts). */
int ssh_connect_known(const struct cd_ssh_dest *d, struct cd_ssh_known_hosts *kh,
	struct cd_ssh_session **ret, struct cd_error *err);
/* Closes the session's SFTP channel, if open. */
void ssh_sftp_free(struct cd_ssh_session *s);

#endif
