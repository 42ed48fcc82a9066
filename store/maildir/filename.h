/* Maildir file names, "<unique>[:2,<letters>]" (DESIGN rule 14). Pure
 * functions: no I/O, so every form a file name can take is unit-tested.
 *
 * The unique part identifies a message in its folder whatever its flags and
 * whether it lies in new/ or cur/. The info letters after ":2," carry the
 * flags ferry manages (D F P R S T) and letters other programs set (Dovecot's
 * lowercase keyword letters, for one), which ferry keeps as they are. */
#ifndef FERRY_MAILDIR_FILENAME_H
#define FERRY_MAILDIR_FILENAME_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAILDIR_INFO ":2,"

struct maildir_name {
	size_t uniq_len;	  /* the unique part is name[0..uniq_len) */
	bool has_info;		  /* the name has a ":2," suffix (possibly with no letters) */
	unsigned flags;		  /* enum msg_flag bits of the letters ferry manages */
	char other[NAME_MAX + 1]; /* the other letters, sorted, without duplicates */
};

/* Parses a name read from cur/ or new/. Returns 0, or -1 with *why (a static
 * phrase) for a name that is not a message: empty, starting with '.' (such
 * files are other programs' metadata), holding a control character, or with
 * an empty unique part. Unknown letters are kept, never an error. */
int maildir_name_parse(const char *name, struct maildir_name *out, const char **why);

/* Writes "<uniq>:2,<letters>" into buf, the letters of flags and other
 * merged, sorted and without duplicates; or just "<uniq>" when info is
 * false (other and flags are then ignored). Returns the length, or -1 when
 * the name would not fit len or be longer than NAME_MAX. */
int maildir_name_build(const char *uniq, size_t uniq_len, bool info, unsigned flags,
		       const char *other, char *buf, size_t len);

/* Writes the unique part of a new delivery,
 * "<sec>.M<usec>P<pid>Q<counter>.<host>", with '/' and ':' in host written
 * as \057 and \072 so that the name stays one file name without a colon.
 * Returns the length, or -1 when it does not fit len. */
int maildir_name_unique(char *buf, size_t len, int64_t sec, long usec, long pid,
			unsigned long counter, const char *host);

#endif
