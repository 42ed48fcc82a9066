/* .offlineimaprc (offlineimap3) -> ferry configuration.
 *
 * offlineimap reads its file with Python's configparser: [sections], "key =
 * value" or "key: value", keys case-insensitive, indented lines continue a
 * value, '#' and ';' start a comment only at the start of a line. inih (which
 * ferry's own reader uses) cuts a value at " ;", which would cut a password,
 * so this small reader follows configparser instead. Each account becomes a
 * channel between its two repositories; Python code in the file (…eval keys,
 * folderfilter, nametrans) cannot be mapped and is listed. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sync/import.h"

struct oi_key {
	char *key; /* lower case */
	char *value;
	int line;
	bool used;
};

struct oi_section {
	char *name;
	int line;
	struct oi_key *v;
	size_t n, cap;
};

struct oi_file {
	const char *file;
	struct oi_section *s;
	size_t n, cap;
	struct {
		const char *name; /* points into s */
		int kind;	  /* write_repository's result */
	} * done;
	size_t ndone, donecap;
};

static int oom(struct ferry_error *err)
{
	return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
}

static char *trimmed(const char *p, size_t n)
{
	while (n && isspace((unsigned char)*p))
		p++, n--;
	while (n && isspace((unsigned char)p[n - 1]))
		n--;
	return strndup(p, n);
}

static int add_value_line(struct oi_key *k, const char *p, size_t n)
{
	char *more = trimmed(p, n), *joined;

	if (!more)
		return -1;
	joined = malloc(strlen(k->value) + strlen(more) + 2);
	if (!joined) {
		free(more);
		return -1;
	}
	strcat(strcat(strcpy(joined, k->value), *k->value ? "\n" : ""), more);
	explicit_bzero(k->value, strlen(k->value));
	free(k->value);
	free(more);
	k->value = joined;
	return 0;
}

static int read_line(struct oi_file *f, const char *p, size_t n, int lineno, bool indented,
		     struct ferry_error *err)
{
	struct oi_section *cur = f->n ? &f->s[f->n - 1] : NULL;
	size_t sep;

	if (*p == '[') {
		const char *close = memchr(p, ']', n);
		struct oi_section *ns;

		if (!close)
			return ferry_error_set(err, FERRY_CAUSE_CONFIG,
					       "%s:%d: a section header needs a closing ']'",
					       f->file, lineno);
		if (!(ns = grow_array(f->s, &f->cap, f->n + 1, sizeof(*ns))))
			return oom(err);
		f->s = ns;
		ns = &f->s[f->n++];
		*ns = (struct oi_section){.name = trimmed(p + 1, (size_t)(close - p - 1)),
					  .line = lineno};
		return ns->name ? 0 : oom(err);
	}
	if (indented && cur && cur->n)
		return add_value_line(&cur->v[cur->n - 1], p, n) == 0 ? 0 : oom(err);
	if (!cur)
		return ferry_error_set(err, FERRY_CAUSE_CONFIG,
				       "%s:%d: a setting before any [section]", f->file, lineno);
	sep = strcspn(p, "=:");
	if (sep >= n)
		return ferry_error_set(err, FERRY_CAUSE_CONFIG,
				       "%s:%d: expected 'key = value' or '[section]'", f->file,
				       lineno);
	{
		struct oi_key *nk = grow_array(cur->v, &cur->cap, cur->n + 1, sizeof(*nk));

		if (!nk)
			return oom(err);
		cur->v = nk;
		nk = &cur->v[cur->n++];
		*nk = (struct oi_key){.key = trimmed(p, sep),
				      .value = trimmed(p + sep + 1, n - sep - 1),
				      .line = lineno};
		if (!nk->key || !nk->value)
			return oom(err);
		for (char *c = nk->key; *c; c++)
			*c = (char)tolower((unsigned char)*c);
	}
	return 0;
}

static int read_file(struct oi_file *f, const char *text, struct ferry_error *err)
{
	int lineno = 0;

	while (*text) {
		size_t len = strcspn(text, "\n"), n = len;
		const char *p = text;
		bool indented = *p == ' ' || *p == '\t';

		lineno++;
		while (n && (*p == ' ' || *p == '\t'))
			p++, n--;
		while (n && (p[n - 1] == '\r' || isspace((unsigned char)p[n - 1])))
			n--;
		if (n && *p != '#' && *p != ';' && read_line(f, p, n, lineno, indented, err) != 0)
			return -1;
		text += len + (text[len] == '\n');
	}
	return 0;
}

