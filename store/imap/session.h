/* An IMAP session: the state every part of store/imap shares, opening it
 * (connection, STARTTLS, authentication, capabilities, COMPRESS), closing
 * it, and the error vocabulary of libetpan's results. The bottom of
 * store/imap: it includes no other module of it but the transport's. */
#ifndef FERRY_IMAP_SESSION_H
#define FERRY_IMAP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libetpan/libetpan.h>

#include "store/imap/caps.h"
#include "store/store.h"

struct imap_queue;	/* queue.c */
struct imap_prefetched; /* prefetch.c */
struct imap_appends;	/* append.c */
struct imap_spelling;	/* namespace.c */

struct imap_store {
	struct store base;
	mailimap *imap;
	/* libetpan never marks a session dead: after STREAM, PARSE, FATAL or an
	 * unexpected tag we do, and never send on it again. */
	bool broken;
	char broken_why[128]; /* what broke it, for the errors of later calls */

	/* The commands whose answers are still unread, oldest first (queue.c;
	 * NULL until the first). */
	struct imap_queue *queue;

	/* The personal namespace, learnt once (NAMESPACE, else LIST "" ""). */
	bool ns_known;
	char *ns_prefix;   /* the server's spelling: "INBOX." on Courier, "" on Dovecot */
	char ns_delimiter; /* 0: the server has no hierarchy (NIL) */
	/* Other users' and shared namespace prefixes ("Users/", "#shared."),
	 * NULL-terminated or NULL: their folders are not this account's. */
	char **ns_foreign;
	/* How the last LIST spelled each of the account's folders (namespace.c),
	 * sorted by canonical name: commands name a listed folder exactly so.
	 * spell_known: listed in this session. */
	struct imap_spelling *spell;
	size_t nspell;
	bool spell_known;

	/* The selected folder (NULL: none), and what its SELECT said. uidnext
	 * and exists also count what ferry appended to it since. */
	char *selected;	     /* canonical name, for messages */
	char *selected_imap; /* the server's spelling */
	uint32_t uidvalidity, uidnext, exists;
	bool exists_known; /* SELECT said EXISTS (RFC 3501 requires it) */
	/* ENABLE QRESYNC is sent once, before the first SELECT (RFC 7162);
	 * qresync: the server enabled it, so CHANGEDSINCE brings VANISHED;
	 * enable_unread: ENABLE went out in a prefetch, its answer unread. */
	bool enable_sent, qresync, enable_unread;
	/* idle.c: NOTIFY SET (RFC 5465) was sent on this connection. */
	bool notify_sent;

	/* The add_commits since the last add_flush, some of them APPENDs still
	 * in flight (append.c; NULL until the first). */
	struct imap_appends *appends;
	/* Keywords the folder kw_dropped_folder took no more of this session
	 * (select.c): left off the messages ferry stored there. */
	char *kw_dropped, *kw_dropped_folder;

	/* What the prefetches since the last drop asked for (prefetch.c), and
	 * whether the selected folder was selected from it: the server then
	 * has another folder selected, and the first command that needs this
	 * one selects it. pf[0..pf_read) are answered. */
	struct imap_prefetched *pf;
	size_t npf, pf_cap, pf_read;
	bool sel_virtual;

	/* The largest RFC822.SIZE listed in this session: a body fetch may
	 * receive no more (with slack; guard.c), whichever folder it is in. */
	uint32_t size_max;
};

/* The driver's open: connects, secures, logs in, learns the capabilities
 * and turns COMPRESS on where wanted. The store's driver is the caller's to
 * set. */
int imap_session_open(const struct store_conf *conf, const char *secret, struct store **out,
		      struct ferry_error *err);
/* Sends LOGOUT (not awaiting it), drops the connection and frees st with
 * what this module keeps in it. The other modules free theirs first. */
void imap_session_close(struct imap_store *st);

/* ferry's own results beside libetpan's, for what libetpan reports alike
 * as MAILIMAP_ERROR_PROTOCOL: a tagged BAD to the command just sent, which
 * fails that command and leaves the session usable, and a tagged answer
 * under another tag, after which it is not (libetpan.md, point 7). */
enum {
	IMAP_ERROR_BAD = 1000,
	IMAP_ERROR_TAG = 1001,
};

/* r, with MAILIMAP_ERROR_PROTOCOL told apart into IMAP_ERROR_BAD or
 * IMAP_ERROR_TAG by the tagged line libetpan just parsed for the command
 * tagged imap->imap_tag. To be called before the next command is sent. */
int imap_result(struct imap_store *st, int r);

/* "connection lost", "unparseable response", ... for a libetpan error code. */
const char *imap_error_text(int r);

/* The cause a libetpan result stands for: a broken stream is the network,
 * a NO or BAD to one command is a refusal. */
enum ferry_cause imap_cause(int r);

/* Whether r leaves the session unusable (see libetpan.md, error handling). */
bool imap_error_is_fatal(int r);

/* The server's last response text, control characters removed, in buf. */
const char *imap_response_text(mailimap *imap, char *buf, size_t len);

/* Whether a response is already waiting in ferry's buffers (libetpan's,
 * inflate's, TLS's) that poll() on the socket would not see: IDLE must
 * look here before it waits. */
bool imap_data_pending(struct imap_store *st);

/* The guard (guard.c) on top of the session's stream: whether it holds
 * bytes not passed on yet, and why it cut the stream ("" if it did not). */
bool imap_guard_pending(struct imap_store *st);
const char *imap_guard_error(struct imap_store *st);
/* Tell the guard what the next answers may hold, around a command whose
 * answer may legitimately exceed its defaults: FETCH body sections of up to
 * max bytes, up to max untagged responses (0: the defaults again). */
void imap_expect_sections(struct imap_store *st, uint64_t max);
void imap_expect_untagged(struct imap_store *st, size_t max);

/* Sets err to "<context>: <what r means>[: <server text>]" and, when r leaves
 * the session unusable, marks it broken. Returns -1. */
int imap_fail(struct imap_store *st, int r, struct ferry_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* What a call on a broken session says: the session is to be reconnected.
 * Returns -1. */
int imap_session_gone(const struct imap_store *st, struct ferry_error *err);
/* Forgets the selected folder. */
void imap_unselect(struct imap_store *st);
/* Copies s into buf with control and 8-bit bytes shown as \xNN, for messages
 * about names the server sent. Returns buf. */
const char *imap_sanitize(const char *s, char *buf, size_t len);

#endif
