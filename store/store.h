/* The one interface every kind of mailbox implements.
 *
 * sync/ sees stores only through this header, and calls the store_*()
 * functions at its end, never the driver table. What a store is configured
 * with belongs to its driver (store/imap/conf.h, store/maildir/conf.h);
 * messages and listings are in store/message.h. */
#ifndef FERRY_STORE_H
#define FERRY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/error.h"
#include "store/imap/conf.h"
#include "store/maildir/conf.h"
#include "store/message.h"
#include "store/pop3/conf.h"

enum store_kind { STORE_IMAP, STORE_MAILDIR, STORE_POP3 };

/* A store section of the configuration. The union is the driver's part:
 * sync/config.c fills it, the driver reads it, the engine asks the
 * store_conf_*() functions below. */
struct store_conf {
	enum store_kind kind;
	char *name;
	const char *file; /* where it was defined, for messages */
	int line;
	union {
		struct imap_conf imap;
		struct maildir_conf maildir;
		struct pop3_conf pop3;
	};
};

/* Folder attributes from LIST (special-use) or the Maildir tree. */
enum folder_attr {
	FA_NOSELECT = 1u << 0,
	FA_SENT = 1u << 1,
	FA_TRASH = 1u << 2,
	FA_DRAFTS = 1u << 3,
	FA_JUNK = 1u << 4,
	FA_ARCHIVE = 1u << 5,
	FA_ALL = 1u << 6,     /* every message again (Gmail's All Mail) */
	FA_FLAGGED = 1u << 7, /* a virtual folder of the flagged messages */
	/* Not subscribed to (`subscribed = yes`), here or on the other side:
	 * left out. Set by the engine, never by a store. */
	FA_UNSUBSCRIBED = 1u << 8,
};

/* A folder by canonical name: UTF-8, levels separated by '/', relative to
 * the personal namespace, INBOX always spelled "INBOX". */
struct store_folder {
	char *name;
	unsigned attrs;
};

/* Where fetched bodies go. libetpan streams a body before the rest of its
 * FETCH response, so a message is begun before its uid is known. */
struct fetch_sink {
	void *ctx;
	int (*begin)(void *ctx, struct ferry_error *err);
	int (*write)(void *ctx, const char *buf, size_t len, struct ferry_error *err);
	/* The message just written is complete and is uid's. */
	int (*end)(void *ctx, uint32_t uid, struct ferry_error *err);
	/* Drops a begun message (connection lost mid-body). */
	void (*abort)(void *ctx);
	/* uid was asked for and the answer came, but not its message (DESIGN
	 * rule 17: BODY[] NIL, no body, a body under another uid); why says
	 * what came instead. Nothing of it was delivered; fetch goes on. */
	void (*undelivered)(void *ctx, uint32_t uid, const char *why);
};

/* A message being added to a folder. */
struct store_new_msg;

/* A folder the engine names `as` that this store spells `name`: a pair by
 * role or `map` whose names differ (sync/roles.c). */
struct store_alias {
	const char *as;
	const char *name;
};

/* An open store. Each driver embeds this as its first member. */
struct store {
	const struct store_driver *driver;
	const struct store_conf *conf;
	unsigned caps;	    /* the driver's own capability bits; the engine never reads them */
	char *description;  /* "127.0.0.1:993, TLSv1.3 ..., logged in as alice (LOGIN)" */
	char *capabilities; /* the server's own words, space-separated; NULL for Maildir */
	/* How the store tells its messages apart, once a folder was selected,
	 * for `ferry check` ("no UIDL: ..."); the driver's; NULL: nothing to say. */
	const char *note;
	bool broken; /* the connection is dead: close and open again to go on */
	/* ... by the server's own doing (an endless line, a flood): a new
	 * connection would meet the same, so none is opened this run. */
	bool hostile;
	/* The deepest folder, in levels, list_folders can show (0: no limit):
	 * the engine neither creates a deeper one here nor takes it as deleted. */
	unsigned max_depth;
	/* --dry-run (store_set_read_only): nothing changes, not even what the
	 * store keeps for itself (a Maildir's index lives in memory). */
	bool read_only;
	/* Names the store_* functions translate before the driver sees them;
	 * owned by the caller, who carries them over to a new connection. */
	const struct store_alias *aliases;
	size_t naliases;
};

/* store_wait's report of a folder that may have changed (canonical name),
 * or NULL: somewhere, the store cannot tell where. */
