/* .mbsyncrc (isync 1.4) -> ferry configuration.
 *
 * mbsync's file is a list of sections, each opened by a keyword line
 * (IMAPAccount, IMAPStore, MaildirStore, Channel, Group) and ended by an empty
 * line; lines before any section set defaults for the channels. The file is
 * read into sections of keyword + arguments first, then each store and
 * channel is written as ferry's. What ferry cannot express is left out with a
 * note naming the line, never guessed: a guess could copy or delete mail the
 * user did not ask for. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sync/import.h"

enum mb_kind { MB_GLOBAL, MB_ACCOUNT, MB_IMAPSTORE, MB_MAILDIRSTORE, MB_CHANNEL, MB_GROUP };

struct mb_line {
	char *key; /* as written */
	char **args;
	size_t nargs, cap;
	int line;
	bool used; /* mapped, or noted */
};

struct mb_section {
	enum mb_kind kind;
	char *name;
	int line;
	struct mb_line *v;
	size_t n, cap;
};

struct mb_file {
	const char *file;
	struct mb_section *s;
	size_t n, cap;
};

static const struct {
	const char *word;
	enum mb_kind kind;
} section_words[] = {
    {"IMAPAccount", MB_ACCOUNT}, {"IMAPStore", MB_IMAPSTORE}, {"MaildirStore", MB_MAILDIRSTORE},
    {"Channel", MB_CHANNEL},	 {"Group", MB_GROUP},
};

/* ---- reading ---- */

static int oom(struct ferry_error *err)
{
	return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
}

/* The next argument of a line: blanks separate, "quotes" group, a backslash
 * takes the next byte as it is. Returns 1 with *out malloc'd, 0 at the end
 * of the line, -1 on an unterminated quote. */
static int next_arg(const char **pp, char **out)
{
	const char *p = *pp;
	struct strbuf sb = {0};
	bool quoted = false;

	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p)
		return 0;
	for (; *p && (quoted || (*p != ' ' && *p != '\t')); p++) {
		if (*p == '"') {
			quoted = !quoted;
			strbuf_add(&sb, "", 0);
			continue;
		}
		if (*p == '\\' && p[1])
			p++;
		strbuf_add(&sb, p, 1);
	}
	*pp = p;
	if (quoted) {
		strbuf_free(&sb);
		return -1;
	}
	*out = strbuf_take(&sb);
	return *out ? 1 : -2;
}

static struct mb_section *add_section(struct mb_file *f, enum mb_kind kind, char *name, int line)
{
	struct mb_section *ns = grow_array(f->s, &f->cap, f->n + 1, sizeof(*ns));

	if (!ns)
		return NULL;
	f->s = ns;
	ns = &f->s[f->n++];
	*ns = (struct mb_section){.kind = kind, .name = name, .line = line};
	return ns;
}

static struct mb_line *add_line(struct mb_section *s, char *key, int line)
{
	struct mb_line *nv = grow_array(s->v, &s->cap, s->n + 1, sizeof(*nv));

	if (!nv)
		return NULL;
	s->v = nv;
	nv = &s->v[s->n++];
	*nv = (struct mb_line){.key = key, .line = line};
	return nv;
}

static int add_arg(struct mb_line *l, char *arg)
{
	char **na = grow_array(l->args, &l->cap, l->nargs + 1, sizeof(*na));

	if (!na)
		return -1;
	l->args = na;
	l->args[l->nargs++] = arg;
	return 0;
}

static void free_file(struct mb_file *f)
{
	for (size_t i = 0; i < f->n; i++) {
		struct mb_section *s = &f->s[i];

		for (size_t j = 0; j < s->n; j++) {
			free(s->v[j].key);
			for (size_t k = 0; k < s->v[j].nargs; k++) {
				explicit_bzero(s->v[j].args[k], strlen(s->v[j].args[k]));
				free(s->v[j].args[k]);
			}
			free(s->v[j].args);
		}
		free(s->v);
		free(s->name);
	}
	free(f->s);
}

static bool is_key(const char *key, const char *name)
{
	return strcasecmp(key, name) == 0;
}

/* One line into the current section (or a new one). */
static int read_one(struct mb_file *f, struct mb_section **cur, const char *text, int lineno,
		    struct ferry_error *err)
{
	const char *p = text;
	char *key = NULL, *arg;
	struct mb_line *l;
	int r;