static void free_file(struct oi_file *f)
{
	for (size_t i = 0; i < f->n; i++) {
		for (size_t j = 0; j < f->s[i].n; j++) {
			free(f->s[i].v[j].key);
			explicit_bzero(f->s[i].v[j].value, strlen(f->s[i].v[j].value));
			free(f->s[i].v[j].value);
		}
		free(f->s[i].v);
		free(f->s[i].name);
	}
	free(f->s);
	free(f->done);
}

static struct oi_section *section(struct oi_file *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->s[i].name, name) == 0)
			return &f->s[i];
	return NULL;
}

static struct oi_key *key(struct oi_section *s, const char *name)
{
	struct oi_key *found = NULL;

	for (size_t i = 0; s && i < s->n; i++)
		if (strcmp(s->v[i].key, name) == 0) {
			found = &s->v[i];
			found->used = true;
		}
	return found;
}

static const char *value(struct oi_section *s, const char *name)
{
	struct oi_key *k = key(s, name);

	return k ? k->value : NULL;
}

/* configparser's booleans. Returns -1 for anything else. */
static int boolean(const char *v)
{
	static const char *const yes[] = {"1", "yes", "true", "on"}, *const no[] = {"0", "no",
										    "false", "off"};

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return 1;
		if (strcasecmp(v, no[i]) == 0)
			return 0;
	}
	return -1;
}

static int flag(struct import_result *res, const char *file, struct oi_section *s, const char *name,
		int dflt)
{
	struct oi_key *k = key(s, name);
	int b;

	if (!k)
		return dflt;
	if ((b = boolean(k->value)) < 0) {
		import_note(res, file, k->line, name, "'%s' is not yes or no; taken as %s",
			    k->value, dflt ? "yes" : "no");
		return dflt;
	}
	return b;
}

static const struct {
	const char *key, *why;
} unmapped[] = {
    {"remotepasseval", "Python code: put the command it runs in password_command"},
    {"remoteusereval", "Python code: set user"},
    {"remotehosteval", "Python code: set host"},
    {"remoteporteval", "Python code: set port"},
    {"folderfilter", "Python code: write the folders as globs in the channel's folders"},
    {"nametrans", "Python code: ferry pairs folders by the same name on both sides"},
    {"folderincludes", "Python code: add the folders to the channel's folders"},
    {"foldersort", "ferry syncs folders in its own order"},
    {"cert_fingerprint", "ferry pins a SHA-256 fingerprint: `ferry check` prints the line"},
    {"ssl_version", "ferry uses OpenSSL's defaults (TLS 1.2 and later)"},
    {"tls_level", "ferry uses OpenSSL's defaults (TLS 1.2 and later)"},
    {"quick", "ferry's unchanged folders are always quick"},
    {"synclabels", "Gmail labels are not synced"},
    {"labelsheader", "Gmail labels are not synced"},
    {"startdate", "ferry syncs every message"},
    {"presynchook", "ferry has a post_sync hook only"},
    {"status_backend", "not needed: ferry keeps its own state"},
    {"holdconnectionopen", "ferry connects for each run"},
    {"keepalive", "ferry connects for each run"},
    {"idlefolders", "Python code: list the folders in the channel's watch key"},
    {"usecompression", "ferry's compress key defaults to auto"},
    {"oauth2_client_id", "use an OAuth2 helper in password_command with auth = xoauth2"},
    {"oauth2_client_secret", "use an OAuth2 helper in password_command with auth = xoauth2"},
    {"oauth2_refresh_token", "use an OAuth2 helper in password_command with auth = xoauth2"},
    {"oauth2_request_url", "use an OAuth2 helper in password_command with auth = xoauth2"},
    {"filename_use_mail_timestamp", "ferry names Maildir files itself"},
    {"utime_from_header", "ferry keeps file times itself"},
};