typedef void store_changed_fn(void *ctx, const char *folder);

/* Every function returns 0, or -1 with err set. Messages are addressed by
 * uid within the selected folder. */
struct store_driver {
	const char *kind; /* "imap", "maildir", "pop3" */
	int (*open)(const struct store_conf *conf, const char *secret, struct store **out,
		    struct ferry_error *err);
	void (*close)(struct store *store);

	/* All folders; *out is an array the caller frees with store_folders_free.
	 * Names that cannot be mapped safely are skipped with a warning. */
	int (*list_folders)(struct store *store, struct store_folder **out, size_t *n,
			    struct ferry_error *err);
	int (*create_folder)(struct store *store, const char *name, struct ferry_error *err);
	int (*delete_folder)(struct store *store, const char *name, struct ferry_error *err);
	/* Renames folder `from` to `to`, its children with it, keeping its
	 * UIDVALIDITY and uids (IMAP RENAME; a Maildir's directories moved
	 * within the root, the index following). `to` must not exist. */
	int (*rename_folder)(struct store *store, const char *from, const char *to,
			     struct ferry_error *err);
	/* The folders subscribed to (IMAP LSUB), as list_folders names them;
	 * free with store_folders_free. */
	int (*subscribed)(struct store *store, struct store_folder **out, size_t *n,
			  struct ferry_error *err);

	/* What each folder names[0..n) holds, as cheaply as the store can tell
	 * (IMAP: pipelined STATUS; Maildir: its index, rescanning only folders
	 * whose directories changed), for skipping unchanged folders (rule 4).
	 * ok[i] false: no trustworthy answer for that folder (no modseqs, a
	 * refused name); sync it the long way. NULL: never known. May leave any
	 * folder selected, or none. exists may be 0 where counting is not cheap
	 * (Maildir); uidvalidity, uidnext and highestmodseq are what counts. */
	int (*status)(struct store *store, const char *const *names, size_t n,
		      struct folder_state *out, bool *ok, struct ferry_error *err);
	/* Opens a folder for the calls below; a missing folder is an error. */
	int (*select)(struct store *store, const char *name, struct folder_state *out,
		      struct ferry_error *err);
	/* Every message of the selected folder: uid, flags, keywords, size, date,
	 * and id where known without reading bodies. Returns 0 only for a
	 * complete listing (rule 5). */
	int (*list)(struct store *store, struct msg_list *out, struct ferry_error *err);
	/* What changed in the selected folder since modseq `since`: messages
	 * whose flags changed or that arrived (as list gives them), and the uids
	 * expunged, as ranges vanished[2k]..vanished[2k+1] (*vanished is
	 * malloc'd). Returns 1 when the store cannot tell (no QRESYNC): list in
	 * full then; 2 when the folder never was at `since`: the store is an
	 * older copy of the one that gave it (a Maildir restored from a backup
	 * with its index, rule 16). NULL: never. */
	int (*list_changed)(struct store *store, uint64_t since, struct msg_list *changed,
			    uint32_t **vanished, size_t *nranges, struct ferry_error *err);
	/* The selected folder's state after the caller's own changes to it: what
	 * it holds now (uidnext, highestmodseq) when every change since `seen`
	 * (what a select of it gave) was made through this handle; else *seen.
	 * The engine records it, so that a run's own changes do not make the
	 * next run list the folder. NULL: the store cannot tell (an IMAP server
	 * does not say whose a change was). */
	void (*own_state)(struct store *store, const char *name, const struct folder_state *seen,
			  struct folder_state *out);
	/* Readies the next select of each folder names[0..n) and, where since[i]
	 * is not 0, its next list_changed(since[i]), in one round trip for all
	 * (IMAP: SELECT and UID FETCH CHANGEDSINCE pipelined, and returns before
	 * the answers come: the caller may do local work meanwhile). Calls add
	 * up (a folder is asked for once); n 0 drops what was not taken. Each
	 * answer serves once; a folder whose answers failed is selected and
	 * listed the usual way. Leaves no folder selected. Returns -1 only when
	 * the connection is lost. NULL: nothing to gain (Maildir). */
	int (*prefetch)(struct store *store, const char *const *names, const uint64_t *since,
			size_t n, struct ferry_error *err);
	/* Fills id for msgs[0..n) that lack it (headers only, never bodies),
	 * and size with the identity's size (rule 6: without the header lines
	 * identity version 2 leaves out). */
	int (*identify)(struct store *store, struct msg *msgs, size_t n, struct ferry_error *err);
	/* Streams the bodies of uids[0..n) into sink, in any order. A uid the
	 * server answered for without its message goes to sink->undelivered
	 * (fetch still returns 0); a Maildir file gone meanwhile is skipped. */
	int (*fetch)(struct store *store, const uint32_t *uids, size_t n,
		     const struct fetch_sink *sink, struct ferry_error *err);