	if ((r = next_arg(&p, &key)) <= 0)
		return r == 0
			   ? 0
			   : ferry_error_set(err, FERRY_CAUSE_CONFIG, "%s:%d: %s", f->file, lineno,
					     r == -1 ? "a quote is not closed" : "out of memory");
	for (size_t i = 0; i < sizeof(section_words) / sizeof(section_words[0]); i++) {
		char *name = NULL;

		if (!is_key(key, section_words[i].word))
			continue;
		/* In a group, "Channel" lines name its members. */
		if (section_words[i].kind == MB_CHANNEL && *cur && (*cur)->kind == MB_GROUP)
			break;
		free(key);
		if ((r = next_arg(&p, &name)) <= 0)
			return ferry_error_set(err, FERRY_CAUSE_CONFIG, "%s:%d: %s needs a name",
					       f->file, lineno, section_words[i].word);
		if (!(*cur = add_section(f, section_words[i].kind, name, lineno))) {
			free(name);
			return oom(err);
		}
		if (section_words[i].kind != MB_GROUP)
			return 0;
		/* "Group name ch1 ch2": the channels as a "Channels" line. */
		key = strdup("Channels");
		break;
	}
	if (!key)
		return oom(err);
	if (!*cur && !(*cur = add_section(f, MB_GLOBAL, NULL, lineno))) {
		free(key);
		return oom(err);
	}
	if (!(l = add_line(*cur, key, lineno))) {
		free(key);
		return oom(err);
	}
	while ((r = next_arg(&p, &arg)) > 0)
		if (add_arg(l, arg) < 0) {
			free(arg);
			return oom(err);
		}
	if (r < 0)
		return ferry_error_set(err, FERRY_CAUSE_CONFIG, "%s:%d: %s", f->file, lineno,
				       r == -1 ? "a quote is not closed" : "out of memory");
	if (l->nargs == 0 && !is_key(key, "Channels"))
		return ferry_error_set(err, FERRY_CAUSE_CONFIG, "%s:%d: %s needs a value", f->file,
				       lineno, key);
	return 0;
}

static int read_file(struct mb_file *f, const char *text, struct ferry_error *err)
{
	struct mb_section *cur = NULL;
	int lineno = 0;

	while (*text) {
		size_t len = strcspn(text, "\n");
		char *line = strndup(text, len);
		const char *p;
		int r = 0;

		if (!line)
			return oom(err);
		lineno++;
		if (len && line[len - 1] == '\r')
			line[len - 1] = '\0';
		p = line + strspn(line, " \t");
		if (!*p)
			cur = NULL; /* an empty line ends a section */
		else if (*p != '#')
			r = read_one(f, &cur, p, lineno, err);
		explicit_bzero(line, len);
		free(line);
		if (r != 0)
			return -1;
		text += len + (text[len] == '\n');
	}
	return 0;
}

/* ---- looking things up ---- */

static struct mb_line *find(struct mb_section *s, const char *key)
{
	struct mb_line *found = NULL;

	for (size_t i = 0; s && i < s->n; i++)
		if (is_key(s->v[i].key, key))
			found = &s->v[i]; /* the last one wins, as in mbsync */
	if (found)
		for (size_t i = 0; i < s->n; i++)
			if (is_key(s->v[i].key, key))
				s->v[i].used = true;
	return found;
}

static const char *arg1(struct mb_section *s, const char *key)
{
	struct mb_line *l = find(s, key);

	return l ? l->args[0] : NULL;
}

static int line_of(struct mb_section *s, const char *key)
{
	struct mb_line *l = find(s, key);

	return l ? l->line : s->line;
}

static struct mb_section *find_section(struct mb_file *f, enum mb_kind kind, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->s[i].kind == kind && strcmp(f->s[i].name, name) == 0)
			return &f->s[i];
	return NULL;
}

static struct mb_section *find_store(struct mb_file *f, const char *name)
{
	struct mb_section *s = find_section(f, MB_IMAPSTORE, name);

	return s ? s : find_section(f, MB_MAILDIRSTORE, name);
}

/* What a setting means to ferry when it is not mapped: each line of the
 * file that nothing used gets one of these. */
