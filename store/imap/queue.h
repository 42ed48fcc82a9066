/* The commands in flight on a session: each written under its tag with a
 * handler, kept in the order sent, their answers read lazily, oldest first,
 * each by its handler (libetpan.md, section 6: libetpan compares a tagged
 * answer with imap_tag, which is set to the command's tag for the parse).
 *
 * Any command libetpan sends itself must come after every answer in flight,
 * or libetpan would take their tagged answers for its own: imap_usable()
 * settles the queue first. The prefetch (SELECT, UID FETCH CHANGEDSINCE),
 * the APPENDs sent ahead, STATUS and NAMESPACE + LIST go through here. */
#ifndef FERRY_IMAP_QUEUE_H
#define FERRY_IMAP_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "store/imap/session.h"

/* What reads one kind of answer. ctx and arg are what the command was
 * queued with: arg is an index into the caller's array, which may move. */
struct imap_handler {
	/* Reads the answer to the command tagged tag, with imap_parse_answer
	 * and whatever that parse needs installed around it. Returns 0, also
	 * for a NO, or -1 with err set only when the session broke (the queue
	 * then gives up the rest). */
	int (*read)(struct imap_store *st, int tag, void *ctx, size_t arg, struct ferry_error *err);
	/* The answer will never be read: the session broke first. why says
	 * how. NULL when the caller has nothing to undo. */
	void (*lost)(struct imap_store *st, void *ctx, size_t arg, const struct ferry_error *why);
};

/* Writes one command line (with its CRLF) under the next tag and queues
 * its handler; not flushed. Returns the tag, or -1 with err set: out of
 * memory before anything was written, or the write failed ("sending
 * <what>") and the session is broken (what was in flight is then lost). */
int imap_queue_send(struct imap_store *st, const char *line, const struct imap_handler *h,
		    void *ctx, size_t arg, const char *what, struct ferry_error *err);

/* The same in steps, for a command that goes on after its line (APPEND's
 * literal): room for one more handler, the line under the next tag (the
 * tag or -1, nothing queued), and the handler once the whole command is
 * written (room reserved, so it cannot fail). */
int imap_queue_reserve(struct imap_store *st, struct ferry_error *err);
int imap_queue_write(struct imap_store *st, const char *line);
void imap_queue_push(struct imap_store *st, int tag, const struct imap_handler *h, void *ctx,
		     size_t arg);

/* Sends what was written. -1 (err set, the session broken) on failure. */
int imap_queue_flush(struct imap_store *st, const char *what, struct ferry_error *err);

/* How many answers are unread. */
size_t imap_queue_unread(const struct imap_store *st);

/* Reads the oldest answer in flight. -1 (err set where given) when the
 * session broke: every answer still unread is then lost. */
int imap_queue_read_one(struct imap_store *st, struct ferry_error *err);
/* Reads answers until the command tagged tag is answered (at once if it is
 * not in flight). */
int imap_queue_settle_through(struct imap_store *st, int tag, struct ferry_error *err);
/* Reads answers until only commands of handler keep are left in flight. */
int imap_queue_settle_others(struct imap_store *st, const struct imap_handler *keep,
			     struct ferry_error *err);
/* Reads every answer in flight. */
int imap_queue_settle(struct imap_store *st, struct ferry_error *err);
/* Gives up every answer in flight (the session broke: why says how). */
void imap_queue_lose(struct imap_store *st, const struct ferry_error *why);
/* Frees the queue; what is still in flight is forgotten. */
void imap_queue_free(struct imap_store *st);

/* 0 when the session can take a command libetpan reads the answer of:
 * everything in flight answered, the session not broken; -1 with a clear
 * error otherwise. */
int imap_usable(struct imap_store *st, struct ferry_error *err);

/* Parses the answer to the command tagged tag, and whatever untagged data
 * comes before it (kept in imap_response_info until the next parse).
 * have_line: its first line is read already. *ok tells OK from NO or BAD
 * (the server's text is in imap_response); an answer under another tag is
 * IMAP_ERROR_TAG, which leaves the session unusable. */
int imap_parse_answer(struct imap_store *st, int tag, bool have_line, bool *ok);

#endif
