/* `ferry import mbsync|offlineimap`: another synchroniser's configuration
 * turned into ferry's. The converters are pure (text in, text out), so they
 * are unit-tested on sample files; sync/main.c reads and writes the files. */
#ifndef FERRY_SYNC_IMPORT_H
#define FERRY_SYNC_IMPORT_H

#include "store/base/grow.h"
#include "store/error.h"

struct import_result {
	struct strbuf conf;  /* the ferry configuration */
	struct strbuf notes; /* "FILE:LINE: Setting: why it was not mapped\n", each */
	unsigned nnotes;
};

/* text is the whole of .mbsyncrc (isync 1.4; the old Master/Slave too), file
 * its name for messages. Returns 0, or -1 with err (FERRY_CAUSE_CONFIG,
 * "FILE:LINE: reason") for a file mbsync itself would refuse. */
int import_mbsync(const char *file, const char *text, struct import_result *res,
		  struct ferry_error *err);

/* The same for offlineimap's .offlineimaprc (offlineimap3). */
int import_offlineimap(const char *file, const char *text, struct import_result *res,
		       struct ferry_error *err);

void import_result_free(struct import_result *res);

/* `ferry import TOOL [IN] [-o OUT]`: reads IN (default ~/.mbsyncrc or
 * ~/.offlineimaprc), prints the ferry configuration (or creates OUT, 0600,
 * never over a file) and each setting not mapped on stderr. Returns an exit
 * status: 0, 1 when ferry would refuse the result as it stands (a password
 * to add, say), 2 when IN cannot be read or converted. */
int import_run(const char *tool, const char *in, const char *out);

/* Shared by both converters (sync/import.c). */
void import_note(struct import_result *res, const char *file, int line, const char *setting,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Appends "key = value\n", or a note when the value cannot be a ferry value
 * (a line break, or longer than a config line takes). */
void import_key(struct import_result *res, const char *file, int line, const char *key,
		const char *value);
/* Whether s is a name ferry takes for a section: [a-zA-Z0-9._-], 1-50 bytes. */
bool import_name_ok(const char *s);

#endif
