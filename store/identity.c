#include "store/identity.h"

#include <ctype.h>
#include <string.h>

int ident_init(struct ident *id)
{
	*id = (struct ident){.in_header = true};
	id->md = EVP_MD_CTX_new();
	if (!id->md || EVP_DigestInit_ex(id->md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(id->md);
		id->md = NULL;
		return -1;
	}
	return 0;
}

/* Feeds the munged hash len header bytes with every 8-bit byte as 'X'. */
static int munged_update(struct ident *id, const char *p, size_t len)
{
	char buf[256];

	while (len > 0) {
		size_t n = len < sizeof(buf) ? len : sizeof(buf);

		for (size_t i = 0; i < n; i++)
			buf[i] = (unsigned char)p[i] >= 0x80 ? 'X' : p[i];
		if (EVP_DigestUpdate(id->munged, buf, n) != 1)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

/* Feeds both hashes header bytes. Until the first 8-bit byte both are the
 * same, so the munged one starts as a copy of the other there: an ASCII
 * header costs one hash only. */
static int digest(struct ident *id, const char *p, size_t len)
{
	if (!id->munged) {
		size_t ascii = 0;

		while (ascii < len && (unsigned char)p[ascii] < 0x80)
			ascii++;
		if (EVP_DigestUpdate(id->md, p, ascii) != 1)
			return -1;
		if (ascii == len)
			return 0;
		id->munged = EVP_MD_CTX_new();
		if (!id->munged || EVP_MD_CTX_copy_ex(id->munged, id->md) != 1)
			return -1;
		p += ascii;
		len -= ascii;
	}
	if (EVP_DigestUpdate(id->md, p, len) != 1)
		return -1;
	return munged_update(id, p, len);
}

/* Where a header line stands (version 2). */
enum { LINE_START, LINE_NAME, LINE_KEEP, LINE_DROP };

/* The fields other synchronisers add, lower case, with their colon. */
static const char *const added_fields[] = {"x-tuid:", "x-offlineimap:"};

/* 2 when held[0..n) is one of added_fields (any case), 1 when it begins
 * one, else 0. */
static int match_added(const char *held, size_t n)
{
	int r = 0;

	for (size_t a = 0; a < sizeof(added_fields) / sizeof(added_fields[0]); a++) {
		size_t len = strlen(added_fields[a]), i = 0;

		while (i < n && i < len && tolower((unsigned char)held[i]) == added_fields[a][i])
			i++;
		if (i == n)
			r = n == len ? 2 : r > 1 ? r : 1;
	}
	return r;
}

/* Header bytes that count, gathered to be hashed in runs. */
struct kept {
	size_t n;
	char buf[512];
};

static int kept_flush(struct ident *id, struct kept *k)
{
	int r = k->n ? digest(id, k->buf, k->n) : 0;

	k->n = 0;
	return r;
}

static int kept_put(struct ident *id, struct kept *k, char c)
{
	if (k->n == sizeof(k->buf) && kept_flush(id, k) != 0)
		return -1;
	k->buf[k->n++] = c;
	return 0;
}

/* A header byte that counts: bare LFs become CRLF; the empty line ends the
 * header block. */
static int keep_byte(struct ident *id, struct kept *k, char c)
{
	if (c == '\n' && !id->prev_cr && kept_put(id, k, '\r') != 0)
		return -1;
	if (kept_put(id, k, c) != 0)
		return -1;
	if (c == '\n') {
		if (!id->line_content)
			id->in_header = false;
		id->line_content = false;
	} else if (id->prev_cr || c != '\r') {
		id->line_content = true; /* a CR not before LF is content */
	}
	id->prev_cr = c == '\r';
	return 0;
}

/* Hashes header bytes, leaving out the lines of added_fields and their
 * continuation lines; stops after the empty line that ends the header
 * block. A line's first bytes wait in id->held until its name decides, so
 * a line may be split across feeds anywhere. Returns bytes consumed, or -1. */
static long hash_header(struct ident *id, const char *buf, size_t len)
{
	struct kept k;
	size_t i;

	k.n = 0;
	for (i = 0; i < len && id->in_header; i++) {
		char c = buf[i];

		if (id->line == LINE_START) {
			if (c == ' ' || c == '\t')
				id->line = id->prev_dropped ? LINE_DROP : LINE_KEEP;
			else
				id->line = c == 'x' || c == 'X' ? LINE_NAME : LINE_KEEP;
		}
		if (id->line == LINE_NAME) {
			bool in_name = c != '\r' && c != '\n';
			int m = 0;

			if (in_name) {
				id->held[id->nheld++] = c;
				m = match_added(id->held, id->nheld);
			}
			if (m == 2) {
				id->line = LINE_DROP;
				id->dropped += id->nheld;
				id->nheld = 0;
				continue;
			}
			if (m == 1)
				continue;
			/* another field: what was held counts after all */
			for (size_t h = 0; h < id->nheld; h++)
				if (keep_byte(id, &k, id->held[h]) != 0)
					return -1;
			id->nheld = 0;
			id->line = LINE_KEEP;
			if (in_name)
				continue;
		}
		if (id->line == LINE_DROP) {
			id->dropped += 1 + (c == '\n' && !id->prev_cr); /* as CRLF */
			id->prev_cr = c == '\r';
			if (c == '\n') {
				id->line = LINE_START;
				id->prev_dropped = true;
			}
			continue;
		}
		if (keep_byte(id, &k, c) != 0)
			return -1;
		if (c == '\n') {
			id->line = LINE_START;
			id->prev_dropped = false;
		}
	}
	if (kept_flush(id, &k) != 0)
		return -1;
	return (long)i;
}

bool ident_size_near(const uint64_t *sorted, size_t n, uint64_t size)
{
	uint64_t lo = size > IDENT_ADDED_MAX ? size - IDENT_ADDED_MAX : 0;
	size_t a = 0, b = n;

	while (a < b) { /* the first >= lo */
		size_t mid = a + (b - a) / 2;

		if (sorted[mid] < lo)
			a = mid + 1;
		else
			b = mid;
	}
	return a < n && sorted[a] <= size + IDENT_ADDED_MAX;
}

uint64_t ident_dropped(const struct ident *id)
{
	return id->dropped;
}

int ident_feed(struct ident *id, const char *buf, size_t len)
{
	if (id->in_header && hash_header(id, buf, len) < 0)
		return -1;
	/* The CRLF size counts every byte plus one CR per bare LF. memchr
	 * skips from LF to LF: this runs over every byte of every body. */
	const char *p = buf, *end = buf + len, *lf;

	if (len == 0)
		return 0;
	id->crlf_size += len;
	while ((lf = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		bool cr_before = lf > buf ? lf[-1] == '\r' : id->size_prev_cr;

		id->crlf_size += !cr_before;
		p = lf + 1;
		if (p == end)
			break;
	}
	id->size_prev_cr = end[-1] == '\r';
	return 0;
}

int ident_final(struct ident *id, struct msg_id *out, uint64_t *crlf_size)
{
	unsigned char munged[EVP_MAX_MD_SIZE];
	unsigned int n = 0, m = 32;
	/* A message that ends inside a line's first bytes: they count. */
	int r = id->nheld ? digest(id, id->held, id->nheld) : 0;

	id->nheld = 0;
	r = r == 0 && EVP_DigestFinal_ex(id->md, out->hash, &n) == 1 && n == 32 ? 0 : -1;

	if (r == 0 && id->munged)
		r = EVP_DigestFinal_ex(id->munged, munged, &m) == 1 && m == 32 ? 0 : -1;
	else
		memcpy(munged, out->hash, sizeof(out->munged));
	memcpy(out->munged, munged, sizeof(out->munged));
	out->known = out->munged_known = r == 0;
	if (crlf_size)
		*crlf_size = id->crlf_size - id->dropped;
	ident_discard(id);
	return r;
}

void ident_discard(struct ident *id)
{
	EVP_MD_CTX_free(id->md);
	EVP_MD_CTX_free(id->munged);
	id->md = id->munged = NULL;
}

size_t header_end_feed(struct header_end *h, const char *buf, size_t len)
{
	if (h->ended)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (buf[i] == '\r')
			continue;
		if (buf[i] != '\n') {
			h->midline = true;
			continue;
		}
		if (!h->midline) {
			h->ended = true;
			return i + 1;
		}
		h->midline = false;
	}
	return len;
}
