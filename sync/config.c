/* The configuration file: INI split by inih, each key checked by a parser
 * from a table per section kind, each section checked as a whole when it
 * ends, and channels tied to their stores once the whole file is read.
 *
 * inih as Debian builds it (r55) gives the handler no line number, cuts
 * section names at 50 bytes and lines at INI_MAX_LINE without a word, turns
 * an indented line into a continuation of the previous key, and never calls
 * the handler for a section without keys. So ferry reads the lines itself
 * (read_line): it counts them, refuses long ones, strips indentation and
 * handles section headers there. inih only splits "key = value" and strips
 * comments. */
#include "sync/config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ini.h>

#include "store/base/grow.h"
#include "store/imap/conf.h"
#include "store/log.h"
#include "store/maildir/conf.h"
#include "store/pop3/conf.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the parser's state ---- */

enum imap_key {
	IMAP_HOST,
	IMAP_PORT,
	IMAP_TLS,
	IMAP_USER,
	IMAP_PASSWORD,
	IMAP_PASSWORD_COMMAND,
	IMAP_AUTH,
	IMAP_CA_FILE,
	IMAP_FINGERPRINT,
	IMAP_TUNNEL,
	IMAP_CONNECTIONS,
	IMAP_TIMEOUT,
	IMAP_COMPRESS,
	IMAP_PREFIX,
	IMAP_NKEYS
};

enum maildir_key {
	MAILDIR_PATH,
	MAILDIR_LAYOUT,
	MAILDIR_SENT,
	MAILDIR_DRAFTS,
	MAILDIR_TRASH,
	MAILDIR_JUNK,
	MAILDIR_ARCHIVE,
	MAILDIR_NKEYS
};

enum channel_key {
	CHANNEL_FAR,
	CHANNEL_NEAR,
	CHANNEL_FOLDERS,
	CHANNEL_SYNC,
	CHANNEL_CREATE,
	CHANNEL_DELETE,
	CHANNEL_MAX_DELETE,
	CHANNEL_REMOVE,
	CHANNEL_STATE,
	CHANNEL_MAX_SIZE,
	CHANNEL_POST_SYNC,
	CHANNEL_WATCH,
	CHANNEL_INTERVAL,
	CHANNEL_MAX_AGE,
	CHANNEL_MAP,
	CHANNEL_ALL_MAIL,
	CHANNEL_SUBSCRIBED,
	CHANNEL_FOLDER,
	CHANNEL_PLACEHOLDERS,
	CHANNEL_NKEYS
};

#define MAX_KEYS 24
_Static_assert((int)IMAP_NKEYS <= MAX_KEYS && (int)MAILDIR_NKEYS <= MAX_KEYS &&
		   (int)CHANNEL_NKEYS <= MAX_KEYS,
	       "MAX_KEYS too small");

/* What a channel names until every store is known: a store may be defined
 * after the channels that use it. */
struct channel_refs {
	char *far, *near;
	int far_line, near_line, state_line; /* state_line 0: the default */
	/* Checked against the far store's kind once it is known (0: not given). */
	int sync_line, max_age_line, folder_line, map_line, folders_line;
	int placeholders_line;
};

struct section_kind;

struct parser {
	struct config *cfg;
	struct ferry_error *err;
	const char *file; /* cfg->path */

	FILE *in; /* lines come from in, or else from text */
	const char *text;
	char *buf;
	size_t bufsize;
	int line;

	bool failed; /* only the first error is reported */
	int fail_line;

	const struct section_kind *kind; /* NULL before the first section */
	char what[256];			 /* "[imap work]", for messages */
	int section_line;
	size_t index;		   /* into cfg->stores or cfg->channels */
	int key_line[MAX_KEYS];	   /* 0: not given in this section */
	const char *key;	   /* the key being parsed */
	struct channel_refs *refs; /* parallel to cfg->channels */
	/* Capacities of cfg->stores, cfg->channels and refs (grow_array). */
	size_t stores_cap, channels_cap, refs_cap;
};

typedef int (*key_parser)(struct parser *p, const char *value);

struct key_def {
	const char *name;
	key_parser parse;
};

struct section_kind {
	const char *name;
	const struct key_def *keys;
	size_t nkeys;
	int (*begin)(struct parser *p, const char *name);
	int (*finish)(struct parser *p);
};

struct word {
	const char *word;
	int value;
};

/* ---- errors ---- */

__attribute__((format(printf, 4, 0))) static int vfail(struct parser *p, int line, const char *what,
						       const char *fmt, va_list ap)
{
	char reason[512];

	if (p->failed)
		return -1;
	vsnprintf(reason, sizeof(reason), fmt, ap);
	p->failed = true;
	p->fail_line = line;
	if (line <= 0)
		ferry_error_set(p->err, FERRY_CAUSE_CONFIG, "%s: %s", p->file, reason);
	else if (!what)
		ferry_error_set(p->err, FERRY_CAUSE_CONFIG, "%s:%d: %s", p->file, line, reason);
	else
		ferry_error_set(p->err, FERRY_CAUSE_CONFIG, "%s:%d: %s: %s", p->file, line, what,
				reason);
	return -1;
}

/* "FILE:LINE: reason", or "FILE: reason" when line is 0. */
__attribute__((format(printf, 3, 4))) static int fail_line(struct parser *p, int line,
							   const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(p, line, NULL, fmt, ap);
	va_end(ap);
	return -1;
}

/* "FILE:LINE: WHAT: reason", WHAT being a key or "[section]". */
__attribute__((format(printf, 4, 5))) static int fail_at(struct parser *p, int line,
							 const char *what, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(p, line, what, fmt, ap);
	va_end(ap);
	return -1;
}

/* About the key being parsed, on the current line. */
__attribute__((format(printf, 2, 3))) static int fail_key(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(p, p->line, p->key, fmt, ap);
	va_end(ap);
	return -1;
}

