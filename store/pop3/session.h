/* A POP3 session (RFC 1939, 2449, 2595, 5034): the connection over the
 * shared transport (store/net/tls.c), bounded line reads, commands and
 * their answers, and the way in: greeting, CAPA, STLS, USER/PASS, APOP or
 * AUTH PLAIN; QUIT on the way out.
 *
 * libetpan's mailpop3 is not used: it reads every line with
 * mailstream_read_line, which grows without bound (an endless line grows
 * ferry until it dies), holds a whole RETR or TOP answer in memory and
 * reads it until "." with no cap, does APOP with its own MD5, and has no
 * STLS over a transport it does not own. The commands are one line each,
 * so ferry speaks them itself over the transport. */
#ifndef FERRY_POP3_SESSION_H
#define FERRY_POP3_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libetpan/libetpan.h>

#include "store/base/db.h"
#include "store/store.h"

/* An answer line, a UIDL, LIST or CAPA line: RFC 1939 allows 512 bytes for a
 * status line, 2449 as much for a CAPA line; a UIDL is 70 characters at
 * most. Anything longer is a server that is not speaking POP3. */
#define POP3_LINE_MAX 4096
/* What the transport is read in. Message lines are streamed in pieces of
 * at most this, never held whole: a body's memory is this buffer. */
#define POP3_READ_BUF 65536
/* What a RETR may send beyond the size LIST gave (a server's LIST may
 * count line endings its own way) before it is cut off as endless. */
#define POP3_RETR_SLACK(size) ((size) / 8 + 65536)

/* CAPA's words ferry uses. */
enum pop3_cap {
	POP3_CAP_KNOWN = 1u << 0, /* CAPA answered: the others mean something */
	POP3_CAP_UIDL = 1u << 1,
	POP3_CAP_TOP = 1u << 2,
	POP3_CAP_STLS = 1u << 3,
	POP3_CAP_USER = 1u << 4,
	POP3_CAP_SASL_PLAIN = 1u << 5,
};

/* One message of the maildrop. */
struct pop3_msg {
	uint64_t size;	  /* LIST's */
	uint64_t id_size; /* the identity's size, once id is known */
	uint32_t num;	  /* its number in this session */
	uint32_t uid;	  /* from the map */
	bool deleted;	  /* DELE sent in this session */
	char *key;	  /* UIDL, or "id:<hash>:<n>" without UIDL */
	struct msg_id id;
};

struct pop3_store {
	struct store base;
	mailstream_low *low; /* the transport; NULL once closed */
	char *rbuf;	     /* POP3_READ_BUF bytes */
	size_t rpos, rlen;
	bool mid_line;		      /* the last data piece did not end its line */
	char line[POP3_LINE_MAX + 1]; /* the last answer line, NUL-terminated */
	size_t linelen;
	char stamp[POP3_LINE_MAX + 1]; /* the greeting's APOP timestamp, or "" */
	const char *where;	       /* host, or "tunnel", for messages */

	/* After select: the maildrop as this session sees it. */
	bool selected;
	bool no_uidl;	       /* the server refused UIDL: keys are identities */
	struct pop3_msg *msgs; /* by number */
	size_t nmsgs;
	size_t *by_uid; /* indexes into msgs, by uid */
	struct folder_state state;
	struct db *map;
};

/* The message with uid, or NULL. */
struct pop3_msg *pop3_find(struct pop3_store *st, uint32_t uid);

/* Connects, reads the greeting, asks CAPA, STLS when configured, logs in
 * with secret; *out to pop3_session_close. */
int pop3_session_open(const struct store_conf *conf, const char *secret, struct pop3_store **out,
		      struct ferry_error *err);
/* QUIT (when the session is healthy: DELE takes effect there), then closes
 * and frees. */
void pop3_session_close(struct pop3_store *st);

/* Sends one command line (CRLF added). private: the -v trace shows it as
 * redacted (a password). */
int pop3_send(struct pop3_store *st, bool private, struct ferry_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Reads a status line into st->line: 0 for +OK (st->line then holds the
 * text after it), 1 for -ERR (the text in st->line too), -1 with err for a
 * lost connection or a line that is neither (PROTOCOL). cmd names the
 * command in messages. */
int pop3_status(struct pop3_store *st, const char *cmd, struct ferry_error *err);
/* The next line of a multi-line answer, dot-unstuffed, into st->line;
 * 1 for a line, 0 at the final ".", -1 with err (a line longer than
 * POP3_LINE_MAX is PROTOCOL). */
int pop3_data_line(struct pop3_store *st, const char *cmd, struct ferry_error *err);
/* The next piece of a multi-line answer whose lines may be long (a
 * message): *buf, *len (line ending not included), *eol when the piece
 * ends its line, *bol when it begins one (dot-unstuffed already). 1 for a
 * piece, 0 at the final ".", -1 with err. */
int pop3_data_piece(struct pop3_store *st, const char **buf, size_t *len, bool *bol, bool *eol,
		    struct ferry_error *err);

/* err for -ERR to cmd with the server's words (st->line) made safe to
 * show; returns -1. */
int pop3_refused(struct pop3_store *st, enum ferry_cause cause, const char *cmd,
		 struct ferry_error *err);
/* Marks the session broken after an error on the wire: no QUIT at close,
 * and (hostile) no new connection this run when the server's own answers
 * were at fault. */
void pop3_broken(struct pop3_store *st, bool hostile);

#endif
