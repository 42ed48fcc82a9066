/* An IMAP session: connection, STARTTLS, authentication, capabilities, and
 * the -v protocol trace. Internal to store/imap. */
#ifndef FERRY_IMAP_SESSION_H
#define FERRY_IMAP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libetpan/libetpan.h>

#include "store/imap/caps.h"
#include "store/store.h"

struct imap_store {
	struct store base;
	mailimap *imap;
	/* libetpan never marks a session dead: after STREAM, PARSE, FATAL or an
	 * unexpected tag we do, and never send on it again. */
	bool broken;
	char broken_why[128]; /* what broke it, for the errors of later calls */

	/* The personal namespace, learnt once (NAMESPACE, else LIST "" ""). */
	bool ns_known;
	char *ns_prefix;   /* the server's spelling: "INBOX." on Courier, "" on Dovecot */
	char ns_delimiter; /* 0: the server has no hierarchy (NIL) */
	/* Other users' and shared namespace prefixes ("Users/", "#shared."),
	 * NULL-terminated or NULL: their folders are not this account's. */
	char **ns_foreign;

	/* The selected folder (NULL: none), and what its SELECT said. uidnext
	 * and exists also count what ferry appended to it since. */
	char *selected;	     /* canonical name, for messages */
	char *selected_imap; /* the server's spelling */
	uint32_t uidvalidity, uidnext, exists;
	bool exists_known; /* SELECT said EXISTS (RFC 3501 requires it) */
	/* ENABLE QRESYNC is sent once, before the first SELECT (RFC 7162);
	 * qresync: the server enabled it, so CHANGEDSINCE brings VANISHED. */
	bool enable_sent, qresync;

	/* The add_commits since the last add_flush, some of them APPENDs still
	 * in flight (messages.c; NULL until the first). */
	struct imap_appends *appends;

	/* What the prefetches since the last drop asked for (prefetch.c), and
	 * whether the selected folder was selected from it: the server then
	 * has another folder selected, and the first command that needs this
	 * one selects it. Answers are read lazily, in order: pf[0..pf_read)
	 * are read; enable_tag >= 0 while ENABLE's answer is unread. */
	struct imap_prefetched *pf;
	size_t npf, pf_read;
	int enable_tag;
	bool sel_virtual;
};

extern const struct store_driver imap_driver;

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

/* Shared by folders.c and messages.c. */

/* -1 with a clear error if an earlier error left the session unusable. */
int imap_usable(struct imap_store *st, struct ferry_error *err);
/* -1 unless a folder is selected (and the session usable). */
int imap_need_selected(struct imap_store *st, const char *what, struct ferry_error *err);
/* Sets err to "<context>: <what r means>[: <server text>]" and, when r leaves
 * the session unusable, marks it broken. Returns -1. */