static const struct {
	const char *key, *why;
} unmapped[] = {
    {"UserCmd", "ferry takes the user name as written (set user)"},
    {"UseKeychain", "ferry has no keychain support (use password_command)"},
    {"SSLVersions", "ferry uses OpenSSL's defaults (TLS 1.2 and later)"},
    {"SystemCertificates", "ferry trusts the system store unless ca_file is set"},
    {"ClientCertificate", "ferry does not send client certificates"},
    {"ClientKey", "ferry does not send client certificates"},
    {"CipherString", "ferry uses OpenSSL's system-wide cipher policy"},
    {"PipelineDepth", "ferry pipelines on its own"},
    {"DisableExtension", "ferry has no switch per extension"},
    {"DisableExtensions", "ferry has no switch per extension"},
    {"PathDelimiter", "ferry takes the delimiter from the server"},
    {"Flatten", "ferry keeps the folder hierarchy"},
    {"Trash", "ferry deletes without copying to a trash folder"},
    {"TrashNewOnly", "ferry deletes without copying to a trash folder"},
    {"TrashRemoteNew", "ferry deletes without copying to a trash folder"},
    {"MapInbox", "ferry has no alias for INBOX"},
    {"SubscribedOnly", "a store no channel uses: set subscribed = yes on its channel"},
    {"AltMap", "not needed: ferry keeps its own index beside the Maildir"},
    {"InfoDelimiter", "ferry uses ':' in Maildir file names"},
    {"FieldDelimiter", "not needed: ferry keeps its own state"},
    {"SyncState", "not needed: ferry keeps its own state (set state to choose where)"},
    {"FSync", "ferry always syncs files to disk before it records them"},
    {"BufferLimit", "ferry streams messages and bounds its memory itself"},
    {"MaxMessages", "ferry keeps every message"},
    {"ExpireUnread", "ferry keeps every message"},
    {"CopyArrivalDate", "ferry keeps a message's date on its own"},
};

static void note_unused(struct import_result *res, const char *file, struct mb_section *s)
{
	for (size_t i = 0; i < s->n; i++) {
		const char *why = "not a setting ferry knows";

		if (s->v[i].used)
			continue;
		for (size_t k = 0; k < sizeof(unmapped) / sizeof(unmapped[0]); k++)
			if (is_key(s->v[i].key, unmapped[k].key))
				why = unmapped[k].why;
		import_note(res, file, s->v[i].line, s->v[i].key, "not mapped: %s", why);
		s->v[i].used = true;
	}
}

/* ---- stores ---- */

/* "+command" marks a command that talks to the terminal. */
static const char *command_of(const char *v)
{
	return v[0] == '+' ? v + 1 : v;
}

/* An IMAP setting from the store's own lines, else from its account. */
static const char *imap_arg(struct mb_section *store, struct mb_section *acct, const char *key,
			    int *line)
{
	struct mb_section *in = find(store, key) ? store : acct;
	struct mb_line *l = find(in, key);

	if (!l)
		return NULL;
	*line = l->line;
	return l->args[0];
}

static const struct {
	const char *mbsync, *ferry;
} auth_map[] = {{"*", "auto"}, {"LOGIN", "login"}, {"PLAIN", "plain"}, {"XOAUTH2", "xoauth2"}};

static void imap_auth(struct import_result *res, const char *file, struct mb_section *store,
		      struct mb_section *acct)
{
	struct mb_section *in = find(store, "AuthMechs") ? store : acct;
	struct mb_line *l = find(in, "AuthMechs");

	if (!l)
		return;
	if (l->nargs == 1)
		for (size_t i = 0; i < sizeof(auth_map) / sizeof(auth_map[0]); i++)
			if (strcasecmp(l->args[0], auth_map[i].mbsync) == 0) {
				import_key(res, file, l->line, "auth", auth_map[i].ferry);
				return;
			}
	import_note(res, file, l->line, "AuthMechs",
		    "not mapped: ferry picks one of PLAIN, LOGIN or XOAUTH2 (auth = auto)");
}