/* About the current section as a whole, on its header's line. */
__attribute__((format(printf, 2, 3))) static int fail_section(struct parser *p, const char *fmt,
							      ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(p, p->section_line, p->what, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- small helpers ---- */

static void free_secret(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

/* cron jobs and systemd units may run without $HOME: fall back to passwd. */
static const char *home_dir(void)
{
	const char *home = getenv("HOME");
	const struct passwd *pw;

	if (home && *home)
		return home;
	pw = getpwuid(getuid());
	if (pw && pw->pw_dir && *pw->pw_dir)
		return pw->pw_dir;
	return NULL;
}

/* An XDG base directory counts only when absolute, as the spec says. */
static const char *xdg_dir(const char *var)
{
	const char *dir = getenv(var);

	return dir && dir[0] == '/' ? dir : NULL;
}

/* ferry_error_set for functions that return a pointer. */
__attribute__((format(printf, 3, 4))) static char *
null_error(struct ferry_error *err, enum ferry_cause cause, const char *fmt, ...)
{
	va_list ap;
	char msg[sizeof(err->msg)];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ferry_error_set(err, cause, "%s", msg);
	return NULL;
}

/* A malloc'd string, or NULL when out of memory. */
__attribute__((format(printf, 1, 2))) static char *format_string(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

static bool is_control(unsigned char c)
{
	/* A tab is blank, not a way to smuggle a command into IMAP or sh. */
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

static bool has_control(const char *s)
{
	for (; *s; s++) {
		if (is_control((unsigned char)*s))
			return true;
	}
	return false;
}

/* Digits only: no sign, blank or 0x, so "-1" or "1e3" are refused rather
 * than read as something else. */
static bool parse_digits(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t n = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (s[i] < '0' || s[i] > '9' || d > max || n > (max - d) / 10)
			return false;
		n = n * 10 + d;
	}
	*out = n;
	return true;
}

static const char *word_name(const struct word *words, size_t n, int value)
{
	for (size_t i = 0; i < n; i++) {
		if (words[i].value == value)
			return words[i].word;
	}
	return "?";
}

static int parse_word(struct parser *p, const char *value, const struct word *words, size_t n,
		      int *out)
{
	char list[128] = "";

	for (size_t i = 0; i < n; i++) {
		if (strcmp(words[i].word, value) == 0) {
			*out = words[i].value;
			return 0;
		}
	}
	for (size_t i = 0; i < n; i++) {
		strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
		strncat(list, words[i].word, sizeof(list) - strlen(list) - 1);
	}
	return fail_key(p, "'%s' is not one of: %s", value, list);
}

static int parse_range(struct parser *p, const char *value, int min, int max, int *out)
{
	uint64_t n;

	if (!parse_digits(value, strlen(value), (uint64_t)max, &n) || n < (uint64_t)min)
		return fail_key(p, "expected a number from %d to %d, not '%s'", min, max, value);
	*out = (int)n;
	return 0;
}

static int dup_value(struct parser *p, const char *value, char **out)
{
	*out = strdup(value);
	return *out ? 0 : fail_key(p, "out of memory");
}

/* A path is read relative to nothing: ferry runs from cron, systemd or any
 * directory, so a relative path would point somewhere different each time. */
static int parse_path(struct parser *p, const char *value, char **out)
{
	const char *why;
	char *path = config_expand_path(value, &why);

	if (!path)
		return fail_key(p, "%s", why);
	if (path[0] != '/') {
		free(path);
		return fail_key(p, "'%s' is not an absolute path (start it with /, ~ or $VAR)",
				value);
	}
	*out = path;
	return 0;
}

static struct store_conf *cur_store(struct parser *p)
{
	return &p->cfg->stores[p->index];
}

static struct imap_conf *cur_imap(struct parser *p)
{
	return &cur_store(p)->imap;
}

static struct channel_conf *cur_channel(struct parser *p)
{
	return &p->cfg->channels[p->index];
}

static struct channel_refs *cur_refs(struct parser *p)
{
	return &p->refs[p->index];
}

/* ---- [imap NAME] keys ---- */

static const struct word tls_words[] = {
    {"implicit", TLS_IMPLICIT},
    {"starttls", TLS_STARTTLS},
    {"none", TLS_NONE},
};

static const struct word auth_words[] = {
    {"auto", AUTH_AUTO},
    {"plain", AUTH_PLAIN},
    {"login", AUTH_LOGIN},
    {"xoauth2", AUTH_XOAUTH2},
    {"oauthbearer", AUTH_OAUTHBEARER},
};

static const struct word compress_words[] = {
    {"auto", COMPRESS_AUTO},
    {"yes", COMPRESS_YES},
    {"no", COMPRESS_NO},
};

static int parse_host(struct parser *p, const char *value)
{
	return dup_value(p, value, &cur_imap(p)->host);
}

static int parse_port(struct parser *p, const char *value)
{
	return parse_range(p, value, 1, 65535, &cur_imap(p)->port);
}

static int parse_tls(struct parser *p, const char *value)
{
	int v;

	if (parse_word(p, value, tls_words, NELEM(tls_words), &v) < 0)
		return -1;
	cur_imap(p)->tls = (enum tls_mode)v;
	return 0;
}

static int parse_user(struct parser *p, const char *value)
{
	return dup_value(p, value, &cur_imap(p)->user);
}

static int parse_password(struct parser *p, const char *value)
{
	return dup_value(p, value, &cur_imap(p)->password);
}

static int parse_password_command(struct parser *p, const char *value)
{
	return dup_value(p, value, &cur_imap(p)->password_command);
}

static int parse_auth(struct parser *p, const char *value)
{
	int v;

	if (parse_word(p, value, auth_words, NELEM(auth_words), &v) < 0)
		return -1;
	cur_imap(p)->auth = (enum auth_mech)v;
	return 0;
}

static int parse_ca_file(struct parser *p, const char *value)
{
	return parse_path(p, value, &cur_imap(p)->ca_file);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* As `openssl x509 -fingerprint -sha256` prints it (AB:CD:...), or as 64
 * plain hex digits (sha256sum); "sha256:" in front is optional. */
static bool parse_fingerprint_hex(const char *s, unsigned char out[32])
{
	bool colons;

	if (strncasecmp(s, "sha256:", 7) == 0)
		s += 7;
	colons = strlen(s) == 32 * 3 - 1;
	for (int i = 0; i < 32; i++) {
		int hi, lo;

		if (colons && i > 0 && *s++ != ':')
			return false;
		hi = hex_digit(s[0]);
		if (hi < 0)
			return false;
		lo = hex_digit(s[1]);
		if (lo < 0)
			return false;
		out[i] = (unsigned char)(hi << 4 | lo);
		s += 2;
	}
	return *s == '\0';
}

static int parse_fingerprint(struct parser *p, const char *value)
{
	struct imap_conf *c = cur_imap(p);

	if (!parse_fingerprint_hex(value, c->fingerprint))
		return fail_key(p, "expected a SHA-256 as 32 hex bytes, as in sha256:9F:86:D0:... "
				   "(openssl x509 -noout -fingerprint -sha256)");
	c->has_fingerprint = true;
	return 0;
}

static int parse_tunnel(struct parser *p, const char *value)
{
	return dup_value(p, value, &cur_imap(p)->tunnel);
}

static int parse_connections(struct parser *p, const char *value)
{
	return parse_range(p, value, 1, 32, &cur_imap(p)->connections);
}

static int parse_timeout(struct parser *p, const char *value)
{
	return parse_range(p, value, 1, 3600, &cur_imap(p)->timeout);
}

static int parse_compress(struct parser *p, const char *value)
{
	int v;

	if (parse_word(p, value, compress_words, NELEM(compress_words), &v) < 0)
		return -1;
	cur_imap(p)->compress = (enum compress_mode)v;
	return 0;
}

/* The prefix goes into every command that names a folder, as the server
 * spells it: printable ASCII (modified UTF-7 for the rest), and no LIST
 * wildcard, which would make LIST match what it should not. */
static int parse_prefix(struct parser *p, const char *value)
{
	for (const char *c = value; *c; c++) {
		if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
			return fail_key(p, "only printable ASCII, as the server spells it "
					   "(modified UTF-7 for other characters)");
		if (*c == '*' || *c == '%')
			return fail_key(p, "'*' and '%%' are LIST wildcards, not part of a "
					   "folder name");
	}
	return dup_value(p, value, &cur_imap(p)->prefix);
}

static const struct key_def imap_keys[IMAP_NKEYS] = {
    [IMAP_HOST] = {"host", parse_host},
    [IMAP_PORT] = {"port", parse_port},
    [IMAP_TLS] = {"tls", parse_tls},
    [IMAP_USER] = {"user", parse_user},
    [IMAP_PASSWORD] = {"password", parse_password},
    [IMAP_PASSWORD_COMMAND] = {"password_command", parse_password_command},
    [IMAP_AUTH] = {"auth", parse_auth},
    [IMAP_CA_FILE] = {"ca_file", parse_ca_file},
    [IMAP_FINGERPRINT] = {"fingerprint", parse_fingerprint},
    [IMAP_TUNNEL] = {"tunnel", parse_tunnel},
    [IMAP_CONNECTIONS] = {"connections", parse_connections},
    [IMAP_TIMEOUT] = {"timeout", parse_timeout},
    [IMAP_COMPRESS] = {"compress", parse_compress},
    [IMAP_PREFIX] = {"prefix", parse_prefix},
};

/* Of two keys that exclude each other, the one given last is the mistake. */
static int fail_either(struct parser *p, enum imap_key a, enum imap_key b)
{
	enum imap_key last = p->key_line[a] > p->key_line[b] ? a : b;

	return fail_at(p, p->key_line[last], imap_keys[last].name, "give either %s or %s, not both",
		       imap_keys[a].name, imap_keys[b].name);
}

/* The command speaks IMAP on its stdin and stdout: there is no address to
 * connect to and no TLS for ferry to verify. */
static int finish_tunnel(struct parser *p, struct imap_conf *c)
{
	static const enum imap_key pointless[] = {IMAP_PORT, IMAP_TLS, IMAP_CA_FILE,
						  IMAP_FINGERPRINT};

	if (p->key_line[IMAP_HOST])
		return fail_either(p, IMAP_HOST, IMAP_TUNNEL);
	for (size_t i = 0; i < NELEM(pointless); i++) {
		enum imap_key k = pointless[i];

		if (p->key_line[k])
			return fail_at(p, p->key_line[k], imap_keys[k].name,
				       "makes no sense with tunnel (IMAP runs over the command's "
				       "stdin and stdout)");
	}
	c->port = 0;
	c->tls = TLS_NONE;
	return 0;
}

/* 143 and 993 are the well-known ports of the two modes; the other one in
 * a config is almost always a half-finished edit that would hang or fail
 * the TLS handshake, so say which line to change. */
static int finish_port(struct parser *p, struct imap_conf *c)
{
	int line = p->key_line[IMAP_PORT];
	const char *tls = word_name(tls_words, NELEM(tls_words), (int)c->tls);

	if (!line) {
		c->port = c->tls == TLS_IMPLICIT ? 993 : 143;
		return 0;
	}
	if (c->tls == TLS_IMPLICIT && c->port == 143)
		return fail_at(p, line, "port",
			       "port 143 is for starttls or none, but tls = implicit "
			       "(set tls = starttls, or port = 993)");
	if (c->tls != TLS_IMPLICIT && c->port == 993)
		return fail_at(p, line, "port",
			       "port 993 is for implicit TLS, but tls = %s "
			       "(set tls = implicit, or port = 143)",
			       tls);
	return 0;
}

static int finish_direct(struct parser *p, struct imap_conf *c)
{
	if (!c->host)
		return fail_section(p, "missing key 'host' (or 'tunnel')");
	if (!c->user)
		return fail_section(p, "missing key 'user'");
	if (!c->password && !c->password_command)
		return fail_section(p, "missing key 'password' (or 'password_command')");
	return finish_port(p, c);
}

static int finish_imap(struct parser *p)
{
	struct imap_conf *c = cur_imap(p);

	if (c->password && c->password_command)
		return fail_either(p, IMAP_PASSWORD, IMAP_PASSWORD_COMMAND);
	if ((c->auth == AUTH_XOAUTH2 || c->auth == AUTH_OAUTHBEARER) && !c->password_command)
		return fail_at(p, p->key_line[IMAP_AUTH], "auth",
			       "%s needs password_command (to print the token)",
			       c->auth == AUTH_XOAUTH2 ? "xoauth2" : "oauthbearer");
	if (c->tunnel)
		return finish_tunnel(p, c);
	return finish_direct(p, c);
}

/* ---- [maildir NAME] keys ---- */

static const struct word layout_words[] = {
    {"verbatim", LAYOUT_VERBATIM},
    {"maildir++", LAYOUT_MAILDIRPP},
    {"legacy", LAYOUT_LEGACY},
    {"offlineimap", LAYOUT_OFFLINEIMAP},
};

static int parse_maildir_path(struct parser *p, const char *value)
{
	return parse_path(p, value, &cur_store(p)->maildir.path);
}

static int parse_layout(struct parser *p, const char *value)
{
	int v;

	if (parse_word(p, value, layout_words, NELEM(layout_words), &v) < 0)
		return -1;
	cur_store(p)->maildir.layout = (enum maildir_layout)v;
	return 0;
}

/* sent, drafts, trash, junk, archive: the folder that has that role here
 * (special-use pairing, sync/roles.c); a name, quoted or not. */
static int parse_role(struct parser *p, const char *value, size_t role)
{
	size_t len = strlen(value);
	char **out = &cur_store(p)->maildir.roles[role];

	/* Quotes are optional: the whole value is the name. */
	if (len > 2 && value[0] == '"' && value[len - 1] == '"' &&
	    !memchr(value + 1, '"', len - 2)) {
		if (!(*out = strndup(value + 1, len - 2)))
			return fail_key(p, "out of memory");
		return 0;
	}
	if (strchr(value, '"'))
		return fail_key(p, "expected one folder name (Sent, or \"Sent Items\"), not '%s'",
				value);
	return dup_value(p, value, out);
}

static int parse_sent(struct parser *p, const char *value)
{
	return parse_role(p, value, 0);
}

static int parse_drafts(struct parser *p, const char *value)
{
	return parse_role(p, value, 1);
}

static int parse_trash(struct parser *p, const char *value)
{
	return parse_role(p, value, 2);
}

static int parse_junk(struct parser *p, const char *value)
{
	return parse_role(p, value, 3);
}

static int parse_archive(struct parser *p, const char *value)
{
	return parse_role(p, value, 4);
}

static const struct key_def maildir_keys[MAILDIR_NKEYS] = {
    [MAILDIR_PATH] = {"path", parse_maildir_path},  [MAILDIR_LAYOUT] = {"layout", parse_layout},
    [MAILDIR_SENT] = {"sent", parse_sent},	    [MAILDIR_DRAFTS] = {"drafts", parse_drafts},
    [MAILDIR_TRASH] = {"trash", parse_trash},	    [MAILDIR_JUNK] = {"junk", parse_junk},
    [MAILDIR_ARCHIVE] = {"archive", parse_archive},
};

static int finish_maildir(struct parser *p)
{
	if (!cur_store(p)->maildir.path)
		return fail_section(p, "missing key 'path'");
	return 0;
}

/* ---- [channel NAME] keys ---- */

static const struct word sync_words[] = {
    {"both", SYNC_BOTH},
    {"pull", SYNC_PULL},
    {"push", SYNC_PUSH},
};

static const struct word side_words[] = {
    {"both", SIDE_BOTH},
    {"far", SIDE_FAR},
    {"near", SIDE_NEAR},
    {"none", SIDE_NONE},
};

static int parse_far(struct parser *p, const char *value)
{
	return dup_value(p, value, &cur_refs(p)->far);
}

static int parse_near(struct parser *p, const char *value)
{
	return dup_value(p, value, &cur_refs(p)->near);
}

static int add_pattern(struct channel_conf *ch, char *glob, bool exclude)
{
	/* The channel keeps no capacity: patterns are few, each one grows the
	 * array from its exact size. */
	size_t cap = ch->nfolders;
	struct folder_pattern *f = grow_array(ch->folders, &cap, ch->nfolders + 1, sizeof(*f));

	if (!f)
		return -1;
	ch->folders = f;
	f[ch->nfolders].glob = glob;
	f[ch->nfolders].exclude = exclude;
	ch->nfolders++;
	return 0;
}

/* One pattern: a run of non-blank characters and double-quoted parts, so
 * that "Sent Items" and "Sent Items"/Old are one pattern each. */
static int next_pattern(struct parser *p, const char **sp, char **out)
{
	const char *s = *sp;
	char *glob = malloc(strlen(s) + 1), *g = glob;
	bool quoted = false;

	if (!glob)
		return fail_key(p, "out of memory");
	for (; *s && (quoted || !isblank((unsigned char)*s)); s++) {
		if (*s == '"')
			quoted = !quoted;
		else
			*g++ = *s;
	}
	*g = '\0';
	if (quoted) {
		free(glob);
		return fail_key(p, "a double quote is not closed");
	}
	*sp = s;
	*out = glob;
	return 0;
}

static int parse_folders(struct parser *p, const char *value)
{
	struct channel_conf *ch = cur_channel(p);
	size_t includes = 0;

	for (const char *s = value + strspn(value, " \t"); *s; s += strspn(s, " \t")) {
		bool exclude = *s == '!';
		char *glob = NULL;

		s += exclude;
		if (next_pattern(p, &s, &glob) < 0)
			return -1;
		if (!*glob) {
			free(glob);
			return fail_key(p, exclude ? "'!' must be followed by a pattern"
						   : "an empty folder name");
		}
		if (add_pattern(ch, glob, exclude) < 0) {
			free(glob);
			return fail_key(p, "out of memory");
		}
		includes += !exclude;
	}
	/* Exclusions alone select nothing: surely a forgotten "*". */
	if (includes == 0)
		return fail_key(p, "no folder is included (start the list with *)");
	return 0;
}

static int parse_sync(struct parser *p, const char *value)
{
	int v;

	if (parse_word(p, value, sync_words, NELEM(sync_words), &v) < 0)
		return -1;
	cur_channel(p)->sync = (enum sync_dir)v;
	return 0;
}

static int parse_side(struct parser *p, const char *value, enum side_set *out)
{
	int v;

	if (parse_word(p, value, side_words, NELEM(side_words), &v) < 0)
		return -1;
	*out = (enum side_set)v;
	return 0;
}

static int parse_create(struct parser *p, const char *value)
{
	return parse_side(p, value, &cur_channel(p)->create);
}

static int parse_delete(struct parser *p, const char *value)
{
	return parse_side(p, value, &cur_channel(p)->delete);
}

static int parse_remove(struct parser *p, const char *value)
{
	return parse_side(p, value, &cur_channel(p)->remove);
}

static int parse_max_delete(struct parser *p, const char *value)
{
	struct channel_conf *ch = cur_channel(p);
	size_t len = strlen(value);
	bool percent = len > 0 && value[len - 1] == '%';
	uint64_t n;
	bool ok = percent ? parse_digits(value, len - 1, 100, &n)
			  : parse_digits(value, len, UINT_MAX, &n);

	if (!ok)
		return fail_key(p,
				"expected a percentage from 0%% to 100%% (50%%) or a number of "
				"messages (200), not '%s'",
				value);
	ch->max_delete_is_percent = percent;
	ch->max_delete = (unsigned)n;
	return 0;
}

static const struct {
	char unit;
	unsigned shift;
} size_units[] = {{'K', 10}, {'M', 20}, {'G', 30}};

static int parse_max_size(struct parser *p, const char *value)
{
	size_t len = strlen(value);
	unsigned shift = 0;
	uint64_t n;

	for (size_t i = 0; len > 0 && i < NELEM(size_units); i++) {
		if (toupper((unsigned char)value[len - 1]) == size_units[i].unit) {
			shift = size_units[i].shift;
			len--;
			break;
		}
	}
	if (!parse_digits(value, len, UINT64_MAX >> shift, &n))
		return fail_key(p,
				"expected a size in bytes with an optional K, M or G (25M), or 0 "
				"for no limit, not '%s'",
				value);
	cur_channel(p)->max_size = n << shift;
	return 0;
}

static int parse_state(struct parser *p, const char *value)
{
	return parse_path(p, value, &cur_channel(p)->state);
}

static int parse_post_sync(struct parser *p, const char *value)
{
	return dup_value(p, value, &cur_channel(p)->post_sync);
}

/* `watch`: folder names as `folders` spells them (quotes for blanks), no
 * patterns: each one is a connection of its own. */
static int parse_watch(struct parser *p, const char *value)
{
	struct channel_conf *ch = cur_channel(p);

	for (const char *s = value + strspn(value, " \t"); *s; s += strspn(s, " \t")) {
		char *name = NULL, **v;

		if (next_pattern(p, &s, &name) < 0)
			return -1;
		if (!*name || strpbrk(name, "*?[!")) {
			free(name);
			return fail_key(p, "expected folder names (INBOX \"Sent Items\"), not "
					   "patterns or empty names");
		}
		v = realloc(ch->watch, (ch->nwatch + 1) * sizeof(*v));
		if (!v) {
			free(name);
			return fail_key(p, "out of memory");
		}
		ch->watch = v;
		v[ch->nwatch++] = name;
	}
	if (ch->nwatch == 0)
		return fail_key(p, "expected at least one folder name (INBOX)");
	return 0;
}

/* `interval`: seconds, or a number with s, m or h (15m, 900, 1h). */
static int parse_interval(struct parser *p, const char *value)
{
	static const struct {
		char unit;
		unsigned mult;
	} units[] = {{'s', 1}, {'m', 60}, {'h', 3600}};
	size_t len = strlen(value);
	unsigned mult = 1;
	uint64_t n;

	for (size_t i = 0; len > 0 && i < NELEM(units); i++) {
		if (tolower((unsigned char)value[len - 1]) == units[i].unit) {
			mult = units[i].mult;
			len--;
			break;
		}
	}
	/* At most a week: beyond, a full sync never comes. */
	if (!parse_digits(value, len, 7 * 24 * 3600 / mult, &n) || n == 0)
		return fail_key(p,
				"expected a time from 1 s to a week: seconds (900) or a number "
				"with s, m or h (15m, 1h), not '%s'",
				value);
	cur_channel(p)->interval = (unsigned)n * mult;
	return 0;
}

/* Days (90, 90d), weeks (12w) or years (2y); 0: no window. At most 100
 * years: a window wider than mail has existed is none. */
static int parse_max_age(struct parser *p, const char *value)
{
	static const struct {
		char unit;
		unsigned days;
	} units[] = {{'d', 1}, {'w', 7}, {'y', 365}};
	size_t len = strlen(value);
	unsigned mult = 1;
	uint64_t n;

	for (size_t i = 0; len > 0 && i < NELEM(units); i++) {
		if (tolower((unsigned char)value[len - 1]) == units[i].unit) {
			mult = units[i].days;
			len--;
			break;
		}
	}
	if (!parse_digits(value, len, 100 * 365 / mult, &n))
		return fail_key(p,
				"expected an age in days (90), or a number with d, w or y (90d, "
				"12w, 2y), or 0 for all messages, not '%s'",
				value);
	cur_channel(p)->max_age = (unsigned)n * mult;
	return 0;
}

/* One folder name of `map`: quoted, or up to a blank, '=' or ','. Malloc'd
 * into *out; *sp moves past it. */
static int next_map_name(struct parser *p, const char **sp, char **out)
{
	const char *s = *sp + strspn(*sp, " \t");
	size_t len;

	if (*s == '"') {
		const char *end = strchr(s + 1, '"');

		if (!end)
			return fail_key(p, "a double quote is not closed");
		len = (size_t)(end - s - 1);
		*out = strndup(s + 1, len);
		*sp = end + 1;
	} else {
		len = strcspn(s, " \t=,\"");
		*out = strndup(s, len);
		*sp = s + len;
	}
	if (!*out)
		return fail_key(p, "out of memory");
	if (len == 0) {
		free(*out);
		*out = NULL;
		return fail_key(p, "expected FAR = NEAR pairs separated by commas "
				   "(\"[Gmail]/Sent Mail\" = Sent), but a folder name is missing");
	}
	return 0;
}

/* `map = FAR = NEAR, FAR = NEAR...`: explicit pairs; a folder in two pairs
 * would be synced into two places. */
static int parse_map(struct parser *p, const char *value)
{
	struct channel_conf *ch = cur_channel(p);

	for (const char *s = value;;) {
		struct folder_map m = {.line = p->line};
		struct folder_map *v;

		if (next_map_name(p, &s, &m.far) < 0)
			return -1;
		s += strspn(s, " \t");
		if (*s != '=') {
			int r = fail_key(p, "expected '=' after \"%s\" (FAR = NEAR)", m.far);

			free(m.far);
			return r;
		}
		s++;
		if (next_map_name(p, &s, &m.near) < 0) {
			free(m.far);
			return -1;
		}
		for (size_t i = 0; i < ch->nmap; i++)
			if (strcmp(ch->map[i].far, m.far) == 0 ||
			    strcmp(ch->map[i].near, m.near) == 0) {
				int r = fail_key(p, "\"%s\" = \"%s\": a folder is in two pairs",
						 m.far, m.near);

				free(m.far);
				free(m.near);
				return r;
			}
		v = realloc(ch->map, (ch->nmap + 1) * sizeof(*v));
		if (!v) {
			free(m.far);
			free(m.near);
			return fail_key(p, "out of memory");
		}
		ch->map = v;
		v[ch->nmap++] = m;
		s += strspn(s, " \t");
		if (*s == '\0')
			return 0;
		if (*s != ',')
			return fail_key(p, "expected ',' or the end after a pair, not '%s'", s);
		s++;
	}
}

static const struct word yes_no_words[] = {
    {"yes", 1},
    {"no", 0},
};

static int parse_all_mail(struct parser *p, const char *value)
{
	int v;

	if (parse_word(p, value, yes_no_words, NELEM(yes_no_words), &v) < 0)
		return -1;
	cur_channel(p)->all_mail = v;
	return 0;
}

static int parse_subscribed(struct parser *p, const char *value)
{
	int v;

	if (parse_word(p, value, yes_no_words, NELEM(yes_no_words), &v) < 0)
		return -1;
	cur_channel(p)->subscribed = v;
	return 0;
}

/* `folder = NAME`: where a download-only far store's mail goes (checked
 * in check_download_only once the store is known). */
static int parse_folder(struct parser *p, const char *value)
{
	if (*value == '\0')
		return fail_key(p, "expected a folder name (INBOX, Lists/isp)");
	return dup_value(p, value, &cur_channel(p)->folder);
}

static int parse_placeholders(struct parser *p, const char *value)
{
	static const struct word words[] = {
	    {"no", PLACEHOLDERS_NO}, {"yes", PLACEHOLDERS_YES}, {"flagged", PLACEHOLDERS_FLAGGED}};
	int v;

	if (parse_word(p, value, words, NELEM(words), &v) < 0)
		return -1;
	cur_channel(p)->placeholders = (enum placeholder_mode)v;
	return 0;
}

static const struct key_def channel_keys[CHANNEL_NKEYS] = {
    [CHANNEL_FAR] = {"far", parse_far},
    [CHANNEL_NEAR] = {"near", parse_near},
    [CHANNEL_FOLDERS] = {"folders", parse_folders},
    [CHANNEL_SYNC] = {"sync", parse_sync},
    [CHANNEL_CREATE] = {"create", parse_create},
    [CHANNEL_DELETE] = {"delete", parse_delete},
    [CHANNEL_MAX_DELETE] = {"max_delete", parse_max_delete},
    [CHANNEL_REMOVE] = {"remove", parse_remove},
    [CHANNEL_STATE] = {"state", parse_state},
    [CHANNEL_MAX_SIZE] = {"max_size", parse_max_size},
    [CHANNEL_POST_SYNC] = {"post_sync", parse_post_sync},
    [CHANNEL_WATCH] = {"watch", parse_watch},
    [CHANNEL_INTERVAL] = {"interval", parse_interval},
    [CHANNEL_MAX_AGE] = {"max_age", parse_max_age},
    [CHANNEL_MAP] = {"map", parse_map},
    [CHANNEL_ALL_MAIL] = {"all_mail", parse_all_mail},
    [CHANNEL_SUBSCRIBED] = {"subscribed", parse_subscribed},
    [CHANNEL_FOLDER] = {"folder", parse_folder},
    [CHANNEL_PLACEHOLDERS] = {"placeholders", parse_placeholders},
};

/* $XDG_STATE_HOME/ferry/<channel>.sqlite. Malloc'd; NULL with why set. */
static char *default_state(const char *channel, const char **why)
{
	const char *dir = xdg_dir("XDG_STATE_HOME"), *home = home_dir();
	char *path;

	if (dir)
		path = format_string("%s/ferry/%s.sqlite", dir, channel);
	else if (home)
		path = format_string("%s/.local/state/ferry/%s.sqlite", home, channel);
	else
		path = NULL;
	if (!path)
		*why = dir || home ? "out of memory"
				   : "neither $XDG_STATE_HOME nor $HOME is set (set state)";
	return path;
}

static int finish_channel(struct parser *p)
{
	struct channel_conf *ch = cur_channel(p);
	struct channel_refs *refs = cur_refs(p);
	const char *why;

	if (!refs->far)
		return fail_section(p, "missing key 'far'");
	if (!refs->near)
		return fail_section(p, "missing key 'near'");
	if (strcmp(refs->far, refs->near) == 0)
		return fail_at(p, p->key_line[CHANNEL_NEAR], "near",
			       "far and near are the same store ('%s')", refs->near);
	refs->far_line = p->key_line[CHANNEL_FAR];
	refs->near_line = p->key_line[CHANNEL_NEAR];
	refs->state_line = p->key_line[CHANNEL_STATE];
	refs->sync_line = p->key_line[CHANNEL_SYNC];
	refs->max_age_line = p->key_line[CHANNEL_MAX_AGE];
	refs->folder_line = p->key_line[CHANNEL_FOLDER];
	refs->map_line = p->key_line[CHANNEL_MAP];
	refs->folders_line = p->key_line[CHANNEL_FOLDERS];
	if (ch->nfolders == 0) {
		char *glob = strdup("*");

		if (!glob || add_pattern(ch, glob, false) < 0) {
			free(glob);
			return fail_section(p, "out of memory");
		}
	}
	if (!ch->state && !(ch->state = default_state(ch->name, &why)))
		return fail_section(p, "%s", why);
	refs->placeholders_line = p->key_line[CHANNEL_PLACEHOLDERS];
	/* A placeholder stands for a message over the limit: without one,
	 * nothing would ever be one. */
	if (ch->placeholders != PLACEHOLDERS_NO && !ch->max_size)
		return fail_at(p, refs->placeholders_line, "placeholders",
			       "needs max_size (the size above which a message is a placeholder)");
	if (ch->placeholders != PLACEHOLDERS_NO && ch->sync == SYNC_PUSH)
		return fail_at(p, refs->placeholders_line, "placeholders",
			       "placeholders are made only far -> near, and sync = push copies "
			       "only near -> far");
	return 0;
}

/* ---- [pop3 NAME] keys ---- */

enum pop3_key {
	POP3_HOST,
	POP3_PORT,
	POP3_TLS,
	POP3_USER,
	POP3_PASSWORD,
	POP3_PASSWORD_COMMAND,
	POP3_AUTH,
	POP3_CA_FILE,
	POP3_FINGERPRINT,
	POP3_TUNNEL,
	POP3_TIMEOUT,
	POP3_KEEP,
	POP3_NKEYS
};

_Static_assert((int)POP3_NKEYS <= MAX_KEYS, "MAX_KEYS too small");

static struct pop3_conf *cur_pop3(struct parser *p)
{
	return &cur_store(p)->pop3;
}

/* "no" as the contract spells it; "none" as [imap] does. */
static const struct word pop3_tls_words[] = {
    {"implicit", TLS_IMPLICIT},
    {"starttls", TLS_STARTTLS},
    {"no", TLS_NONE},
    {"none", TLS_NONE},
};

static const struct word pop3_auth_words[] = {
    {"auto", POP3_AUTH_AUTO},
    {"user", POP3_AUTH_USER},
    {"apop", POP3_AUTH_APOP},
    {"plain", POP3_AUTH_PLAIN},
};

static int pop3_host(struct parser *p, const char *value)
{
	return dup_value(p, value, &cur_pop3(p)->host);
}

static int pop3_port(struct parser *p, const char *value)
{
	return parse_range(p, value, 1, 65535, &cur_pop3(p)->port);
}

static int pop3_tls(struct parser *p, const char *value)
{
	int v;

	if (parse_word(p, value, pop3_tls_words, NELEM(pop3_tls_words), &v) < 0)
		return -1;
	cur_pop3(p)->tls = (enum tls_mode)v;
	return 0;
}

static int pop3_user(struct parser *p, const char *value)
{
	return dup_value(p, value, &cur_pop3(p)->user);
}

static int pop3_password(struct parser *p, const char *value)
{
	return dup_value(p, value, &cur_pop3(p)->password);
}

static int pop3_password_command(struct parser *p, const char *value)
{
	return dup_value(p, value, &cur_pop3(p)->password_command);
}

static int pop3_auth(struct parser *p, const char *value)
{
	int v;

	if (parse_word(p, value, pop3_auth_words, NELEM(pop3_auth_words), &v) < 0)
		return -1;
	cur_pop3(p)->auth = (enum pop3_auth)v;
	return 0;
}

static int pop3_ca_file(struct parser *p, const char *value)
{
	return parse_path(p, value, &cur_pop3(p)->ca_file);
}

static int pop3_fingerprint(struct parser *p, const char *value)
{
	struct pop3_conf *c = cur_pop3(p);

	if (!parse_fingerprint_hex(value, c->fingerprint))
		return fail_key(p, "expected a SHA-256 as 32 hex bytes, as in sha256:9F:86:D0:... "
				   "(openssl x509 -noout -fingerprint -sha256)");
	c->has_fingerprint = true;
	return 0;
}

static int pop3_tunnel(struct parser *p, const char *value)
{
	return dup_value(p, value, &cur_pop3(p)->tunnel);
}

static int pop3_timeout(struct parser *p, const char *value)
{
	return parse_range(p, value, 1, 3600, &cur_pop3(p)->timeout);
}

/* yes (for ever), no (once delivered), or days (14, 14d) or weeks (2w)
 * after delivery, up to 100 years. */
static int pop3_keep(struct parser *p, const char *value)
{
	size_t len = strlen(value);
	int64_t mult = 86400;
	uint64_t n;

	if (strcasecmp(value, "yes") == 0) {
		cur_pop3(p)->keep_seconds = -1;
		return 0;
	}
	if (strcasecmp(value, "no") == 0) {
		cur_pop3(p)->keep_seconds = 0;
		return 0;
	}
	if (len > 0 && tolower((unsigned char)value[len - 1]) == 'w') {
		mult = 7 * 86400;
		len--;
	} else if (len > 0 && tolower((unsigned char)value[len - 1]) == 'd') {
		len--;
	}
	if (!parse_digits(value, len, (uint64_t)(100LL * 365 * 86400 / mult), &n))
		return fail_key(p,
				"expected yes, no, or a time after delivery in days (14, 14d) or "
				"weeks (2w), not '%s'",
				value);
	cur_pop3(p)->keep_seconds = (int64_t)n * mult;
	return 0;
}

static const struct key_def pop3_keys[POP3_NKEYS] = {
    [POP3_HOST] = {"host", pop3_host},
    [POP3_PORT] = {"port", pop3_port},
    [POP3_TLS] = {"tls", pop3_tls},
    [POP3_USER] = {"user", pop3_user},
    [POP3_PASSWORD] = {"password", pop3_password},
    [POP3_PASSWORD_COMMAND] = {"password_command", pop3_password_command},
    [POP3_AUTH] = {"auth", pop3_auth},
    [POP3_CA_FILE] = {"ca_file", pop3_ca_file},
    [POP3_FINGERPRINT] = {"fingerprint", pop3_fingerprint},
    [POP3_TUNNEL] = {"tunnel", pop3_tunnel},
    [POP3_TIMEOUT] = {"timeout", pop3_timeout},
    [POP3_KEEP] = {"keep", pop3_keep},
};

static int pop3_either(struct parser *p, enum pop3_key a, enum pop3_key b)
{
	enum pop3_key last = p->key_line[a] > p->key_line[b] ? a : b;

	return fail_at(p, p->key_line[last], pop3_keys[last].name, "give either %s or %s, not both",
		       pop3_keys[a].name, pop3_keys[b].name);
}

/* As for [imap]: 110 and 995 are the two modes' ports, and the other one is
 * a half-finished edit. */
static int pop3_finish_port(struct parser *p, struct pop3_conf *c)
{
	int line = p->key_line[POP3_PORT];

	if (!line) {
		c->port = c->tls == TLS_IMPLICIT ? 995 : 110;
		return 0;
	}
	if (c->tls == TLS_IMPLICIT && c->port == 110)
		return fail_at(p, line, "port",
			       "port 110 is for starttls or no, but tls = implicit "
			       "(set tls = starttls, or port = 995)");
	if (c->tls != TLS_IMPLICIT && c->port == 995)
		return fail_at(p, line, "port",
			       "port 995 is for implicit TLS, but tls = %s "
			       "(set tls = implicit, or port = 110)",
			       c->tls == TLS_STARTTLS ? "starttls" : "no");
	return 0;
}

static int finish_pop3(struct parser *p)
{
	static const enum pop3_key pointless[] = {POP3_PORT, POP3_TLS, POP3_CA_FILE,
						  POP3_FINGERPRINT};
	struct pop3_conf *c = cur_pop3(p);
	const char *why;

	if (c->password && c->password_command)
		return pop3_either(p, POP3_PASSWORD, POP3_PASSWORD_COMMAND);
	if (c->tunnel && c->host)
		return pop3_either(p, POP3_HOST, POP3_TUNNEL);
	if (!c->tunnel && !c->host)
		return fail_section(p, "missing key 'host' (or 'tunnel')");
	if (!c->user)
		return fail_section(p, "missing key 'user'");
	if (!c->password && !c->password_command)
		return fail_section(p, "missing key 'password' (or 'password_command')");
	/* The map lives beside the channels' states, named after the store. */
	{
		char *name = format_string("pop3-%s", cur_store(p)->name);

		if (!name)
			return fail_section(p, "out of memory");
		c->map = default_state(name, &why);
		free(name);
		if (!c->map)
			return fail_section(p, "cannot place the UIDL map: %s", why);
	}
	if (!c->tunnel)
		return pop3_finish_port(p, c);
	for (size_t i = 0; i < NELEM(pointless); i++) {
		enum pop3_key k = pointless[i];

		if (p->key_line[k])
			return fail_at(p, p->key_line[k], pop3_keys[k].name,
				       "makes no sense with tunnel (POP3 runs over the command's "
				       "stdin and stdout)");
	}
	c->port = 0;
	c->tls = TLS_NONE;
	return 0;
}

/* ---- sections ---- */

static int check_store_name(struct parser *p, const char *name)
{
	const struct store_conf *other = config_find_store(p->cfg, name);

	if (other)
		return fail_section(p, "a store named '%s' is already defined at line %d", name,
				    other->line);
	return 0;
}

static int begin_store(struct parser *p, const char *name, enum store_kind kind)
{
	struct config *cfg = p->cfg;
	struct store_conf *stores, *s;

	if (check_store_name(p, name) < 0)
		return -1;
	stores = grow_array(cfg->stores, &p->stores_cap, cfg->nstores + 1, sizeof(*stores));
	if (!stores)
		return fail_section(p, "out of memory");
	cfg->stores = stores;
	p->index = cfg->nstores++;
	s = memset(&stores[p->index], 0, sizeof(*s));
	s->kind = kind;
	s->file = p->file;
	s->line = p->line;
	s->name = strdup(name);
	return s->name ? 0 : fail_section(p, "out of memory");
}

static int begin_imap(struct parser *p, const char *name)
{
	struct imap_conf *c;

	if (begin_store(p, name, STORE_IMAP) < 0)
		return -1;
	c = cur_imap(p);
	c->tls = TLS_IMPLICIT;
	c->auth = AUTH_AUTO;
	c->connections = 4;
	c->timeout = 60;
	c->compress = COMPRESS_AUTO;
	return 0;
}

static int begin_pop3(struct parser *p, const char *name)
{
	struct pop3_conf *c;

	if (begin_store(p, name, STORE_POP3) < 0)
		return -1;
	c = cur_pop3(p);
	c->tls = TLS_IMPLICIT;
	c->auth = POP3_AUTH_AUTO;
	c->timeout = 60;
	c->keep_seconds = -1;
	return 0;
}

static int begin_maildir(struct parser *p, const char *name)
{
	if (begin_store(p, name, STORE_MAILDIR) < 0)
		return -1;
	cur_store(p)->maildir.layout = LAYOUT_VERBATIM;
	return 0;
}

static int grow_channels(struct parser *p)
{
	struct config *cfg = p->cfg;
	size_t n = cfg->nchannels + 1;
	struct channel_conf *channels;
	struct channel_refs *refs;

	channels = grow_array(cfg->channels, &p->channels_cap, n, sizeof(*channels));
	if (!channels)
		return -1;
	cfg->channels = channels;
	refs = grow_array(p->refs, &p->refs_cap, n, sizeof(*refs));
	if (!refs)
		return -1;
	p->refs = refs;
	p->index = cfg->nchannels++;
	memset(&channels[p->index], 0, sizeof(*channels));
	memset(&refs[p->index], 0, sizeof(*refs));
	return 0;
}

static int begin_channel(struct parser *p, const char *name)
{
	const struct channel_conf *other = config_find_channel(p->cfg, name);
	struct channel_conf *ch;

	if (other)
		return fail_section(p, "a channel named '%s' is already defined at line %d", name,
				    other->line);
	if (grow_channels(p) < 0)
		return fail_section(p, "out of memory");
	ch = cur_channel(p);
	ch->file = p->file;
	ch->line = p->line;
	ch->sync = SYNC_BOTH;
	ch->create = SIDE_BOTH;
	ch->delete = SIDE_BOTH;
	ch->remove = SIDE_NONE;
	ch->max_delete_is_percent = true;
	ch->max_delete = 50;
	ch->name = strdup(name);
	return ch->name ? 0 : fail_section(p, "out of memory");
}

static const struct section_kind section_kinds[] = {
    {"imap", imap_keys, IMAP_NKEYS, begin_imap, finish_imap},
    {"maildir", maildir_keys, MAILDIR_NKEYS, begin_maildir, finish_maildir},
    {"pop3", pop3_keys, POP3_NKEYS, begin_pop3, finish_pop3},
    {"channel", channel_keys, CHANNEL_NKEYS, begin_channel, finish_channel},
};

static const struct section_kind *find_kind(const char *name)
{
	for (size_t i = 0; i < NELEM(section_kinds); i++) {
		if (strcmp(section_kinds[i].name, name) == 0)
			return &section_kinds[i];
	}
	return NULL;
}

/* Names become file names (<channel>.sqlite) and appear in CHANNEL:FOLDER
 * on the command line, hence no '/', ':' or blanks, and no leading '-'. */
static int check_name(struct parser *p, const char *name)
{
	for (const char *s = name; *s; s++) {
		char c = *s;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';

		if (!ok)
			return fail_section(
			    p, "'%s' is not a valid name: use letters, digits, '.', '_' and '-'",
			    name);
	}
	if (name[0] == '-' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return fail_section(p,
				    "'%s' is not a valid name: it may not start with '-' "
				    "or be '.' or '..'",
				    name);
	return 0;
}

static char *trim(char *s)
{
	char *end;

	s += strspn(s, " \t");
	end = s + strlen(s);
	while (end > s && isblank((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* header: the line from its '['. */
static int begin_section(struct parser *p, const char *header)
{
	const char *close = strchr(header, ']'), *rest;
	const struct section_kind *kind;
	char text[256], *kind_word, *name;
	size_t len;

	if (p->kind && p->kind->finish(p) < 0)
		return -1;
	p->kind = NULL;
	if (!close)
		return fail_line(p, p->line, "a section header needs a closing ']'");
	rest = close + 1 + strspn(close + 1, " \t");
	if (*rest && *rest != ';' && *rest != '#')
		return fail_line(p, p->line, "unexpected text after ']'");
	len = (size_t)(close - header - 1);
	if (len >= sizeof(text))
		return fail_line(p, p->line, "the section header is too long");
	memcpy(text, header + 1, len);
	text[len] = '\0';
	kind_word = trim(text);
	p->section_line = p->line;
	snprintf(p->what, sizeof(p->what), "[%s]", kind_word);

	name = kind_word + strcspn(kind_word, " \t");
	if (*name)
		*name++ = '\0';
	name = trim(name);
	kind = find_kind(kind_word);
	if (!kind)
		return fail_section(p, "unknown section: expected [imap NAME], [maildir NAME], "
				       "[pop3 NAME] or [channel NAME]");
	if (!*name)
		return fail_section(p, "a section needs a name, as in [%s work]", kind->name);
	if (check_name(p, name) < 0 || kind->begin(p, name) < 0)
		return -1;
	p->kind = kind;
	memset(p->key_line, 0, sizeof(p->key_line));
	return 0;
}

/* ---- reading lines ---- */

/* Grows buf without leaving old copies of a line (maybe a password) behind. */
static int reserve(struct parser *p, size_t size)
{
	char *buf;

	if (size <= p->bufsize)
		return 0;
	buf = malloc(size);
	if (!buf)
		return -1;
	if (p->buf) {
		explicit_bzero(p->buf, p->bufsize);
		free(p->buf);
	}
	p->buf = buf;
	p->bufsize = size;
	return 0;
}

static ssize_t next_text_line(struct parser *p)
{
	const char *nl = strchr(p->text, '\n');
	size_t len = nl ? (size_t)(nl - p->text) + 1 : strlen(p->text);

	if (len == 0)
		return -1;
	if (reserve(p, len + 1) < 0) {
		fail_line(p, p->line + 1, "out of memory");
		return -1;
	}
	memcpy(p->buf, p->text, len);
	p->buf[len] = '\0';
	p->text += len;
	return (ssize_t)len;
}

/* The next line into p->buf with its terminator, or -1 at the end or after
 * a read error (then p->failed is set). */
static ssize_t next_line(struct parser *p)
{
	ssize_t len;

	if (!p->in)
		return next_text_line(p);
	errno = 0;
	len = getline(&p->buf, &p->bufsize, p->in);
	if (len < 0 && ferror(p->in))
		fail_line(p, 0, "cannot read: %s", strerror(errno ? errno : EIO));
	return len;
}

/* Drops "\n" or "\r\n"; a CR anywhere else is left for the value check. */
static size_t chomp(char *line, size_t len)
{
	if (len > 0 && line[len - 1] == '\n')
		line[--len] = '\0';
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	return len;
}

/* inih's reader: one whole line per call, as fgets would give it. */
static char *read_line(char *str, int num, void *stream)
{
	struct parser *p = stream;
	ssize_t got;
	size_t len;
	char *start;

	if (p->failed || (got = next_line(p)) < 0)
		return NULL;
	p->line++;
	if (strlen(p->buf) != (size_t)got) {
		fail_line(p, p->line, "the line contains a NUL byte");
		return NULL;
	}
	len = chomp(p->buf, (size_t)got);
	if (num <= 0 || len >= (size_t)num) {
		fail_line(p, p->line, "the line is too long (%zu bytes; at most %d)", len, num - 1);
		return NULL;
	}
	start = p->buf;
	if (p->line == 1 && strncmp(start, "\xEF\xBB\xBF", 3) == 0)
		start += 3;
	while (isspace((unsigned char)*start))
		start++;
	if (*start == '[' && begin_section(p, start) < 0)
		return NULL;
	memcpy(str, start, strlen(start) + 1);
	return str;
}

static const struct key_def *find_key(const struct section_kind *kind, const char *name)
{
	for (size_t i = 0; i < kind->nkeys; i++) {
		if (strcmp(kind->keys[i].name, name) == 0)
			return &kind->keys[i];
	}
	return NULL;
}

static int handle_key(struct parser *p, const char *key, const char *value)
{
	const struct key_def *def;
	size_t i;

	if (p->failed)
		return -1;
	p->key = key;
	if (!*key)
		return fail_line(p, p->line, "a key name is missing before '='");
	if (!p->kind)
		return fail_key(p, "outside of any section");
	def = find_key(p->kind, key);
	if (!def)
		return fail_key(p, "unknown key");
	i = (size_t)(def - p->kind->keys);
	if (p->key_line[i])
		return fail_key(p, "given twice in %s (first at line %d)", p->what, p->key_line[i]);
	p->key_line[i] = p->line;
	if (!value || !*value)
		return fail_key(p, "no value");
	if (has_control(value))
		return fail_key(p, "control character in the value");
	return def->parse(p, value);
}

/* inih's handler; section is ignored because read_line tracks sections. */
static int on_key(void *user, const char *section, const char *key, const char *value)
{
	(void)section;
	return handle_key(user, key, value) == 0;
}

/* ---- the whole file ---- */

static int resolve_store(struct parser *p, const char *name, int line, const char *key,
			 struct store_conf **out)
{
	*out = config_find_store(p->cfg, name);
	if (!*out)
		return fail_at(p, line, key, "no store named '%s'", name);
	return 0;
}

/* Two channels sharing a state database would each take the other's pairs
 * for their own, and lock each other out. */
static int check_state_unique(struct parser *p, size_t i)
{
	const struct channel_conf *ch = &p->cfg->channels[i];
	char what[128];

	for (size_t j = 0; j < i; j++) {
		const struct channel_conf *other = &p->cfg->channels[j];

		if (strcmp(ch->state, other->state) != 0)
			continue;
		if (p->refs[i].state_line)
			return fail_at(p, p->refs[i].state_line, "state",
				       "channel '%s' already uses %s", other->name, ch->state);
		snprintf(what, sizeof(what), "[channel %s]", ch->name);
		return fail_at(p, ch->line, what, "state %s is already used by channel '%s'",
			       ch->state, other->name);
	}
	return 0;
}

/* A store that can only be downloaded from (POP3): the far side of a pull
 * channel, nothing else. Its one folder goes into `folder` (an implicit map
 * of INBOX to it); only that pair is synced unless `folders` says more. */
static int check_download_only(struct parser *p, size_t i)
{
	struct channel_conf *ch = &p->cfg->channels[i];
	const struct channel_refs *r = &p->refs[i];
	struct folder_map *v;
	char *far, *near;

	if (store_conf_download_only(ch->near))
		return fail_at(p, r->near_line, "near",
			       "store '%s' can only be downloaded from: use it as far, with "
			       "sync = pull",
			       ch->near->name);
	if (!store_conf_download_only(ch->far)) {
		if (ch->folder)
			return fail_at(p, r->folder_line, "folder",
				       "only for a far store that can only be downloaded from "
				       "(POP3); '%s' is not one (use map)",
				       ch->far->name);
		return 0;
	}
	if (ch->sync != SYNC_PULL || !r->sync_line)
		return fail_at(p, r->sync_line ? r->sync_line : r->far_line, "sync",
			       "store '%s' can only be downloaded from: the channel needs "
			       "sync = pull",
			       ch->far->name);
	if (ch->max_age)
		return fail_at(p, r->max_age_line, "max_age",
			       "store '%s' gives no message dates (POP3): max_age cannot apply",
			       ch->far->name);
	/* A placeholder's original must stay on the server to be fetched,
	 * which keep cannot promise. */
	if (ch->placeholders != PLACEHOLDERS_NO)
		return fail_at(p, r->placeholders_line, "placeholders",
			       "store '%s' can only be downloaded from (POP3): its messages "
			       "arrive whole",
			       ch->far->name);
	if (ch->nmap)
		return fail_at(p, r->map_line, "map",
			       "store '%s' has one folder: say where it goes with folder = NAME",
			       ch->far->name);
	if (!ch->folder || strcmp(ch->folder, "INBOX") == 0)
		goto folders;
	far = strdup("INBOX");
	near = strdup(ch->folder);
	v = far && near ? malloc(sizeof(*v)) : NULL;
	if (!v) {
		free(far);
		free(near);
		return fail_at(p, ch->line, "[channel]", "out of memory");
	}
	v[0] = (struct folder_map){.far = far, .near = near, .line = r->folder_line};
	ch->map = v;
	ch->nmap = 1;
folders:
	/* The near store's other folders have nothing to pull from. */
	if (!r->folders_line) {
		free(ch->folders[0].glob);
		if (!(ch->folders[0].glob = strdup("INBOX")))
			return fail_at(p, ch->line, "[channel]", "out of memory");
	}
	return 0;
}

static int resolve_channels(struct parser *p)
{
	for (size_t i = 0; i < p->cfg->nchannels; i++) {
		struct channel_conf *ch = &p->cfg->channels[i];
		const struct channel_refs *r = &p->refs[i];

		if (resolve_store(p, r->far, r->far_line, "far", &ch->far) < 0 ||
		    resolve_store(p, r->near, r->near_line, "near", &ch->near) < 0 ||
		    check_download_only(p, i) < 0 || check_state_unique(p, i) < 0)
			return -1;
		/* `ferry fetch` replaces a placeholder in place, which only a
		 * Maildir can do (the same file name, the same uid). */
		if (ch->placeholders != PLACEHOLDERS_NO && ch->near->kind != STORE_MAILDIR)
			return fail_at(p, r->placeholders_line, "placeholders",
				       "the near store '%s' must be a Maildir", ch->near->name);
	}
	return 0;
}

static int parse_all(struct parser *p)
{
	int rc = ini_parse_stream(read_line, p, on_key, p);

	/* inih's own complaint (a line that is neither a section nor a key)
	 * counts if it came first: it keeps reading after one. */
	if (rc > 0 && (!p->failed || rc < p->fail_line)) {
		p->failed = false;
		return fail_line(p, rc, "expected 'key = value', '[section]' or a comment");
	}
	if (rc == -2 && !p->failed)
		return fail_line(p, 0, "out of memory");
	if (p->failed)
		return -1;
	if (p->kind && p->kind->finish(p) < 0)
		return -1;
	return resolve_channels(p);
}

static void parser_free(struct parser *p)
{
	if (p->buf)
		explicit_bzero(p->buf, p->bufsize);
	free(p->buf);
	for (size_t i = 0; p->refs && i < p->cfg->nchannels; i++) {
		free(p->refs[i].far);
		free(p->refs[i].near);
	}
	free(p->refs);
}

static int load(const char *name, FILE *in, const char *text, struct config *cfg,
		struct ferry_error *err)
{
	struct parser p = {.cfg = cfg, .err = err, .in = in, .text = text};
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	cfg->path = strdup(name);
	if (!cfg->path)
		return ferry_error_set(err, FERRY_CAUSE_CONFIG, "%s: out of memory", name);
	p.file = cfg->path;
	rc = parse_all(&p);
	parser_free(&p);
	if (rc < 0)
		config_free(cfg);
	return rc;
}

static bool has_literal_password(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->nstores; i++) {
		if (cfg->stores[i].kind == STORE_IMAP && cfg->stores[i].imap.password)
			return true;
		if (cfg->stores[i].kind == STORE_POP3 && cfg->stores[i].pop3.password)
			return true;
	}
	return false;
}

static void warn_if_readable(FILE *f, const struct config *cfg)
{
	struct stat st;

	if (!has_literal_password(cfg))
		return;
	/* Not worth failing a run over: the warning is advice. */
	if (fstat(fileno(f), &st) < 0)
		return;
	if (st.st_mode & (S_IRGRP | S_IROTH))
		log_warn("%s contains a password and other users can read it; run: chmod 600 %s",
			 cfg->path, cfg->path);
}

/* The config names commands ferry runs (password_command, tunnel): a file
 * another user can change is theirs to run code as this user, so it is
 * refused, as ssh refuses such a config. root may own it (a system file). */
static int check_owner_only(FILE *f, const char *path, struct ferry_error *err)
{
	struct stat st;

	if (fstat(fileno(f), &st) < 0)
		return ferry_error_set(err, FERRY_CAUSE_CONFIG, "%s: cannot stat: %s", path,
				       strerror(errno));
	if (st.st_uid != geteuid() && st.st_uid != 0)
		return ferry_error_set(err, FERRY_CAUSE_CONFIG,
				       "%s: owned by another user (uid %ld), who could make ferry "
				       "run any command; refused (run: chown %ld %s)",
				       path, (long)st.st_uid, (long)geteuid(), path);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return ferry_error_set(err, FERRY_CAUSE_CONFIG,
				       "%s: other users can write it and so make ferry run any "
				       "command; refused (run: chmod go-w %s)",
				       path, path);
	return 0;
}

int config_load(const char *path, struct config *cfg, struct ferry_error *err)
{
	FILE *f = fopen(path, "re");
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	if (!f)
		return ferry_error_set(err, FERRY_CAUSE_CONFIG, "%s: cannot read: %s", path,
				       strerror(errno));
	if (check_owner_only(f, path, err) != 0) {
		fclose(f);
		return -1;
	}
	rc = load(path, f, NULL, cfg, err);
	if (rc == 0)
		warn_if_readable(f, cfg);
	fclose(f);
	return rc;
}

int config_load_string(const char *name, const char *text, struct config *cfg,
		       struct ferry_error *err)
{
	return load(name, NULL, text ? text : "", cfg, err);
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->nstores; i++) {
		struct store_conf *s = &cfg->stores[i];

		free(s->name);
		if (s->kind == STORE_MAILDIR) {
			free(s->maildir.path);
			for (size_t r = 0; r < MAILDIR_ROLES; r++)
				free(s->maildir.roles[r]);
			continue;
		}
		if (s->kind == STORE_POP3) {
			free(s->pop3.host);
			free(s->pop3.user);
			free_secret(s->pop3.password);
			free(s->pop3.password_command);
			free(s->pop3.ca_file);
			free(s->pop3.tunnel);
			free(s->pop3.map);
			continue;
		}
		free(s->imap.host);
		free(s->imap.user);
		free_secret(s->imap.password);
		free(s->imap.password_command);
		free(s->imap.ca_file);
		free(s->imap.tunnel);
		free(s->imap.prefix);
	}
	free(cfg->stores);
	for (size_t i = 0; i < cfg->nchannels; i++) {
		struct channel_conf *ch = &cfg->channels[i];

		free(ch->name);
		for (size_t j = 0; j < ch->nfolders; j++)
			free(ch->folders[j].glob);
		free(ch->folders);
		free(ch->state);
		free(ch->post_sync);
		for (size_t j = 0; j < ch->nwatch; j++)
			free(ch->watch[j]);
		free(ch->watch);
		for (size_t j = 0; j < ch->nmap; j++) {
			free(ch->map[j].far);
			free(ch->map[j].near);
		}
		free(ch->map);
		free(ch->folder);
	}
	free(cfg->channels);
	free(cfg->path);
	memset(cfg, 0, sizeof(*cfg));
}

struct store_conf *config_find_store(const struct config *cfg, const char *name)
{
	for (size_t i = 0; cfg && name && i < cfg->nstores; i++) {
		if (strcmp(cfg->stores[i].name, name) == 0)
			return &cfg->stores[i];
	}
	return NULL;
}

struct channel_conf *config_find_channel(const struct config *cfg, const char *name)
{
	for (size_t i = 0; cfg && name && i < cfg->nchannels; i++) {
		if (strcmp(cfg->channels[i].name, name) == 0)
			return &cfg->channels[i];
	}
	return NULL;
}

/* ---- the default path ---- */

char *config_default_path(const char *cli_path, struct ferry_error *err)
{
	const char *env = getenv("FERRY_CONFIG"), *xdg = xdg_dir("XDG_CONFIG_HOME"), *home;
	char *path;

	if (cli_path && *cli_path)
		path = strdup(cli_path);
	else if (env && *env)
		path = strdup(env);
	else if (xdg)
		path = format_string("%s/ferry/config", xdg);
	else if ((home = home_dir()))
		path = format_string("%s/.config/ferry/config", home);
	else
		return null_error(err, FERRY_CAUSE_CONFIG,
				  "cannot find the configuration: $HOME is not set (use -c FILE)");
	if (!path)
		return null_error(err, FERRY_CAUSE_CONFIG, "out of memory");
	return path;
}

/* ---- path expansion ---- */

static size_t var_name_len(const char *s)
{
	size_t n = 0;

	if (!isalpha((unsigned char)*s) && *s != '_')
		return 0;
	while (isalnum((unsigned char)s[n]) || s[n] == '_')
		n++;
	return n;
}

/* The reason names the variable, so it cannot be a literal; one per thread
 * is enough since callers read it before expanding again. */
static _Thread_local char why_buf[160];

/* *sp at a '$': appends the variable's value and moves past its name. */
static int expand_var(struct strbuf *sb, const char **sp, const char **why)
{
	const char *s = *sp + 1, *value;
	char name[128];
	size_t len;

	if (*s == '{') {
		len = var_name_len(++s);
		if (len == 0 || s[len] != '}') {
			*why = "${ must enclose a variable name and end with }";
			return -1;
		}
		*sp = s + len + 1;
	} else {
		len = var_name_len(s);
		*sp = s + len;
		/* A '$' not followed by a name is an ordinary character. */
		if (len == 0) {
			strbuf_add(sb, "$", 1);
			return 0;
		}
	}
	if (len >= sizeof(name)) {
		*why = "a variable name is too long";
		return -1;
	}
	memcpy(name, s, len);
	name[len] = '\0';
	value = getenv(name);
	if (!value) {
		snprintf(why_buf, sizeof(why_buf), "$%s is not set", name);
		*why = why_buf;
		return -1;
	}
	strbuf_add(sb, value, strlen(value));
	return 0;
}

char *config_expand_path(const char *in, const char **why)
{
	struct strbuf sb = {0};
	const char *s = in, *dummy;

	if (!why)
		why = &dummy;
	if (s[0] == '~' && (s[1] == '/' || s[1] == '\0')) {
		const char *home = home_dir();

		if (!home) {
			*why = "~: $HOME is not set";
			return NULL;
		}
		strbuf_add(&sb, home, strlen(home));
		s++;
	}
	strbuf_add(&sb, "", 0); /* "" in, "" out, not NULL */
	while (*s) {
		size_t n = strcspn(s, "$");

		strbuf_add(&sb, s, n);
		s += n;
		if (*s == '$' && expand_var(&sb, &s, why) < 0) {
			strbuf_free(&sb);
			return NULL;
		}
	}
	if (sb.oom) {
		strbuf_free(&sb);
		*why = "out of memory";
		return NULL;
	}
	return strbuf_take(&sb);
}

/* ---- passwords ---- */

/* Enough for any password or OAuth2 token; a longer line is refused, not cut. */
#define SECRET_MAX 8192

/* IMAP sends the secret inside a command line: a CR or LF would end the
 * command there and start another of the secret's choosing. */
static bool secret_is_safe(const char *s, size_t len)
{
	return !memchr(s, '\r', len) && !memchr(s, '\n', len) && !memchr(s, '\0', len);
}

/* ferry ignores SIGPIPE and may block signals: the command gets neither. */
static int init_spawn_attr(posix_spawnattr_t *attr)
{
	sigset_t none, dfl;
	int rc;

	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	if ((rc = posix_spawnattr_setsigmask(attr, &none)) != 0 ||
	    (rc = posix_spawnattr_setsigdefault(attr, &dfl)) != 0)
		return rc;
	return posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
}

/* stdin from /dev/null, so a command that prompts fails instead of hanging;
 * stderr stays the user's, for pinentry and error messages. */
static int init_spawn_files(posix_spawn_file_actions_t *fa, int out)
{
	int rc = posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);

	return rc ? rc : posix_spawn_file_actions_adddup2(fa, out, 1);
}

/* Starts /bin/sh -c command with its stdout into *out. Returns 0 or an
 * errno value. */
static int spawn_shell(const char *command, pid_t *pid, int *out)
{
	/* posix_spawn's argv is char *const[] for historical reasons only. */
	char *argv[] = {"sh", "-c", (char *)command, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int fds[2], rc;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return errno;
	rc = posix_spawn_file_actions_init(&fa);
	if (rc == 0) {
		rc = posix_spawnattr_init(&attr);
		if (rc == 0) {
			if ((rc = init_spawn_attr(&attr)) == 0 &&
			    (rc = init_spawn_files(&fa, fds[1])) == 0)
				rc = posix_spawn(pid, "/bin/sh", &fa, &attr, argv, environ);
			posix_spawnattr_destroy(&attr);
		}
		posix_spawn_file_actions_destroy(&fa);
	}
	close(fds[1]);
	if (rc != 0)
		close(fds[0]);
	else
		*out = fds[0];
	return rc;
}

/* How long password_command may take: pinentry waits for a person, but a
 * command that never exits must not hang a run started by a timer. */
#define PASSWORD_COMMAND_TIMEOUT_MS 30000
/* How often a command that closed its stdout is asked whether it exited. */
#define EXIT_POLL_MS 20

static long long now_ms(void)
{
	struct timespec ts = {0};

	/* Fails only for a clock Linux always has. */
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Keeps the first cap bytes of the command's output in buf, counting the
 * rest in *total. Returns read(2)'s result. */
static ssize_t read_some(int fd, char *buf, size_t cap, size_t *total)
{
	char discard[512];
	ssize_t n;

	if (*total < cap)
		n = read(fd, buf + *total, cap - *total);
	else
		n = read(fd, discard, sizeof(discard));
	if (n > 0)
		*total += (size_t)n;
	explicit_bzero(discard, sizeof(discard));
	return n;
}

/* What is left in the pipe once the command exited, without waiting: a
 * process it left behind may hold the pipe open for ever (gpg-agent). */
static int drain(int fd, char *buf, size_t cap, size_t *total, long long deadline)
{
	ssize_t n;

	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
		return -1;
	do {
		n = read_some(fd, buf, cap, total);
	} while ((n > 0 || (n < 0 && errno == EINTR)) && now_ms() < deadline);
	return n < 0 && errno != EAGAIN && errno != EINTR ? -1 : 0;
}

/* Reads the command's stdout until the command itself exits (not until
 * EOF, which a background grandchild can hold off), keeping the first cap
 * bytes in buf; reads on while it runs, so that it never blocks on a full
 * pipe. Returns 0 with *status and *len, 1 when the command did not exit
 * within the timeout (it is killed and reaped), or -1 with errno. */
static int read_until_exit(pid_t pid, int fd, char *buf, size_t cap, size_t *len, int *status)
{
	long long deadline = now_ms() + PASSWORD_COMMAND_TIMEOUT_MS;
	bool eof = false;

	*len = 0;
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		pid_t r = waitpid(pid, status, WNOHANG);
		long long left = deadline - now_ms();
		int slice = left < EXIT_POLL_MS ? (int)left : EXIT_POLL_MS;

		if (r == pid)
			return eof ? 0 : drain(fd, buf, cap, len, deadline);
		if (r < 0 && errno != EINTR)
			return -1;
		if (left <= 0)
			break;
		if (poll(eof ? NULL : &pfd, eof ? 0 : 1, slice) > 0) {
			ssize_t n = read_some(fd, buf, cap, len);

			if (n == 0)
				eof = true;
			else if (n < 0 && errno != EINTR)
				return -1;
		}
	}
	/* The shell only: its own children keep the terminal's process group,
	 * so that pinentry can still ask; ferry does not wait for them. */
	(void)kill(pid, SIGKILL); /* ESRCH: it exited meanwhile; reaped below */
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	return 1;
}

/* The first line of the command's output; buf holds its first kept bytes. */
static char *first_line(const struct store_conf *store, const char *buf, size_t kept,
			struct ferry_error *err)
{
	const char *nl = memchr(buf, '\n', kept);
	size_t n = nl ? (size_t)(nl - buf) : kept;
	char *secret;

	if (n > SECRET_MAX)
		return null_error(
		    err, FERRY_CAUSE_AUTH,
		    "store '%s': password_command printed a line longer than %d bytes", store->name,
		    SECRET_MAX);
	if (n == 0)
		return null_error(err, FERRY_CAUSE_AUTH,
				  "store '%s': password_command printed nothing", store->name);
	if (!secret_is_safe(buf, n))
		return null_error(err, FERRY_CAUSE_AUTH,
				  "store '%s': password_command printed a carriage return or NUL "
				  "byte, which cannot be sent to the server",
				  store->name);
	secret = strndup(buf, n);
	if (!secret)
		return null_error(err, FERRY_CAUSE_INTERNAL, "store '%s': out of memory",
				  store->name);
	return secret;
}

static char *command_failed(const struct store_conf *store, int status, struct ferry_error *err)
{
	if (WIFSIGNALED(status))
		return null_error(err, FERRY_CAUSE_AUTH,
				  "store '%s': password_command was killed by signal %d",
				  store->name, WTERMSIG(status));
	return null_error(err, FERRY_CAUSE_AUTH,
			  "store '%s': password_command exited with status %d", store->name,
			  WEXITSTATUS(status));
}

static char *run_password_command(const struct store_conf *store, const char *command,
				  struct ferry_error *err)
{
	char buf[SECRET_MAX + 1], *secret;
	size_t len;
	int fd = -1, rc, status, read_errno;
	pid_t pid;

	rc = spawn_shell(command, &pid, &fd);
	if (rc != 0)
		return null_error(err, FERRY_CAUSE_AUTH,
				  "store '%s': cannot run password_command: %s", store->name,
				  strerror(rc));
	rc = read_until_exit(pid, fd, buf, sizeof(buf), &len, &status);
	read_errno = errno;
	close(fd);
	if (rc > 0)
		secret = null_error(err, FERRY_CAUSE_AUTH,
				    "%s:%d: store '%s': password_command did not exit within %d s",
				    store->file, store->line, store->name,
				    PASSWORD_COMMAND_TIMEOUT_MS / 1000);
	else if (rc < 0)
		secret = null_error(err, FERRY_CAUSE_AUTH,
				    "store '%s': cannot read password_command's output: %s",
				    store->name, strerror(read_errno));
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		secret = command_failed(store, status, err);
	else
		secret = first_line(store, buf, len < sizeof(buf) ? len : sizeof(buf), err);
	explicit_bzero(buf, sizeof(buf));
	return secret;
}

char *config_password(const struct store_conf *store, struct ferry_error *err)
{
	const char *password, *command;
	char *secret;

	if (!store || store->kind == STORE_MAILDIR)
		return null_error(err, FERRY_CAUSE_CONFIG, "store '%s' is not a server",
				  store ? store->name : "?");
	password = store->kind == STORE_POP3 ? store->pop3.password : store->imap.password;
	command =
	    store->kind == STORE_POP3 ? store->pop3.password_command : store->imap.password_command;
	if (command)
		return run_password_command(store, command, err);
	if (!password)
		return null_error(err, FERRY_CAUSE_CONFIG,
				  "store '%s' has neither password nor password_command",
				  store->name);
	if (!secret_is_safe(password, strlen(password)))
		return null_error(err, FERRY_CAUSE_CONFIG,
				  "store '%s': the password contains a line break", store->name);
	secret = strdup(password);
	if (!secret)
		return null_error(err, FERRY_CAUSE_INTERNAL, "store '%s': out of memory",
				  store->name);
	return secret;
}

int channel_check_dir(const struct channel_conf *ch, enum sync_dir dir, struct ferry_error *err)
{
	if (store_conf_download_only(ch->far) && dir != SYNC_PULL)
		return ferry_error_set(err, FERRY_CAUSE_CONFIG,
				       "channel '%s': store '%s' can only be downloaded from: "
				       "no --push",
				       ch->name, ch->far->name);
	return 0;
}

/* The planner's policy for a run of channel ch in direction dir. */
struct sync_policy channel_policy(const struct channel_conf *ch, enum sync_dir dir,
				  bool force_delete)
{
	/* A message gone from a store that is only downloaded from (POP3: our
	 * own DELE, another client) never deletes the local copy. */
	enum side_set del = ch->delete;

	if (store_conf_download_only(ch->far))
		del = (enum side_set)(del & ~SIDE_NEAR);
	return (struct sync_policy){
	    .sync = dir,
	    .delete = del,
	    .max_size = ch->max_size,
	    .placeholders = ch->placeholders != PLACEHOLDERS_NO,
	    .fetch_flagged = ch->placeholders == PLACEHOLDERS_FLAGGED,
	    .min_date = ch->max_age ? (int64_t)time(NULL) - (int64_t)ch->max_age * 86400 : 0,
	    .max_delete_is_percent = ch->max_delete_is_percent,
	    .max_delete = ch->max_delete,
	    .force_delete = force_delete,
	};
}