static void note_unused(struct import_result *res, const char *file, struct oi_section *s)
{
	for (size_t i = 0; i < s->n; i++) {
		const char *why = "not a setting ferry maps";

		if (s->v[i].used)
			continue;
		for (size_t k = 0; k < sizeof(unmapped) / sizeof(unmapped[0]); k++)
			if (strcmp(s->v[i].key, unmapped[k].key) == 0)
				why = unmapped[k].why;
		import_note(res, file, s->v[i].line, s->v[i].key, "not mapped: %s", why);
		s->v[i].used = true;
	}
}

/* "Repository NAME" sections, written once each. */
static bool write_imap(struct import_result *res, const char *file, struct oi_section *r,
		       const char *name, bool gmail)
{
	const char *host = value(r, "remotehost"), *v;
	const char *tunnel = value(r, "preauthtunnel");
	struct oi_key *k;
	bool ssl;

	if (!tunnel)
		tunnel = value(r, "tunnel");
	if (!host && gmail)
		host = "imap.gmail.com";
	if (!host && !tunnel) {
		import_note(res, file, r->line, r->name, "no remotehost: repository left out");
		return false;
	}
	strbuf_addf(&res->conf, "\n[imap %s]\n", name);
	if (tunnel)
		import_key(res, file, r->line, "tunnel", tunnel);
	else
		import_key(res, file, r->line, "host", host);
	if ((k = key(r, "remoteport")) && !tunnel)
		import_key(res, file, k->line, "port", k->value);
	ssl = flag(res, file, r, "ssl", 1);
	if (!tunnel)
		import_key(res, file, r->line, "tls",
			   ssl				       ? "implicit"
			   : flag(res, file, r, "starttls", 1) ? "starttls"
							       : "none");
	if ((k = key(r, "remoteuser")))
		import_key(res, file, k->line, "user", k->value);
	if ((k = key(r, "remotepass")))
		import_key(res, file, k->line, "password", k->value);
	else if ((k = key(r, "remotepassfile"))) {
		bool home = strncmp(k->value, "~/", 2) == 0;
		char *cmd = malloc(strlen(k->value) + 16);

		/* offlineimap expands ~; the shell does not inside quotes. */
		if (cmd && !strchr(k->value, '\'')) {
			strcat(strcat(strcpy(cmd, home ? "cat ~/'" : "cat '"),
				      k->value + (home ? 2 : 0)),
			       "'");
			import_key(res, file, k->line, "password_command", cmd);
		} else {
			import_note(res, file, k->line, "remotepassfile",
				    "a path with a quote: set password_command by hand");
		}
		free(cmd);
	} else {
		import_note(res, file, r->line, r->name,
			    "no remotepass or remotepassfile: ferry needs password or "
			    "password_command");
	}
	if ((k = key(r, "sslcacertfile")) && strcmp(k->value, "OS-DEFAULT") != 0)
		import_key(res, file, k->line, "ca_file", k->value);
	if ((k = key(r, "maxconnections"))) {
		int n = atoi(k->value);

		if (n >= 1 && n <= 32)
			import_key(res, file, k->line, "connections", k->value);
		else
			import_note(res, file, k->line, "maxconnections", "ferry takes 1 to 32");
	}
	if ((v = value(r, "auth_mechanisms"))) {
		static const char *const one[] = {"PLAIN", "LOGIN", "XOAUTH2"};
		const char *mapped = NULL;

		for (size_t i = 0; i < 3; i++)
			if (strcasecmp(v, one[i]) == 0)
				mapped = one[i];
		if (mapped) {
			char lower[8];
			size_t i;

			for (i = 0; mapped[i] && i < sizeof(lower) - 1; i++)
				lower[i] = (char)tolower((unsigned char)mapped[i]);
			lower[i] = '\0';
			import_key(res, file, r->line, "auth", lower);
		} else {
			import_note(res, file, r->line, "auth_mechanisms",
				    "ferry picks one of PLAIN, LOGIN or XOAUTH2 (auth = auto)");
		}
	}
	if ((k = key(r, "reference")) && *k->value)
		import_key(res, file, k->line, "prefix", k->value);
	return true;
}

