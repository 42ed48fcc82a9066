/* Message identity (DESIGN rule 6) and line endings.
 *
 * Both stores must compute the same identity for the same message whatever
 * its line endings: SHA-256 over the header block (everything up to and
 * including the first empty line) with every bare LF turned into CRLF, and
 * the size of the whole message in that CRLF form (= RFC822.SIZE). The
 * functions stream, so a 50 MB message never has to be in memory.
 *
 * Version 2 leaves out of both the header lines other synchronisers add to
 * what they store (mbsync's X-TUID, offlineimap's X-OfflineIMAP), with their
 * continuation lines: ferry then pairs their copies with the originals. A
 * message without such a line has the same identity in both versions. */
#ifndef FERRY_IDENTITY_H
#define FERRY_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "store/store.h"

/* The identity version the state and the Maildir index record. */
#define IDENT_VERSION 2

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
	/* Version 2: where the current header line stands (enum in
	 * identity.c), its first bytes held back until its field name says
	 * whether it counts, and the CRLF bytes of the lines left out. */
	unsigned char line;
	unsigned char nheld;
	bool prev_dropped; /* the last header line was left out */
	char held[16];
	uint64_t dropped;
};

/* How much larger than its identity's size a store's size of a message
 * may be: the header lines version 2 leaves out (mbsync's X-TUID line is
 * 22 bytes, offlineimap's X-OfflineIMAP about 50). A server's listing gives
 * its size, so a size this close to another may still be the same message. */
#define IDENT_ADDED_MAX 256

/* Whether sorted[0..n) holds a size within IDENT_ADDED_MAX of size, either
 * way: either side may be the one with the added lines. */
bool ident_size_near(const uint64_t *sorted, size_t n, uint64_t size);

/* Returns 0, or -1 if OpenSSL fails. */
int ident_init(struct ident *id);
/* Feeds bytes of the message, in any line-ending convention. */
int ident_feed(struct ident *id, const char *buf, size_t len);
/* The CRLF bytes of the header lines left out so far: a server's size of
 * the message (RFC822.SIZE) minus this is its identity's size. */
uint64_t ident_dropped(const struct ident *id);
/* Finishes: the header hash and the identity's CRLF size (without the
 * lines left out). Frees the context. */
int ident_final(struct ident *id, struct msg_id *out, uint64_t *crlf_size);
void ident_discard(struct ident *id);

/* Where the header block of a message being read ends (the first empty
 * line): fed chunks in order, header_end_feed returns how many bytes of
 * buf still belong to the block, the empty line included, and sets ended
 * once it ended. Zero-initialise. */
struct header_end {
	bool midline; /* inside a line with content (CRs do not count) */
	bool ended;
};
size_t header_end_feed(struct header_end *h, const char *buf, size_t len);

#endif