	/* As fetch, but only the header block of each message, its empty line
	 * included (IMAP BODY.PEEK[HEADER]; a Maildir file read up to it):
	 * never a body. NULL: the store cannot. */
	int (*fetch_headers)(struct store *store, const uint32_t *uids, size_t n,
			     const struct fetch_sink *sink, struct ferry_error *err);

	/* Adds a message to the selected folder: begin, write the raw bytes in
	 * any line-ending convention, then commit (or abort). commit sets *uid
	 * to the new uid, or 0 when the store cannot tell (no UIDPLUS). */
	int (*add_begin)(struct store *store, struct store_new_msg **out, struct ferry_error *err);
	int (*add_write)(struct store_new_msg *m, const char *buf, size_t len,
			 struct ferry_error *err);
	int (*add_commit)(struct store_new_msg *m, unsigned flags, const char *keywords,
			  int64_t date, uint32_t *uid, struct ferry_error *err);
	void (*add_abort)(struct store_new_msg *m);
	/* Settles every add_commit since the last flush: a store may leave a
	 * commit in flight (IMAP pipelines APPENDs with LITERAL+; a Maildir
	 * defers its directory fsync and index transaction) and report *uid 0
	 * from add_commit. add_flush waits for them, makes them durable, and
	 * calls done(ctx, seq, uid, stored) for each, seq counting the
	 * add_commits that returned 0 since the last flush, from 0; uid 0 when
	 * the store cannot tell. stored is the identity of the copy the store
	 * keeps, read back from it, where that may differ from the bytes
	 * written (a server rewrites messages on APPEND, rule 6); NULL when the
	 * copy is the bytes written; not known when it could not be read back
	 * (the message is then found by identity, not by uid). On error, done
	 * was called for those that did settle, and refused(ctx, seq, why)
	 * (refused may be NULL) for each the store refused (an IMAP NO: over
	 * quota, too large), with the store's words: it holds nothing of those.
	 * The error's cause is FERRY_CAUSE_REFUSED when every failure was such
	 * a refusal. The engine calls it before it records the new messages in
	 * the state, and before any other call on the store. NULL: every
	 * add_commit is final. */
	int (*add_flush)(struct store *store,
			 void (*done)(void *ctx, size_t seq, uint32_t uid,
				      const struct msg_id *stored),
			 void (*refused)(void *ctx, size_t seq, const char *why), void *ctx,
			 struct ferry_error *err);

	/* Replaces the message uid of the selected folder by other bytes, in
	 * place (`ferry fetch`: a placeholder by its message): replace_begin,
	 * then add_write, then replace_commit (or add_abort). The message
	 * keeps its uid and flags; a Maildir writes a file in tmp/, fsyncs it,
	 * renames it over the old one's name and records its identity (*id,
	 * *size: rule 6's) in its index. Final when it returns 0. NULL: the
	 * store cannot (a server's messages cannot change). */
	int (*replace_begin)(struct store *store, uint32_t uid, struct store_new_msg **out,
			     struct ferry_error *err);
	int (*replace_commit)(struct store_new_msg *m, struct msg_id *id, uint64_t *size,
			      struct ferry_error *err);

	/* Adds and removes flags and keywords (space-separated) on uids. */
	int (*set_flags)(struct store *store, const uint32_t *uids, size_t n, unsigned add,
			 unsigned remove, const char *add_keywords, const char *remove_keywords,
			 struct ferry_error *err);
	/* Removes uids for good (\Deleted + UID EXPUNGE of those uids; unlink). */
	int (*delete_msgs)(struct store *store, const uint32_t *uids, size_t n,
			   struct ferry_error *err);
	/* Moves uids of the selected folder into the existing folder `to`,
	 * keeping their flags and keywords, without re-sending bodies: UID MOVE
	 * (or UID COPY + \Deleted + UID EXPUNGE of those uids), rename() in a
	 * Maildir. new_uids[i] receives uids[i]'s uid in `to`, or 0 when the
	 * store cannot tell (no COPYUID). The selected folder stays selected. */
	int (*move_msgs)(struct store *store, const uint32_t *uids, size_t n, const char *to,
			 uint32_t *new_uids, struct ferry_error *err);
	/* The keywords the selected folder took no more of since it was
	 * selected (a server's limit per folder: a command with them was
	 * refused, and went through without them), space-separated, the
	 * store's until the next call on it; NULL: none. NULL: never. */
	const char *(*keywords_dropped)(struct store *store);