static bool write_maildir(struct import_result *res, const char *file, struct oi_section *r,
			  const char *name)
{
	struct oi_key *k = key(r, "localfolders");
	const char *sep = value(r, "sep");

	if (!k) {
		import_note(res, file, r->line, r->name, "no localfolders: repository left out");
		return false;
	}
	if (sep && strcmp(sep, ".") != 0 && strcmp(sep, "/") != 0) {
		import_note(res, file, r->line, "sep",
			    "'%s': ferry's layouts separate folders with '.' or '/'; repository "
			    "left out",
			    sep);
		return false;
	}
	strbuf_addf(&res->conf, "\n[maildir %s]\n", name);
	import_key(res, file, k->line, "path", k->value);
	import_key(res, file, r->line, "layout",
		   sep && strcmp(sep, "/") == 0 ? "verbatim" : "offlineimap");
	return true;
}

/* Returns 1 for an IMAP repository, 2 for a Maildir, 0 if left out. */
static int write_repository(struct import_result *res, struct oi_file *f, const char *name,
			    int line)
{
	char title[128];
	struct oi_section *r;
	const char *type;
	int kind = 0;
	void *done;

	snprintf(title, sizeof(title), "Repository %s", name);
	for (size_t i = 0; i < f->ndone; i++)
		if (strcmp(f->done[i].name, name) == 0)
			return f->done[i].kind; /* shared by two accounts */
	if (!(r = section(f, title))) {
		import_note(res, f->file, line, name, "no [%s] section", title);
		return 0;
	}
	if (!import_name_ok(name)) {
		import_note(res, f->file, r->line, name,
			    "not a ferry store name (letters, digits, '.', '_', '-'); left out");
		return 0;
	}
	type = value(r, "type");
	if (type && (strcasecmp(type, "IMAP") == 0 || strcasecmp(type, "Gmail") == 0))
		kind = write_imap(res, f->file, r, name, strcasecmp(type, "Gmail") == 0) ? 1 : 0;
	else if (type &&
		 (strcasecmp(type, "Maildir") == 0 || strcasecmp(type, "GmailMaildir") == 0))
		kind = write_maildir(res, f->file, r, name) ? 2 : 0;
	else
		import_note(res, f->file, r->line, "type",
			    "'%s': not an IMAP or Maildir repository", type ? type : "(missing)");
	done = grow_array(f->done, &f->donecap, f->ndone + 1, sizeof(*f->done));
	if (done) {
		f->done = done;
		f->done[f->ndone].name = r->name + strlen("Repository ");
		f->done[f->ndone++].kind = kind;
	}
	return kind;
}

