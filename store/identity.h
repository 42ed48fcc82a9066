/* Message identity (DESIGN rule 6) and line endings.
 *
 * Both stores must compute the same identity for the same message whatever
 * its line endings: SHA-256 over the header block (everything up to and
 * including the first empty line) with every bare LF turned into CRLF, and
 * the size of the whole message in that CRLF form (= RFC822.SIZE). The
 * functions stream, so a 50 MB message never has to be in memory. */
#ifndef FERRY_IDENTITY_H
#define FERRY_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "store/store.h"

struct ident {
	EVP_MD_CTX *md;
	/* The munged hash (struct msg_id): NULL until the header's first 8-bit
	 * byte, then a copy of md from there on, fed 'X' for each 8-bit byte. */
	EVP_MD_CTX *munged;
	uint64_t crlf_size; /* size so far, as CRLF */
	bool in_header;	    /* still inside the header block */
	bool prev_cr;	    /* last byte seen was CR */
	bool line_content;  /* the current header line has content */
	bool size_prev_cr;  /* last byte of the whole message so far was CR */
};

/* Returns 0, or -1 if OpenSSL fails. */
int ident_init(struct ident *id);
/* Feeds bytes of the message, in any line-ending convention. */
int ident_feed(struct ident *id, const char *buf, size_t len);
/* Finishes: the header hash and the CRLF size. Frees the context. */
int ident_final(struct ident *id, struct msg_id *out, uint64_t *crlf_size);
void ident_discard(struct ident *id);

#endif
