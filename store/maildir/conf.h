/* How a Maildir store is configured: a [maildir NAME] section, as the
 * Maildir driver reads it. The engine never does. */
#ifndef FERRY_MAILDIR_CONF_H
#define FERRY_MAILDIR_CONF_H

/* verbatim and maildir++ are ferry's; legacy is mbsync's SubFolders Legacy
 * (mbsync's Verbatim and Maildir++ are ferry's verbatim and maildir++),
 * offlineimap offlineimap's Maildir with sep = . (path.h). */
enum maildir_layout { LAYOUT_VERBATIM, LAYOUT_MAILDIRPP, LAYOUT_LEGACY, LAYOUT_OFFLINEIMAP };

/* A [maildir NAME] section. */
struct maildir_conf {
	char *path; /* expanded: no ~ or $VAR left */
	enum maildir_layout layout;
};

#endif