static bool write_imap(struct import_result *res, struct mb_file *f, struct mb_section *store)
{
	const char *file = f->file, *v, *acct_name = arg1(store, "Account");
	struct mb_section *acct = NULL;
	const char *host, *tunnel, *ssl;
	int line = store->line;

	if (acct_name && !(acct = find_section(f, MB_ACCOUNT, acct_name))) {
		import_note(res, file, line_of(store, "Account"), "Account",
			    "no IMAPAccount '%s' in the file; store '%s' left out", acct_name,
			    store->name);
		return false;
	}
	host = imap_arg(store, acct, "Host", &line);
	tunnel = imap_arg(store, acct, "Tunnel", &line);
	if (!host && !tunnel) {
		import_note(res, file, store->line, store->name,
			    "neither Host nor Tunnel: store left out");
		return false;
	}
	strbuf_addf(&res->conf, "\n[imap %s]\n", store->name);
	if (tunnel)
		import_key(res, file, line, "tunnel", tunnel);
	else
		import_key(res, file, line, "host", host);
	if ((v = imap_arg(store, acct, "Port", &line)) && !tunnel)
		import_key(res, file, line, "port", v);
	ssl = imap_arg(store, acct, "SSLType", &line);
	if (!ssl)
		ssl = tunnel ? "None" : "STARTTLS"; /* mbsync's defaults */
	if (strcasecmp(ssl, "IMAPS") == 0)
		import_key(res, file, line, "tls", "implicit");
	else if (strcasecmp(ssl, "STARTTLS") == 0)
		import_key(res, file, line, "tls", "starttls");
	else if (strcasecmp(ssl, "None") == 0 && !tunnel)
		import_key(res, file, line, "tls", "none");
	else if (strcasecmp(ssl, "None") != 0)
		import_note(res, file, line, "SSLType", "'%s' is not None, STARTTLS or IMAPS", ssl);
	if ((v = imap_arg(store, acct, "User", &line)))
		import_key(res, file, line, "user", v);
	if ((v = imap_arg(store, acct, "PassCmd", &line)))
		import_key(res, file, line, "password_command", command_of(v));
	else if ((v = imap_arg(store, acct, "Pass", &line)))
		import_key(res, file, line, "password", v);
	else
		import_note(
		    res, file, store->line, store->name,
		    "no Pass or PassCmd: mbsync asks for the password, ferry needs password "
		    "or password_command");
	if ((v = imap_arg(store, acct, "CertificateFile", &line))) {
		import_key(res, file, line, "ca_file", v);
		import_note(res, file, line, "CertificateFile",
			    "mapped to ca_file, which ferry trusts INSTEAD of the system's "
			    "certificates (mbsync: in addition)");
	}
	if ((v = imap_arg(store, acct, "Timeout", &line))) {
		int t = atoi(v);

		if (t >= 1 && t <= 3600)
			import_key(res, file, line, "timeout", v);
		else
			import_note(res, file, line, "Timeout",
				    "not mapped: ferry takes 1 to 3600 seconds, not '%s'", v);
	}
	imap_auth(res, file, store, acct);
	if ((v = arg1(store, "Path")))
		import_key(res, file, line_of(store, "Path"), "prefix", v);
	if ((v = arg1(store, "UseNamespace")) && strcasecmp(v, "no") == 0 && !arg1(store, "Path"))
		import_note(
		    res, file, line_of(store, "UseNamespace"), "UseNamespace",
		    "not mapped: ferry uses the server's NAMESPACE (set prefix to override)");
	else
		find(store, "UseNamespace");
	return true;
}

/* mbsync's Path of a Maildir store is a prefix: a directory only when it
 * ends with '/'. Returns the directory without the slash, malloc'd. */
static char *dir_of(const char *path)
{
	size_t n = strlen(path);

	if (n < 2 || path[n - 1] != '/')
		return NULL;
	return strndup(path, n - 1);
}

static bool same_dir(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);

	while (na > 1 && a[na - 1] == '/')
		na--;
	while (nb > 1 && b[nb - 1] == '/')
		nb--;
	return na == nb && strncmp(a, b, na) == 0;
}

