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

/* Hashes header bytes with bare LFs turned into CRLF; stops after the empty
 * line that ends the header block. Returns bytes consumed, or -1. */
static long hash_header(struct ident *id, const char *buf, size_t len)
{
	size_t start = 0, i;

	for (i = 0; i < len && id->in_header; i++) {
		char c = buf[i];

		if (c == '\n') {
			if (!id->prev_cr) {
				if (EVP_DigestUpdate(id->md, buf + start, i - start) != 1 ||
				    EVP_DigestUpdate(id->md, "\r", 1) != 1)
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
	if (EVP_DigestUpdate(id->md, buf + start, i - start) != 1)
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
	unsigned int n = 0;
	int r = EVP_DigestFinal_ex(id->md, out->hash, &n) == 1 && n == 32 ? 0 : -1;

	out->known = r == 0;
	if (crlf_size)
		*crlf_size = id->crlf_size;
	EVP_MD_CTX_free(id->md);
	id->md = NULL;
	return r;
}

void ident_discard(struct ident *id)
{
	EVP_MD_CTX_free(id->md);
	id->md = NULL;
}
