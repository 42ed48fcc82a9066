#include "store/identity.h"

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

/* Hashes header bytes with bare LFs turned into CRLF; stops after the empty
 * line that ends the header block. Returns bytes consumed, or -1. */
static long hash_header(struct ident *id, const char *buf, size_t len)
{
	size_t start = 0, i;

	for (i = 0; i < len && id->in_header; i++) {
		char c = buf[i];

		if (c == '\n') {
			if (!id->prev_cr) {
				if (digest(id, buf + start, i - start) != 0 ||
				    digest(id, "\r", 1) != 0)
					return -1;
				start = i;
			}
			if (!id->line_content)
				id->in_header = false;
			id->line_content = false;
			id->prev_cr = false;
		} else {
			if (id->prev_cr || c != '\r')
				id->line_content = true; /* a CR not before LF is content */
			id->prev_cr = c == '\r';
		}
	}
	if (digest(id, buf + start, i - start) != 0)
		return -1;
	return (long)i;
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
	int r = EVP_DigestFinal_ex(id->md, out->hash, &n) == 1 && n == 32 ? 0 : -1;

	if (r == 0 && id->munged)
		r = EVP_DigestFinal_ex(id->munged, munged, &m) == 1 && m == 32 ? 0 : -1;
	else
		memcpy(munged, out->hash, sizeof(out->munged));
	memcpy(out->munged, munged, sizeof(out->munged));
	out->known = out->munged_known = r == 0;
	if (crlf_size)
		*crlf_size = id->crlf_size;
	ident_discard(id);
	return r;
}

void ident_discard(struct ident *id)
{
	EVP_MD_CTX_free(id->md);
	EVP_MD_CTX_free(id->munged);
	id->md = id->munged = NULL;
}