static bool write_maildir(struct import_result *res, const char *file, struct mb_section *store)
{
	const char *path = arg1(store, "Path"), *inbox = arg1(store, "Inbox");
	const char *style = arg1(store, "SubFolders");
	int line = line_of(store, "SubFolders");
	char *root = NULL, *expect = NULL;
	bool ok = false;

	if (!inbox)
		inbox = "~/Maildir"; /* mbsync's default */
	if (style && strcasecmp(style, "Maildir++") == 0) {
		/* Folders are .a.b inside the INBOX's directory. */
		strbuf_addf(&res->conf, "\n[maildir %s]\n", store->name);
		import_key(res, file, line_of(store, "Inbox"), "path", inbox);
		import_key(res, file, line, "layout", "maildir++");
		return true;
	}
	if (style && strcasecmp(style, "Verbatim") != 0 && strcasecmp(style, "Legacy") != 0) {
		import_note(res, file, line, "SubFolders",
			    "'%s' is not Verbatim, Maildir++ or Legacy; store '%s' left out", style,
			    store->name);
		return false;
	}
	if (!path || !(root = dir_of(path))) {
		import_note(res, file, path ? line_of(store, "Path") : store->line, store->name,
			    path
				? "Path '%s' does not end with '/': ferry needs a directory; store "
				  "left out"
				: "no Path%s: store left out",
			    path ? path : "");
		return false;
	}
	expect = malloc(strlen(root) + sizeof("/INBOX"));
	if (expect)
		strcat(strcpy(expect, root), "/INBOX");
	if (!expect || !same_dir(inbox, expect)) {
		import_note(res, file, line_of(store, "Inbox"), "Inbox",
			    "'%s' is not '%s': ferry keeps INBOX in the folder tree; move it there "
			    "(or sync it in a channel of its own); store '%s' left out",
			    inbox, expect ? expect : "", store->name);
		goto out;
	}
	strbuf_addf(&res->conf, "\n[maildir %s]\n", store->name);
	import_key(res, file, line_of(store, "Path"), "path", root);
	import_key(res, file, line, "layout",
		   style && strcasecmp(style, "Legacy") == 0 ? "legacy" : "verbatim");
	ok = true;
out:
	free(root);
	free(expect);
	return ok;
}

/* ---- channels ---- */

enum { DIR_PULL, DIR_PUSH };
enum { T_NEW, T_RENEW, T_DELETE, T_FLAGS, T_N };

static const char *const type_words[T_N] = {"New", "ReNew", "Delete", "Flags"};

/* mbsync's Sync: direction and type flags, or compounds (PullNew). Returns
 * -1 for a word it does not know. */
static int sync_cells(struct mb_line *l, bool cells[2][T_N])
{
	bool dir[2] = {false, false}, type[T_N] = {false}, compound = false, any_type = false;

	memset(cells, 0, sizeof(bool) * 2 * T_N);
	if (!l) {
		memset(cells, 1, sizeof(bool) * 2 * T_N);
		return 0;
	}
	for (size_t i = 0; i < l->nargs; i++) {
		const char *w = l->args[i];
		int d = -1;

		if (strcasecmp(w, "All") == 0 || strcasecmp(w, "Full") == 0) {
			memset(cells, 1, sizeof(bool) * 2 * T_N);
			return 0;
		}
		if (strcasecmp(w, "None") == 0 || strcasecmp(w, "Noop") == 0)
			return 0;
		if (strncasecmp(w, "Pull", 4) == 0)
			d = DIR_PULL;
		else if (strncasecmp(w, "Push", 4) == 0)
			d = DIR_PUSH;
		if (d >= 0 && !w[4]) {
			dir[d] = true;
			continue;
		}
		for (int t = 0; t < T_N; t++) {
			const char *rest = d >= 0 ? w + 4 : w;

			if (strcasecmp(rest, type_words[t]) != 0)
				continue;
			if (d >= 0) {
				cells[d][t] = true;
				compound = true;
			} else {
				type[t] = true;
				any_type = true;
			}
			goto next;
		}
		return -1;
	next:;
	}
	if (!compound) {
		bool both = !dir[DIR_PULL] && !dir[DIR_PUSH];

		for (int d = 0; d < 2; d++)
			for (int t = 0; t < T_N; t++)
				cells[d][t] = (both || dir[d]) && (!any_type || type[t]);
		return 0;
	}
	for (int d = 0; d < 2; d++)
		for (int t = 0; t < T_N; t++)
			cells[d][t] |= dir[d] || type[t];
	return 0;
}

/* None|Far|Near|Both (and Master|Slave) as bits: 1 far, 2 near. */
static int side_bits(const char *v)
{
	if (!v || strcasecmp(v, "None") == 0)
		return 0;
	if (strcasecmp(v, "Far") == 0 || strcasecmp(v, "Master") == 0)
		return 1;
	if (strcasecmp(v, "Near") == 0 || strcasecmp(v, "Slave") == 0)
		return 2;
	if (strcasecmp(v, "Both") == 0)
		return 3;
	return -1;
}

static const char *const side_words[4] = {"none", "far", "near", "both"};

/* A channel option from the channel, else from the lines before any
 * section. */
