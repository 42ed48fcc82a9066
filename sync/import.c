/* What both importers share: notes on what was not mapped, and keys checked
 * against what ferry's config reader takes. */
#include "sync/import.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/fdio.h"
#include "store/log.h"
#include "sync/config.h"

/* inih's line limit as ferry builds its reader (sync/config.c). */
#define CONF_LINE_MAX 199

void import_note(struct import_result *res, const char *file, int line, const char *setting,
		 const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	strbuf_addf(&res->notes, "%s:%d: %s: %s\n", file, line, setting, why);
	res->nnotes++;
}

void import_key(struct import_result *res, const char *file, int line, const char *key,
		const char *value)
{
	const char *c;

	if (strpbrk(value, "\r\n")) {
		import_note(res, file, line, key, "the value holds a line break; left out");
		return;
	}
	if (strlen(key) + 3 + strlen(value) > CONF_LINE_MAX) {
		import_note(res, file, line, key,
			    "the value is longer than a ferry config line; left out");
		return;
	}
	/* ferry's reader takes " ;" and " #" as the start of a comment. */
	for (c = value; (c = strpbrk(c, ";#")) != NULL; c++)
		if (c > value && (c[-1] == ' ' || c[-1] == '\t')) {
			import_note(res, file, line, key,
				    "the value holds \"%c\" after a blank, which ferry would read "
				    "as a comment; left out",
				    *c);
			return;
		}
	if (*value == ' ' || *value == '\t' ||
	    (*value && strchr(" \t", value[strlen(value) - 1]))) {
		import_note(
		    res, file, line, key,
		    "the value starts or ends with a blank, which ferry would drop; left out");
		return;
	}
	strbuf_addf(&res->conf, "%s = %s\n", key, value);
}

bool import_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 50 || s[0] == '-' || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static char *format_path(const char *dir, const char *name)
{
	struct strbuf sb = {0};

	strbuf_addf(&sb, "%s/%s", dir, name);
	return sb.oom ? (strbuf_free(&sb), NULL) : strbuf_take(&sb);
}

void import_result_free(struct import_result *res)
{
	if (res->conf.s)
		explicit_bzero(res->conf.s, res->conf.cap); /* it may hold passwords */
	strbuf_free(&res->conf);
	strbuf_free(&res->notes);
	res->nnotes = 0;
}

/* ---- the command ---- */

/* Another tool's config is small; a bigger file is not one. */
#define IMPORT_MAX (1 << 20)

static char *read_text(const char *path, struct ferry_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct strbuf sb = {0};
	char buf[4096];
	ssize_t n;

	if (fd < 0) {
		ferry_error_set(err, FERRY_CAUSE_CONFIG, "%s: %s", path, strerror(errno));
		return NULL;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
		if (n > 0)
			strbuf_add(&sb, buf, (size_t)n);
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	if (n < 0 || sb.oom || sb.len > IMPORT_MAX || (sb.s && strlen(sb.s) != sb.len)) {
		ferry_error_set(err, FERRY_CAUSE_CONFIG, "%s: %s", path,
				n < 0	 ? strerror(errno)
				: sb.oom ? "out of memory"
				: sb.len > IMPORT_MAX
				    ? "larger than 1 MB: not a configuration file"
				    : "contains a NUL byte: not a configuration file");
		if (sb.s)
			explicit_bzero(sb.s, sb.cap);
		strbuf_free(&sb);
		return NULL;
	}
	return strbuf_take(&sb);
}

/* The result and its notes, as comments at the top. */
static char *compose(const char *tool, const char *in, const struct import_result *res)
{
	struct strbuf sb = {0};

	strbuf_addf(&sb, "# ferry configuration converted from %s's %s by `ferry import %s`.\n",
		    tool, in, tool);
	if (res->nnotes) {
		strbuf_addf(&sb, "# %u setting(s) could not be mapped:\n", res->nnotes);
		for (const char *p = res->notes.s; p && *p;) {
			size_t n = strcspn(p, "\n");

			strbuf_addf(&sb, "#   %.*s\n", (int)n, p);
			p += n + (p[n] == '\n');
		}
	}
	strbuf_adds(&sb, res->conf.s ? res->conf.s : "");
	return strbuf_take(&sb);
}

/* Creates out (0600: it may hold a password), never over an existing file. */
static int write_out(const char *out, const char *text, struct ferry_error *err)
{
	int fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: %s", out,
				       errno == EEXIST ? "already exists; ferry import never "
							 "overwrites a file"
						       : strerror(errno));
	if (fd_write_all(fd, text, strlen(text)) != 0 || fsync(fd) != 0) {
		int e = errno;

		close(fd);
		unlink(out);
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: %s", out, strerror(e));
	}
	if (close(fd) != 0)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: %s", out, strerror(errno));
	return 0;
}

int import_run(const char *tool, const char *in, const char *out)
{
	struct import_result res = {0};
	struct ferry_error err = {0};
	struct config check = {0};
	char *text = NULL, *path = NULL, *result = NULL;
	const char *home = getenv("HOME");
	int status = FERRY_USAGE;
	bool mbsync = strcmp(tool, "mbsync") == 0;

	if (!in) {
		if (!home || !*home) {
			log_error("import: $HOME is not set: name the file to read");
			return FERRY_USAGE;
		}
		path = format_path(home, mbsync ? ".mbsyncrc" : ".offlineimaprc");
		in = path;
	}
	if (!in || !(text = read_text(in, &err))) {
		log_error("import: %s", in ? err.msg : "out of memory");
		goto out;
	}
	if ((mbsync ? import_mbsync(in, text, &res, &err)
		    : import_offlineimap(in, text, &res, &err)) != 0) {
		log_error("import: %s", err.msg);
		goto out;
	}
	for (const char *p = res.notes.s; p && *p;) {
		size_t n = strcspn(p, "\n");

		log_warn("import: %.*s", (int)n, p);
		p += n + (p[n] == '\n');
	}
	if (!(result = compose(tool, in, &res))) {
		log_error("import: out of memory");
		goto out;
	}
	status = FERRY_OK;
	/* What ferry would say of the result: a missing password, say. */
	if (config_load_string(out ? out : "the converted configuration", result, &check, &err) !=
	    0) {
		log_warn("import: ferry would refuse the result as it stands; edit it first: %s",
			 err.msg);
		status = FERRY_PARTIAL;
	}
	config_free(&check);
	if (out) {
		ferry_error_clear(&err);
		if (write_out(out, result, &err) != 0) {
			log_error("import: %s", err.msg);
			status = FERRY_USAGE;
		}
	} else {
		fputs(result, stdout);
		fflush(stdout);
	}
out:
	if (text)
		explicit_bzero(text, strlen(text));
	if (result)
		explicit_bzero(result, strlen(result));
	free(text);
	free(result);
	free(path);
	import_result_free(&res);
	return status;
}
