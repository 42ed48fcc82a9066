#include "store/maildir/filename.h"

#include <stdio.h>
#include <string.h>

#include "store/flags.h"

/* Adds the letters of s (up to n bytes) to a 256-entry presence table. */
static void mark(bool seen[256], const char *s, size_t n)
{
	for (size_t i = 0; i < n && s[i]; i++)
		seen[(unsigned char)s[i]] = true;
}

/* Writes the letters present in seen in ASCII order, without duplicates, as
 * the Maildir specification asks ("FRS", then Dovecot's lowercase keyword
 * letters). Returns the count. */
static size_t emit(const bool seen[256], char *out)
{
	size_t n = 0;

	for (int c = 1; c < 256; c++)
		if (seen[c])
			out[n++] = (char)c;
	out[n] = '\0';
	return n;
}

int maildir_name_parse(const char *name, struct maildir_name *out, const char **why)
{
	const char *info;
	bool seen[256], any_other = false;
	size_t len = strlen(name);

	/* Called for every file of a rescan: no zeroing of the 256-byte
	 * buffers unless a letter other than ferry's appears. */
	out->uniq_len = 0;
	out->has_info = false;
	out->flags = 0;
	out->other[0] = '\0';
	if (len == 0) {
		*why = "empty name";
		return -1;
	}
	if (name[0] == '.') {
		*why = "name starts with '.'";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x20 || c == 0x7f) {
			*why = "name contains a control character";
			return -1;
		}
	}
	info = strstr(name, MAILDIR_INFO);
	if (!info) {
		out->uniq_len = len;
		return 0;
	}
	if (info == name) {
		*why = "empty unique part";
		return -1;
	}
	out->uniq_len = (size_t)(info - name);
	out->has_info = true;
	for (const char *p = info + strlen(MAILDIR_INFO); *p; p++) {
		unsigned bit = flag_from_letter(*p);

		if (bit) {
			out->flags |= bit;
			continue;
		}
		if (!any_other) {
			memset(seen, 0, sizeof(seen));
			any_other = true;
		}
		seen[(unsigned char)*p] = true;
	}
	if (any_other)
		emit(seen, out->other);
	return 0;
}

int maildir_name_build(const char *uniq, size_t uniq_len, bool info, unsigned flags,
		       const char *other, char *buf, size_t len)
{
	bool seen[256] = {false};
	char letters[256 + 1];
	size_t nletters = 0, total;

	if (info) {
		for (size_t i = 0; i < flag_table_len; i++)
			if (flags & flag_table[i].bit)
				seen[(unsigned char)flag_table[i].letter] = true;
		if (other)
			mark(seen, other, strlen(other));
		nletters = emit(seen, letters);
	}
	total = uniq_len + (info ? strlen(MAILDIR_INFO) + nletters : 0);
	if (total >= len || total > NAME_MAX)
		return -1;
	memcpy(buf, uniq, uniq_len);
	if (info) {
		memcpy(buf + uniq_len, MAILDIR_INFO, strlen(MAILDIR_INFO));
		memcpy(buf + uniq_len + strlen(MAILDIR_INFO), letters, nletters);
	}
	buf[total] = '\0';
	return (int)total;
}

int maildir_name_unique(char *buf, size_t len, int64_t sec, long usec, long pid,
			unsigned long counter, const char *host)
{
	int n = snprintf(buf, len, "%lld.M%ldP%ldQ%lu.", (long long)sec, usec, pid, counter);
	size_t o;

	if (n < 0 || (size_t)n >= len)
		return -1;
	o = (size_t)n;
	for (const char *h = host; *h; h++) {
		const char *esc = *h == '/' ? "\\057" : *h == ':' ? "\\072" : NULL;
		size_t add = esc ? 4 : 1;

		if (o + add >= len)
			return -1;
		if (esc)
			memcpy(buf + o, esc, 4);
		else
			buf[o] = *h;
		o += add;
	}
	buf[o] = '\0';
	return (int)o;
}
