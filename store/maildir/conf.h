/* How a Maildir store is configured: a [maildir NAME] section, as the
 * Maildir driver reads it. The engine reads only the role names. */
#ifndef FERRY_MAILDIR_CONF_H
#define FERRY_MAILDIR_CONF_H

/* verbatim and maildir++ are ferry's; legacy is mbsync's SubFolders Legacy
 * (mbsync's Verbatim and Maildir++ are ferry's verbatim and maildir++),
 * offlineimap offlineimap's Maildir with sep = . (path.h). */
enum maildir_layout { LAYOUT_VERBATIM, LAYOUT_MAILDIRPP, LAYOUT_LEGACY, LAYOUT_OFFLINEIMAP };

#define MAILDIR_ROLES 5

/* A [maildir NAME] section. */
struct maildir_conf {
	char *path; /* expanded: no ~ or $VAR left */
	enum maildir_layout layout;
	/* The folders that pair with a server's special-use folders, by role
	 * in sync/roles.h's order (sent, drafts, trash, junk, archive); NULL:
	 * the default name (Sent, Drafts...). A Maildir has no attributes. */
	char *roles[MAILDIR_ROLES];
};

#endif
