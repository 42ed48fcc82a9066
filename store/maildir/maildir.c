#include "store/maildir/maildir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct maildir_store {
	struct store base;
};

/* Opening checks the root only. A root that does not exist yet is fine: the
 * first sync creates it. A root that exists but is not a writable directory
 * is an error, found before anything is planned. */
static int maildir_open(const struct store_conf *conf, const char *secret, struct store **out,
			struct ferry_error *err)
{
	const char *path = conf->maildir.path;
	const char *layout = conf->maildir.layout == LAYOUT_MAILDIRPP ? "maildir++" : "verbatim";
	struct maildir_store *st;
	struct stat sb;
	char desc[4200];

	(void)secret;
	if (stat(path, &sb) == 0) {
		if (!S_ISDIR(sb.st_mode))
			return ferry_error_set(err, FERRY_PARTIAL, "%s: not a directory", path);
		if (access(path, R_OK | W_OK | X_OK) != 0)
			return ferry_error_set(err, FERRY_PARTIAL, "%s: %s", path, strerror(errno));
		snprintf(desc, sizeof(desc), "%s (%s layout)", path, layout);
	} else if (errno == ENOENT) {
		snprintf(desc, sizeof(desc), "%s (%s layout; does not exist yet, sync creates it)",
			 path, layout);
	} else {
		return ferry_error_set(err, FERRY_PARTIAL, "%s: %s", path, strerror(errno));
	}
	st = calloc(1, sizeof(*st));
	if (!st || !(st->base.description = strdup(desc))) {
		free(st);
		return ferry_error_set(err, FERRY_PARTIAL, "out of memory");
	}
	st->base.driver = &maildir_driver;
	st->base.conf = conf;
	*out = &st->base;
	return 0;
}

static void maildir_close(struct store *store)
{
	free(store->description);
	free(store);
}

const struct store_driver maildir_driver = {
    .kind = "maildir",
    .open = maildir_open,
    .close = maildir_close,
};
