/* IMAP mailbox names <-> ferry's canonical folder names. Pure functions.
 *
 * A server spells a mailbox with its personal namespace prefix ("INBOX." on
 * Courier and Cyrus, "" on Dovecot), its own hierarchy delimiter, and each
 * level in modified UTF-7 (RFC 3501 5.1.3). The canonical name is UTF-8 with
 * '/' between levels, relative to that prefix, and spells the inbox "INBOX"
 * (DESIGN rule 3). libetpan does none of this and sends names raw, so every
 * name that reaches it comes out of canonical_to_imap_name(). */
#ifndef FERRY_IMAP_UTF7_H
#define FERRY_IMAP_UTF7_H

enum imap_name_status {
	IMAP_NAME_OK = 0,
	IMAP_NAME_INVALID = -1, /* cannot be mapped safely and reversibly */
	IMAP_NAME_OUTSIDE = -2, /* not in the personal namespace (or the prefix itself) */
	IMAP_NAME_NOMEM = -3,
};

/* Decodes a name from LIST. delimiter is the entry's (0 for NIL), prefix the
 * personal namespace prefix ("" for none). Refused: control characters or
 * 8-bit bytes in the server name, empty levels, invalid or non-canonical
 * modified UTF-7, a level that decodes to something containing '/' or a
 * control character, a level INBOX below a non-empty prefix (it would clash
 * with the inbox), and anything store/names.h calls unsafe. Only names that
 * canonical_to_imap_name() turns back into exactly the server's spelling are
 * accepted (INBOX in any case). Returns IMAP_NAME_OK and *out (malloc'd, the
 * caller frees it), or another status with *out = NULL. */
int imap_name_to_canonical(const char *server_name, char delimiter, const char *prefix, char **out);

/* Encodes a canonical name for the server. Refused: what store/names.h calls
 * unsafe, a level holding the delimiter or a C1 control character,
 * hierarchy on a server without a delimiter or with one that is not
 * printable ASCII, INBOX children below a non-empty prefix, and anything
 * that would spell INBOX but is not the inbox: whatever
 * imap_name_to_canonical() would not read back. Returns IMAP_NAME_OK and
 * *out (malloc'd, printable ASCII only; the caller frees it), or another
 * status with *out = NULL. */
int canonical_to_imap_name(const char *canonical, char delimiter, const char *prefix, char **out);

#endif