	/* Waits until something may have changed (`ferry watch`): in folder
	 * `folder` (a store that watches one folder per handle: IMAP IDLE),
	 * or anywhere in the store, new folders included (a store that
	 * watches all at once ignores folder: Maildir, inotify). Returns 1
	 * when something may have changed, 0 when timeout_ms passed or stop_fd
	 * became readable or hung up, -1 with err (a lost connection is
	 * FERRY_CAUSE_NETWORK). The first call starts watching; a change made
	 * between two calls is reported by the next. Before it returns 1 it
	 * calls changed (when not NULL) once or more: with the canonical name
	 * of each folder that may have changed, or with NULL when it cannot
	 * tell which (a folder made, removed or renamed; events lost). A hint
	 * only: the caller syncs to learn what changed. */
	int (*wait)(struct store *store, const char *folder, int timeout_ms, int stop_fd,
		    store_changed_fn *changed, void *ctx, struct ferry_error *err);
};

/* The interface as functions: sync/ calls these, never the driver table.
 * Each passes its arguments to the driver's operation of the same name (see
 * struct store_driver for what it does); an operation a driver leaves NULL
 * gets the default written here, so the engine never tests for one. */

/* The driver's kind, "imap", "maildir" or "pop3", for messages. */
const char *store_kind(const struct store *s);

int store_list_folders(struct store *s, struct store_folder **out, size_t *n,
		       struct ferry_error *err);
/* Without the operation: FERRY_CAUSE_REFUSED, the store has fixed folders. */
int store_create_folder(struct store *s, const char *name, struct ferry_error *err);
int store_delete_folder(struct store *s, const char *name, struct ferry_error *err);
/* Without the operation: FERRY_CAUSE_REFUSED, nothing renamed (the engine
 * then syncs the folders as if there had been no rename). */
int store_rename_folder(struct store *s, const char *from, const char *to, struct ferry_error *err);
/* 1 without the operation: the store has no subscriptions (every folder
 * counts as subscribed); else 0 with the list, or -1. */
int store_subscribed(struct store *s, struct store_folder **out, size_t *n,
		     struct ferry_error *err);

/* Without the operation: 0 with every ok[i] false (sync each folder the long
 * way). */
int store_status(struct store *s, const char *const *names, size_t n, struct folder_state *out,
		 bool *ok, struct ferry_error *err);
int store_select(struct store *s, const char *name, struct folder_state *out,
		 struct ferry_error *err);
int store_list(struct store *s, struct msg_list *out, struct ferry_error *err);
/* Without the operation: 1, the store cannot tell (list in full), with
 * *changed, *vanished and *nranges left empty. */
int store_list_changed(struct store *s, uint64_t since, struct msg_list *changed,
		       uint32_t **vanished, size_t *nranges, struct ferry_error *err);
/* Without the operation: *out = *seen (the store cannot tell). */
void store_own_state(struct store *s, const char *name, const struct folder_state *seen,
		     struct folder_state *out);

/* Whether prefetch saves anything on this store: the engine asks such a
 * store first, so that the server works while the other side answers. */
bool store_can_prefetch(const struct store *s);
/* Without the operation: 0, nothing readied (select and list_changed then
 * work as usual). */
int store_prefetch(struct store *s, const char *const *names, const uint64_t *since, size_t n,
		   struct ferry_error *err);

int store_identify(struct store *s, struct msg *msgs, size_t n, struct ferry_error *err);
int store_fetch(struct store *s, const uint32_t *uids, size_t n, const struct fetch_sink *sink,
		struct ferry_error *err);

/* Without the operation: FERRY_CAUSE_REFUSED, nothing read. */
int store_fetch_headers(struct store *s, const uint32_t *uids, size_t n,
			const struct fetch_sink *sink, struct ferry_error *err);

/* Without add_begin: FERRY_CAUSE_REFUSED, the store takes no new messages.
 * m must come from store_add_begin on the same s. */
