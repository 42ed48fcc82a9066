/* What a listing is made of: messages as the engine sees them (uid, flags,
 * keywords, size, date, identity), lists of them, and the state of the
 * folder a listing was taken in. Every store speaks these; the planner
 * needs nothing else of store.h. */
#ifndef FERRY_MESSAGE_H
#define FERRY_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The flags ferry manages, one bit each, in the order of their Maildir
 * letters (D F P R S T) so that a loop over the table yields sorted suffixes. */
enum msg_flag {
	MF_DRAFT = 1u << 0,	/* \Draft, D */
	MF_FLAGGED = 1u << 1,	/* \Flagged, F */
	MF_FORWARDED = 1u << 2, /* $Forwarded, P */
	MF_ANSWERED = 1u << 3,	/* \Answered, R */
	MF_SEEN = 1u << 4,	/* \Seen, S */
	MF_DELETED = 1u << 5,	/* \Deleted, T */
};
#define MF_ALL 0x3fu

/* What SELECT (or a Maildir scan) says about a folder. */
struct folder_state {
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq; /* 0 when the store has no modseqs */
	uint32_t exists;
	bool keywords_ok; /* arbitrary keywords can be stored (\* in PERMANENTFLAGS) */
};

/* Identity of a message (DESIGN rule 6): SHA-256 of the header block with
 * line endings normalised to CRLF, and the CRLF size of the whole message. */
struct msg_id {
	unsigned char hash[32];
	bool known;
	/* The first bytes of the same hash with every 8-bit byte of the header
	 * block read as 'X', which is how Cyrus stores a header (munge8bit):
	 * pairs a local message with a server's rewritten copy where nothing
	 * else says they are one (rule 7). Equal to hash for an ASCII header.
	 * Computed with hash, never stored: unknown for ids read back from the
	 * state or the Maildir index. */
	bool munged_known;
	unsigned char munged[8];
};

/* A listed message's identity, out of line: an IMAP listing knows none and a
 * Maildir's index only the hash, so a message carries a pointer rather than
 * 42 bytes. 40 bytes: glibc's 48-byte chunk, where 41 would take 64. */
struct msg_ident {
	unsigned char hash[32];
	unsigned char munged[8]; /* struct msg_id.munged, when munged_known */
};

/* One message of a listing: 40 bytes, so that a folder of a million costs
 * 40 MB listed. keywords: NULL or space-separated, in the case the store
 * gave, sorted case-insensitively; owned by the list, as ident is. */
struct msg {
	char *keywords;
	struct msg_ident *ident; /* NULL: identity unknown (msg_get_id, msg_set_id) */
	uint64_t size;		 /* CRLF size, = RFC822.SIZE */
	int64_t date;		 /* internal date, seconds since the epoch */
	uint32_t uid;
	uint8_t flags; /* enum msg_flag bits */
	bool munged_known;
	/* The store does not know this message's keywords: a Maildir file
	 * another program wrote or moved into the folder left them behind in
	 * the index (rule 15). keywords then says nothing (NULL is not "none"):
	 * the engine keeps what the pair agreed on. */
	bool keywords_unknown;
	/* The message is a placeholder ferry made for a far message over
	 * max_size (its X-Ferry-Placeholder header), and its identity is the
	 * original's: set by the engine, never by a store. Never uploaded. */
	bool placeholder;
};

static inline bool msg_id_known(const struct msg *m)
{
	return m->ident != NULL;
}

/* m's identity as a struct msg_id (known false when m has none). */
struct msg_id msg_get_id(const struct msg *m);

/* Moves from's identity to to (from's then unknown), freeing to's. */
void msg_take_id(struct msg *to, struct msg *from);

/* Sets m's identity to a copy of *id (an unknown id drops m's); -1 when out
 * of memory, m unchanged. The list holding m owns the copy. */
int msg_set_id(struct msg *m, const struct msg_id *id);

struct msg_list {
	struct msg *v;
	size_t n, cap;
};

/* Appends a copy of m (keywords and identity duplicated); -1 on allocation
 * failure. */
int msg_list_push(struct msg_list *list, const struct msg *m);
void msg_list_free(struct msg_list *list);

#endif
