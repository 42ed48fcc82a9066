#include "sync/names.h"

#include <fnmatch.h>
#include <string.h>
#include <strings.h>

static bool matches(const char *glob, const char *name)
{
	/* INBOX is case-insensitive everywhere else too (RFC 3501). */
	if (strncasecmp(glob, "INBOX", 5) == 0 && strncmp(name, "INBOX", 5) == 0 &&
	    (glob[5] == '\0' || glob[5] == '/'))
		return fnmatch(glob + 5, name + 5, 0) == 0;
	return fnmatch(glob, name, 0) == 0;
}

bool names_selected(const struct channel_conf *ch, const char *name)
{
	bool selected = false;

	for (size_t i = 0; i < ch->nfolders; i++)
		if (matches(ch->folders[i].glob, name))
			selected = !ch->folders[i].exclude;
	return selected;
}