int store_add_begin(struct store *s, struct store_new_msg **out, struct ferry_error *err);
int store_add_write(struct store *s, struct store_new_msg *m, const char *buf, size_t len,
		    struct ferry_error *err);
int store_add_commit(struct store *s, struct store_new_msg *m, unsigned flags, const char *keywords,
		     int64_t date, uint32_t *uid, struct ferry_error *err);
void store_add_abort(struct store *s, struct store_new_msg *m);
/* Whether an add_commit may stay unsettled until store_add_flush: when
 * false, each commit is final and its uid the one add_commit gave. */
bool store_add_deferred(const struct store *s);
/* Without the operation: 0, done never called (every commit was final). */
int store_add_flush(struct store *s,
		    void (*done)(void *ctx, size_t seq, uint32_t uid, const struct msg_id *stored),
		    void (*refused)(void *ctx, size_t seq, const char *why), void *ctx,
		    struct ferry_error *err);

/* Without replace_begin: FERRY_CAUSE_REFUSED, nothing changed. m must come
 * from store_replace_begin on the same s; write with store_add_write,
 * give up with store_add_abort. */
int store_replace_begin(struct store *s, uint32_t uid, struct store_new_msg **out,
			struct ferry_error *err);
int store_replace_commit(struct store *s, struct store_new_msg *m, struct msg_id *id,
			 uint64_t *size, struct ferry_error *err);

int store_set_flags(struct store *s, const uint32_t *uids, size_t n, unsigned add, unsigned remove,
		    const char *add_keywords, const char *remove_keywords, struct ferry_error *err);
int store_delete_msgs(struct store *s, const uint32_t *uids, size_t n, struct ferry_error *err);
/* Without the operation: NULL, nothing dropped. */
const char *store_keywords_dropped(struct store *s);
/* Without the operation: FERRY_CAUSE_REFUSED, nothing moved. */
int store_move_msgs(struct store *s, const uint32_t *uids, size_t n, const char *to,
		    uint32_t *new_uids, struct ferry_error *err);

/* Whether store_wait can tell this store's changes. */
bool store_can_wait(const struct store *s);
/* Without the operation: waits timeout_ms or until stop_fd (returns 0):
 * the caller's periodic sync is all there is. */
int store_wait(struct store *s, const char *folder, int timeout_ms, int stop_fd,
	       store_changed_fn *changed, void *ctx, struct ferry_error *err);

/* Where the store is, for messages: a Maildir's path, a server's host
 * ("tunnel" for a command). */
const char *store_conf_place(const struct store_conf *conf);
/* How many connections to it the store allows at once: UINT32_MAX for no
 * limit (a local store). */
unsigned store_conf_connections(const struct store_conf *conf);
/* Whether the store is on this machine: opening it needs no network, so
 * `ferry status` may read it. */
bool store_conf_local(const struct store_conf *conf);

/* A Maildir's folder names for the special-use roles, MAILDIR_ROLES of
 * them in sync/roles.h's order (sent, drafts, trash, junk, archive), NULL
 * for a default; NULL for a server, whose LIST attributes tell the roles. */
char *const *store_conf_role_names(const struct store_conf *conf);

/* Whether the store can only be downloaded from (POP3): usable only as a
 * channel's far store with sync = pull, and a message leaving it never
 * deletes the other side's copy. */
bool store_conf_download_only(const struct store_conf *conf);
/* How long a delivered message stays on a download-only store: -1 for ever
 * (and for every other kind), 0 not past this run, else seconds. */
int64_t store_conf_keep_seconds(const struct store_conf *conf);

/* Whether opening conf needs a password or token (call config_password first). */
bool store_needs_secret(const struct store_conf *conf);

/* Opens a store: for IMAP connects, verifies TLS and logs in with secret; for
 * Maildir checks the root. Returns 0 and *out (close with store_close), or -1
 * with err set: FERRY_CONNECT for network, TLS and login failures. */
int store_open(const struct store_conf *conf, const char *secret, struct store **out,
	       struct ferry_error *err);

void store_close(struct store *store);

/* For --dry-run, right after store_open: the store changes nothing from
 * now on. Its operations that change messages or folders fail (the engine
 * must not call them), and what it would write for itself is kept in memory
 * (a Maildir's index: a copy of it; no stray tmp/ file removed). */
void store_set_read_only(struct store *s);

void store_folders_free(struct store_folder *folders, size_t n);

/* This store's own name for the folder the engine names `name`. */
const char *store_folder_name(const struct store *s, const char *name);

#endif