static void write_account(struct import_result *res, struct oi_file *f, const char *name, int line)
{
	char title[128];
	struct oi_section *a, *repo[2];
	struct oi_key *k[2], *hook, *size, *age;
	static const char *const keys[2] = {"remoterepository", "localrepository"};
	int del = 3, create = 3;

	snprintf(title, sizeof(title), "Account %s", name);
	if (!(a = section(f, title))) {
		import_note(res, f->file, line, "accounts", "no [%s] section", title);
		return;
	}
	if (!import_name_ok(name)) {
		import_note(res, f->file, a->line, name,
			    "not a ferry channel name (letters, digits, '.', '_', '-'); left out");
		return;
	}
	for (int i = 0; i < 2; i++) {
		char rtitle[128];

		k[i] = key(a, keys[i]);
		if (!k[i]) {
			import_note(res, f->file, a->line, keys[i], "missing; account left out");
			return;
		}
		if (write_repository(res, f, k[i]->value, k[i]->line) != (i == 0 ? 1 : 2)) {
			import_note(res, f->file, k[i]->line, keys[i],
				    "repository '%s' left out (above), so account '%s' is too",
				    k[i]->value, name);
			return;
		}
		snprintf(rtitle, sizeof(rtitle), "Repository %s", k[i]->value);
		repo[i] = section(f, rtitle);
	}
	strbuf_addf(&res->conf, "\n[channel %s]\nfar = %s\nnear = %s\n", name, k[0]->value,
		    k[1]->value);
	/* readonly on a repository: nothing is written there. */
	{
		bool ro_far = flag(res, f->file, repo[0], "readonly", 0);
		bool ro_near = flag(res, f->file, repo[1], "readonly", 0);

		if (ro_far && ro_near) {
			import_note(res, f->file, a->line, "readonly",
				    "both repositories read-only: nothing to sync; the channel "
				    "syncs pull");
			ro_near = false;
		}
		import_key(res, f->file, a->line, "sync",
			   ro_far    ? "pull"
			   : ro_near ? "push"
				     : "both");
	}
	/* createfolders and sync_deletes say what one side may do to the other;
	 * expunge = no on the server keeps deleted messages there. */
	for (int i = 0; i < 2; i++) {
		int other = i == 0 ? 2 : 1; /* bits: 1 far, 2 near */

		if (!flag(res, f->file, repo[i], "sync_deletes", 1))
			del &= ~other;
		if (!flag(res, f->file, repo[i], "createfolders", 1))
			create &= ~(i == 0 ? 1 : 2);
	}
	if (!flag(res, f->file, repo[0], "expunge", 1)) {
		import_note(res, f->file, repo[0]->line, "expunge",
			    "ferry carries deletions out or not at all: none on far");
		del &= ~1;
	}
	{
		static const char *const words[4] = {"none", "far", "near", "both"};

		import_key(res, f->file, a->line, "create", words[create]);
		import_key(res, f->file, a->line, "delete", words[del]);
	}
	if ((size = key(a, "maxsize")) && strspn(size->value, "0123456789") == strlen(size->value))
		import_key(res, f->file, size->line, "max_size", size->value);
	else if (size)
		import_note(res, f->file, size->line, "maxsize", "'%s' is not a size", size->value);
	if ((hook = key(a, "postsynchook")))
		import_key(res, f->file, hook->line, "post_sync", hook->value);
	/* subscribedonly, of the IMAP repository: ferry's channel key. */
	for (int i = 0; i < 2; i++)
		if (key(repo[i], "subscribedonly") &&
		    flag(res, f->file, repo[i], "subscribedonly", 0)) {
			import_key(res, f->file, key(repo[i], "subscribedonly")->line, "subscribed",
				   "yes");
			break;
		}
	/* maxage: days, as ferry's max_age counts them. */
	if ((age = key(a, "maxage")) && age->value[0] &&
	    strspn(age->value, "0123456789") == strlen(age->value) && strlen(age->value) <= 5)
		import_key(res, f->file, age->line, "max_age", age->value);
	else if (age)
		import_note(res, f->file, age->line, "maxage",
			    "'%s' is not a number of days: set max_age by hand", age->value);
	/* autorefresh: minutes between syncs, which is ferry watch's interval. */
	if ((age = key(a, "autorefresh"))) {
		double min = strtod(age->value, NULL);
		char v[32];

		if (min >= 1.0 / 60 && min <= 7 * 24 * 60) {
			snprintf(v, sizeof(v), "%lds", (long)(min * 60 + 0.5));
			import_key(res, f->file, age->line, "interval", v);
			import_note(res, f->file, age->line, "autorefresh",
				    "the interval of `ferry watch`, which stays running as "
				    "offlineimap did");
		} else {
			import_note(res, f->file, age->line, "autorefresh",
				    "'%s' is not a number of minutes (up to a week)", age->value);
		}
	}
}

int import_offlineimap(const char *file, const char *text, struct import_result *res,
		       struct ferry_error *err)
{
	struct oi_file f = {.file = file};
	struct oi_key *accounts;
	int r = -1;

	if (read_file(&f, text, err) != 0)
		goto out;
	accounts = key(section(&f, "general"), "accounts");
	if (!accounts) {
		ferry_error_set(err, FERRY_CAUSE_CONFIG, "%s: no 'accounts' in [general]", file);
		goto out;
	}
	for (const char *p = accounts->value; *p;) {
		size_t n = strcspn(p, ",\n");
		char *name = trimmed(p, n);

		if (!name) {
			oom(err);
			goto out;
		}
		if (*name)
			write_account(res, &f, name, accounts->line);
		free(name);
		p += n + (p[n] != '\0');
	}
	for (size_t i = 0; i < f.n; i++)
		note_unused(res, file, &f.s[i]);
	r = res->conf.oom || res->notes.oom ? oom(err) : 0;
out:
	free_file(&f);
	return r;
}