static struct mb_line *chan_opt(struct mb_section *ch, struct mb_section *global, const char *key)
{
	struct mb_line *l = find(ch, key);

	return l ? l : find(global, key);
}

/* ":store:box" -> store and box (malloc'd into *store; box points into it). */
static bool split_ref(const char *ref, char **store, const char **box)
{
	const char *colon;

	if (ref[0] != ':' || !(colon = strchr(ref + 1, ':')))
		return false;
	*store = strdup(ref + 1);
	if (!*store)
		return false;
	(*store)[colon - ref - 1] = '\0';
	*box = *store + (colon - ref);
	return true;
}

static void write_patterns(struct import_result *res, const char *file, struct mb_section *ch,
			   const char *box)
{
	struct strbuf sb = {0};
	int line = ch->line;

	for (size_t i = 0; i < ch->n; i++) {
		struct mb_line *l = &ch->v[i];

		if (!is_key(l->key, "Pattern") && !is_key(l->key, "Patterns"))
			continue;
		l->used = true;
		line = l->line;
		for (size_t k = 0; k < l->nargs; k++) {
			const char *pat = l->args[k];
			bool neg = pat[0] == '!';

			if (strchr(pat, '%'))
				import_note(
				    res, file, l->line, "Patterns",
				    "'%s': ferry's '*' also matches subfolders and it has no "
				    "'%%'; written with '*'",
				    pat);
			strbuf_addf(&sb, "%s%s", sb.len ? " " : "", neg ? "!" : "");
			pat += neg;
			if (strpbrk(pat, " \t\""))
				strbuf_addf(&sb, "\"%s\"", pat);
			else
				strbuf_adds(&sb, pat);
			if (sb.len)
				for (char *c = sb.s + sb.len - strlen(pat); *c; c++)
					if (*c == '%')
						*c = '*';
		}
	}
	if (sb.len)
		import_key(res, file, line, "folders", sb.s);
	else
		import_key(res, file, line, "folders", *box ? box : "INBOX");
	strbuf_free(&sb);
}

static bool has_patterns(struct mb_section *ch)
{
	for (size_t i = 0; i < ch->n; i++)
		if (is_key(ch->v[i].key, "Pattern") || is_key(ch->v[i].key, "Patterns"))
			return true;
	return false;
}

static void write_sync(struct import_result *res, const char *file, struct mb_section *ch,
		       struct mb_section *global, bool *skip)
{
	struct mb_line *l = chan_opt(ch, global, "Sync"), *e = chan_opt(ch, global, "Expunge");
	int line = l ? l->line : ch->line, expunge = side_bits(e ? e->args[0] : NULL), del = 0;
	bool cells[2][T_N], on[2];

	if (sync_cells(l, cells) < 0) {
		import_note(res, file, line, "Sync",
			    "a word mbsync does not know; channel left out");
		*skip = true;
		return;
	}
	for (int d = 0; d < 2; d++) {
		on[d] = cells[d][T_NEW] || cells[d][T_FLAGS] || cells[d][T_DELETE];
		if (on[d] && (!cells[d][T_NEW] || !cells[d][T_FLAGS]))
			import_note(res, file, line, "Sync",
				    "ferry always carries new messages and flags in a direction it "
				    "syncs (%s)",
				    d == DIR_PULL ? "pull" : "push");
	}
	if (!on[DIR_PULL] && !on[DIR_PUSH]) {
		import_note(res, file, line, "Sync", "None: nothing to sync; channel left out");
		*skip = true;
		return;
	}
	import_key(res, file, line, "sync",
		   on[DIR_PULL] && on[DIR_PUSH] ? "both"
		   : on[DIR_PULL]		? "pull"
						: "push");
	if (expunge < 0) {
		import_note(res, file, e->line, "Expunge", "'%s' is not None, Far, Near or Both",
			    e->args[0]);
		expunge = 0;
	}
	/* A deletion pulled is carried out on near; mbsync only flags it
	 * \Deleted there unless Expunge covers near. ferry has no flag-only
	 * deletion: it deletes where both agree, and says where it does not. */
	if (cells[DIR_PULL][T_DELETE])
		del |= 2;
	if (cells[DIR_PUSH][T_DELETE])
		del |= 1;
	if (del & ~expunge)
		import_note(res, file, e ? e->line : line, "Expunge",
			    "mbsync flags deletions \\Deleted on %s without expunging; ferry "
			    "carries deletions out or not at all, so it leaves them out there (set "
			    "delete = %s to carry them out)",
			    side_words[del & ~expunge], side_words[del]);
	import_key(res, file, e ? e->line : line, "delete", side_words[del & expunge]);
}

