/* How a Maildir store is configured: a [maildir NAME] section, as the
 * Maildir driver reads it. The engine never does. */
#ifndef FERRY_MAILDIR_CONF_H
#define FERRY_MAILDIR_CONF_H

enum maildir_layout { LAYOUT_VERBATIM, LAYOUT_MAILDIRPP };

/* A [maildir NAME] section. */
struct maildir_conf {
	char *path; /* expanded: no ~ or $VAR left */
	enum maildir_layout layout;
};

#endif