int imap_fail(struct imap_store *st, int r, struct ferry_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Forgets the selected folder. */
void imap_unselect(struct imap_store *st);
/* Selects the folder a prefetch selected only on paper, and checks that
 * its UIDVALIDITY still stands. */
int imap_select_for_real(struct imap_store *st, struct ferry_error *err);
/* The server's spelling of a canonical name, in *out (caller frees). */
int imap_server_name(struct imap_store *st, const char *name, const char *what, char **out,
		     struct ferry_error *err);
/* imap_server_name in two steps: the session usable and its namespace
 * known (which may send a command), then the mapping alone (sends none). */
int imap_namespace_ready(struct imap_store *st, struct ferry_error *err);
int imap_map_name(struct imap_store *st, const char *name, const char *what, char **out,
		  struct ferry_error *err);
/* "name" with \ and " escaped, as libetpan itself sends mailbox names;
 * NULL for a name that cannot go out as a quoted string (or no memory). */
char *imap_quoted(const char *name);
/* \* in PERMANENTFLAGS of a SELECT's answer. */
bool imap_keywords_storable(const struct mailimap_selection_info *info);

/* Pipelining (libetpan.md, section 6). imap_send_line writes one command
 * line (with its CRLF) under the next tag, not flushed, and returns the tag
 * number or -1. imap_parse_answer parses the answer to the command tagged
 * tag; *ok tells OK from NO, a BAD is MAILIMAP_ERROR_PROTOCOL. The caller
 * reads what it needs from imap_response_info before the next parse. */
int imap_send_line(struct imap_store *st, const char *line);
int imap_parse_answer(struct imap_store *st, int tag, bool *ok);

/* prefetch.c: the prefetch op, and its answers taken by select and
 * list_changed (0: taken from the prefetch, 1: not prefetched). */
int imap_prefetch(struct store *store, const char *const *names, const uint64_t *since, size_t n,
		  struct ferry_error *err);
int imap_prefetched_select(struct imap_store *st, const char *name, struct folder_state *out,
			   struct ferry_error *err);
int imap_prefetched_changes(struct imap_store *st, uint64_t since, struct msg_list *changed,
			    uint32_t **vanished, size_t *nranges);
void imap_prefetch_clear(struct imap_store *st);
/* Reads every prefetched answer not read yet, so that the next command's
 * answer is its own. -1 (err set) when the session broke. */
int imap_prefetch_settle(struct imap_store *st, struct ferry_error *err);
/* messages.c: reads the answer to a pipelined UID FETCH ... (CHANGEDSINCE
 * m VANISHED) tagged tag, for folder (canonical name, for messages) whose
 * SELECT gave uidnext: the changed messages below uidnext into changed,
 * the VANISHED ranges into *vanished. Returns 0, 1 when the server refused
 * the command, -1 with err set (the session broken where it is). */
int imap_read_changes(struct imap_store *st, int tag, uint32_t uidnext, const char *folder,
		      struct msg_list *changed, uint32_t **vanished, size_t *nranges,
		      struct ferry_error *err);
/* Copies s into buf with control and 8-bit bytes shown as \xNN, for messages
 * about names the server sent. Returns buf. */
const char *imap_sanitize(const char *s, char *buf, size_t len);

/* The store operations (folders.c, messages.c). */
int imap_list_folders(struct store *store, struct store_folder **out, size_t *n,
		      struct ferry_error *err);
int imap_create_folder(struct store *store, const char *name, struct ferry_error *err);
int imap_delete_folder(struct store *store, const char *name, struct ferry_error *err);
int imap_status(struct store *store, const char *const *names, size_t n, struct folder_state *out,
		bool *ok, struct ferry_error *err);
int imap_select(struct store *store, const char *name, struct folder_state *out,
		struct ferry_error *err);
int imap_list(struct store *store, struct msg_list *out, struct ferry_error *err);
int imap_list_changed(struct store *store, uint64_t since, struct msg_list *changed,
		      uint32_t **vanished, size_t *nranges, struct ferry_error *err);
int imap_identify(struct store *store, struct msg *msgs, size_t n, struct ferry_error *err);
int imap_fetch(struct store *store, const uint32_t *uids, size_t n, const struct fetch_sink *sink,
	       struct ferry_error *err);
int imap_add_begin(struct store *store, struct store_new_msg **out, struct ferry_error *err);
int imap_add_write(struct store_new_msg *m, const char *buf, size_t len, struct ferry_error *err);
int imap_add_commit(struct store_new_msg *m, unsigned flags, const char *keywords, int64_t date,
		    uint32_t *uid, struct ferry_error *err);
void imap_add_abort(struct store_new_msg *m);
int imap_add_flush(struct store *store,
		   void (*done)(void *ctx, size_t seq, uint32_t uid, const struct msg_id *stored),
		   void *ctx, struct ferry_error *err);
/* Reads the answers to the APPENDs still in flight, keeping their results
 * for add_flush. Every other command must come after them, or libetpan
 * would take their tagged answers for its own. -1 only if the session is
 * lost. */
int imap_appends_settle(struct imap_store *st, struct ferry_error *err);
/* For imap_close: settles what is in flight if the session still works,
 * and frees st->appends. */
void imap_appends_close(struct imap_store *st);
int imap_set_flags(struct store *store, const uint32_t *uids, size_t n, unsigned add,
		   unsigned remove, const char *add_keywords, const char *remove_keywords,
		   struct ferry_error *err);
int imap_delete_msgs(struct store *store, const uint32_t *uids, size_t n, struct ferry_error *err);
/* UID MOVE, or UID COPY + \Deleted + UID EXPUNGE of those uids. On failure
 * new_uids[i] is non-zero only for messages moved completely. */
int imap_move_msgs(struct store *store, const uint32_t *uids, size_t n, const char *to,
		   uint32_t *new_uids, struct ferry_error *err);

#endif