static void write_side_opt(struct import_result *res, const char *file, struct mb_section *ch,
			   struct mb_section *global, const char *key, const char *ferry_key)
{
	struct mb_line *l = chan_opt(ch, global, key);
	int bits = side_bits(l ? l->args[0] : NULL);

	if (bits < 0) {
		import_note(res, file, l->line, key, "'%s' is not None, Far, Near or Both",
			    l->args[0]);
		bits = 0;
	}
	import_key(res, file, l ? l->line : ch->line, ferry_key, side_words[bits]);
}

/* MaxSize of the channel, else of its stores (mbsync propagates a
 * placeholder above it; ferry skips the message). */
static void write_max_size(struct import_result *res, const char *file, struct mb_section *ch,
			   struct mb_section *global, struct mb_section *stores[2])
{
	struct mb_line *l = chan_opt(ch, global, "MaxSize");
	char buf[32];
	size_t n;

	for (int i = 0; i < 2 && !l; i++)
		l = find(stores[i], "MaxSize");
	if (!l)
		return;
	n = strlen(l->args[0]);
	snprintf(buf, sizeof(buf), "%s", l->args[0]);
	if (n > 0 && n < sizeof(buf) && toupper((unsigned char)buf[n - 1]) == 'B')
		buf[--n] = '\0'; /* "10mb" */
	if (strspn(buf, "0123456789") + (n > 0 && strchr("kKmM", buf[n - 1]) ? 1 : 0) != n || !n) {
		import_note(res, file, l->line, "MaxSize", "'%s' is not a size", l->args[0]);
		return;
	}
	import_key(res, file, l->line, "max_size", buf);
	if (strcmp(buf, "0") != 0)
		import_note(
		    res, file, l->line, "MaxSize",
		    "mbsync sends a placeholder for a bigger message; ferry does not copy it "
		    "(and says so)");
}

/* SubscribedOnly of either store (an IMAPStore's) is ferry's channel key. */
static void write_subscribed(struct import_result *res, const char *file,
			     struct mb_section *stores[2])
{
	for (int i = 0; i < 2; i++) {
		struct mb_line *l = find(stores[i], "SubscribedOnly");

		if (!l || l->nargs < 1)
			continue;
		if (strcasecmp(l->args[0], "yes") == 0 || strcasecmp(l->args[0], "true") == 0 ||
		    strcmp(l->args[0], "1") == 0) {
			import_key(res, file, l->line, "subscribed", "yes");
			return;
		}
	}
}

static void write_channel(struct import_result *res, struct mb_file *f, struct mb_section *ch,
			  struct mb_section *global, const bool *written)
{
	const char *file = f->file, *box[2];
	char *store[2] = {NULL, NULL};
	struct mb_section *st[2] = {NULL, NULL};
	static const char *const keys[2][2] = {{"Far", "Master"}, {"Near", "Slave"}};
	bool skip = false;
	size_t mark;

	for (int i = 0; i < 2; i++) {
		struct mb_line *l = find(ch, keys[i][0]);

		if (!l)
			l = find(ch, keys[i][1]);
		if (!l || !split_ref(l->args[0], &store[i], &box[i])) {
			import_note(res, file, l ? l->line : ch->line, l ? l->key : keys[i][0],
				    l ? "expected :store:[mailbox]; channel '%s' left out"
				      : "missing; channel '%s' left out",
				    ch->name);
			goto out;
		}
		st[i] = find_store(f, store[i]);
		if (!st[i] || !written[st[i] - f->s]) {
			import_note(res, file, l->line, l->key,
				    st[i]
					? "store '%s' was left out (above), so channel '%s' is too"
					: "no store '%s' in the file; channel '%s' left out",
				    store[i], ch->name);
			goto out;
		}
	}
	if (has_patterns(ch) ? (*box[0] || *box[1])
			     : strcasecmp(*box[0] ? box[0] : "INBOX", *box[1] ? box[1] : "INBOX")) {
		import_note(res, file, ch->line, ch->name,
			    has_patterns(ch)
				? "a mailbox prefix with Patterns: ferry pairs folders "
				  "by the same name on both sides; channel left out"
				: "different mailboxes on the two sides: ferry pairs "
				  "folders by the same name; channel left out");
		goto out;
	}
	if (!import_name_ok(ch->name)) {
		import_note(res, file, ch->line, ch->name,
			    "not a ferry channel name (letters, digits, '.', '_', '-'); left out");
		goto out;
	}
	/* Written into its own buffer first: a Sync that maps to nothing drops
	 * the whole section. */
	mark = res->conf.len;
	strbuf_addf(&res->conf, "\n[channel %s]\nfar = %s\nnear = %s\n", ch->name, store[0],
		    store[1]);
	write_patterns(res, file, ch, *box[0] ? box[0] : box[1]);
	write_sync(res, file, ch, global, &skip);
	if (skip) {
		res->conf.len = mark;
		if (res->conf.s)
			res->conf.s[mark] = '\0';
		goto out;
	}
	write_side_opt(res, file, ch, global, "Create", "create");
	write_side_opt(res, file, ch, global, "Remove", "remove");
	write_max_size(res, file, ch, global, st);
	write_subscribed(res, file, st);
out:
	free(store[0]);
	free(store[1]);
}

static void write_groups(struct import_result *res, struct mb_file *f)
{
	for (size_t i = 0; i < f->n; i++) {
		struct mb_section *g = &f->s[i];

		if (g->kind != MB_GROUP)
			continue;
		strbuf_addf(&res->conf, "\n# Group %s: ferry has no groups; run\n#   ferry sync",
			    g->name);
		for (size_t j = 0; j < g->n; j++) {
			if (!is_key(g->v[j].key, "Channel") && !is_key(g->v[j].key, "Channels"))
				continue;
			g->v[j].used = true;
			for (size_t k = 0; k < g->v[j].nargs; k++) {
				const char *a = g->v[j].args[k];

				strbuf_addf(&res->conf, " %s", a);
				if (strchr(a, ':'))
					import_note(res, f->file, g->v[j].line, "Channel",
						    "'%s': ferry sync takes CHANNEL:FOLDER, one "
						    "folder per argument",
						    a);
			}
		}
		strbuf_adds(&res->conf, "\n");
	}
}

int import_mbsync(const char *file, const char *text, struct import_result *res,
		  struct ferry_error *err)
{
	struct mb_file f = {.file = file};
	struct mb_section *global = NULL;
	bool *written = NULL;
	int r = -1;

	if (read_file(&f, text, err) != 0)
		goto out;
	written = calloc(f.n + 1, sizeof(*written));
	if (!written) {
		oom(err);
		goto out;
	}
	for (size_t i = 0; i < f.n; i++) {
		struct mb_section *s = &f.s[i];

		if (s->kind == MB_GLOBAL && !global)
			global = s;
		if (s->kind != MB_IMAPSTORE && s->kind != MB_MAILDIRSTORE)
			continue;
		if (!import_name_ok(s->name)) {
			import_note(res, file, s->line, s->name,
				    "not a ferry store name (letters, digits, '.', '_', '-'); left "
				    "out");
			continue;
		}
		written[i] =
		    s->kind == MB_IMAPSTORE ? write_imap(res, &f, s) : write_maildir(res, file, s);
	}
	/* Global lines before the first section, and any later run of them:
	 * mbsync takes them all as defaults. Merge them into the first. */
	for (size_t i = 0; global && i < f.n; i++) {
		struct mb_section *s = &f.s[i];

		if (s->kind != MB_GLOBAL || s == global)
			continue;
		for (size_t j = 0; j < s->n; j++) {
			struct mb_line *l = add_line(global, s->v[j].key, s->v[j].line);

			if (!l) {
				oom(err);
				goto out;
			}
			l->args = s->v[j].args;
			l->nargs = s->v[j].nargs;
			l->cap = s->v[j].cap;
			s->v[j] = (struct mb_line){0};
		}
		s->n = 0;
	}
	for (size_t i = 0; i < f.n; i++)
		if (f.s[i].kind == MB_CHANNEL)
			write_channel(res, &f, &f.s[i], global, written);
	write_groups(res, &f);
	for (size_t i = 0; i < f.n; i++)
		note_unused(res, file, &f.s[i]);
	r = res->conf.oom || res->notes.oom ? oom(err) : 0;
out:
	free(written);
	free_file(&f);
	return r;
}
