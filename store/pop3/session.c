#include "store/pop3/session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "store/base/termsafe.h"
#include "store/log.h"
#include "store/net/tls.h"

void pop3_broken(struct pop3_store *st, bool hostile)
{
	st->base.broken = true;
	if (hostile)
		st->base.hostile = true;
}

/* Moves what is left to the front and reads more after it. */
static int fill(struct pop3_store *st, struct ferry_error *err)
{
	ssize_t r;

	if (st->rpos > 0) {
		memmove(st->rbuf, st->rbuf + st->rpos, st->rlen - st->rpos);
		st->rlen -= st->rpos;
		st->rpos = 0;
	}
	r = mailstream_low_read(st->low, st->rbuf + st->rlen, POP3_READ_BUF - st->rlen);
	if (r <= 0) {
		pop3_broken(st, false);
		return ferry_error_set(err, FERRY_CAUSE_NETWORK,
				       "%s: connection lost, or no answer within %d s", st->where,
				       st->base.conf->pop3.timeout);
	}
	st->rlen += (size_t)r;
	return 0;
}

/* The next piece of a line as it came: up to its line ending (*eol, the
 * ending not included), or a full buffer of a longer line. A CR at the end
 * of a buffer is held back: it may be half of the CRLF. */
static int raw_piece(struct pop3_store *st, const char **buf, size_t *len, bool *eol,
		     struct ferry_error *err)
{
	for (;;) {
		char *p = st->rbuf + st->rpos;
		size_t avail = st->rlen - st->rpos;
		char *nl = avail ? memchr(p, '\n', avail) : NULL;

		if (nl) {
			size_t n = (size_t)(nl - p);

			st->rpos += n + 1;
			if (n > 0 && p[n - 1] == '\r')
				n--;
			*buf = p;
			*len = n;
			*eol = true;
			return 0;
		}
		if (st->rpos == 0 && st->rlen == POP3_READ_BUF) {
			size_t n = p[avail - 1] == '\r' ? avail - 1 : avail;

			st->rpos += n;
			*buf = p;
			*len = n;
			*eol = false;
			return 0;
		}
		if (fill(st, err) != 0)
			return -1;
	}
}

/* A whole line into st->line, at most POP3_LINE_MAX bytes. */
static int read_line(struct pop3_store *st, const char *cmd, struct ferry_error *err)
{
	bool eol = false;

	st->linelen = 0;
	while (!eol) {
		const char *piece;
		size_t n;

		if (raw_piece(st, &piece, &n, &eol, err) != 0)
			return -1;
		if (n > POP3_LINE_MAX - st->linelen) {
			pop3_broken(st, true);
			return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
					       "%s: %s: the server sent a line over %d bytes",
					       st->where, cmd, POP3_LINE_MAX);
		}
		memcpy(st->line + st->linelen, piece, n);
		st->linelen += n;
	}
	st->line[st->linelen] = '\0';
	if (strlen(st->line) != st->linelen) {
		pop3_broken(st, true);
		return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				       "%s: %s: the server sent a NUL byte in a line", st->where,
				       cmd);
	}
	return 0;
}

/* Up to 200 bytes of s, safe to show. */
static const char *safe(const char *s, char *out, size_t cap)
{
	size_t len = strlen(s);

	termsafe_escape(s, len > 200 ? 200 : len, out, cap);
	return out;
}

/* The status line in st->line: 0 for +OK, 1 for -ERR, the text after it
 * left in st->line; -1 for anything else (PROTOCOL). */
static int classify(struct pop3_store *st, const char *cmd, struct ferry_error *err)
{
	char shown[TERMSAFE_ROOM(200)];
	size_t skip;
	int r;

	if (strncmp(st->line, "+OK", 3) == 0 && (st->line[3] == '\0' || st->line[3] == ' '))
		r = 0, skip = 3;
	else if (strncmp(st->line, "-ERR", 4) == 0 && (st->line[4] == '\0' || st->line[4] == ' '))
		r = 1, skip = 4;
	else {
		pop3_broken(st, true);
		return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				       "%s: %s: expected +OK or -ERR, got \"%s\"", st->where, cmd,
				       safe(st->line, shown, sizeof(shown)));
	}
	skip += st->line[skip] == ' ';
	memmove(st->line, st->line + skip, st->linelen - skip + 1);
	st->linelen -= skip;
	return r;
}

int pop3_status(struct pop3_store *st, const char *cmd, struct ferry_error *err)
{
	if (read_line(st, cmd, err) != 0)
		return -1;
	return classify(st, cmd, err);
}

int pop3_refused(struct pop3_store *st, enum ferry_cause cause, const char *cmd,
		 struct ferry_error *err)
{
	char shown[TERMSAFE_ROOM(200)];

	return ferry_error_set(err, cause, "%s: %s refused: -ERR %s", st->where, cmd,
			       safe(st->line, shown, sizeof(shown)));
}

int pop3_data_line(struct pop3_store *st, const char *cmd, struct ferry_error *err)
{
	if (read_line(st, cmd, err) != 0)
		return -1;
	if (st->line[0] != '.')
		return 1;
	if (st->linelen == 1)
		return 0;
	memmove(st->line, st->line + 1, st->linelen);
	st->linelen--;
	return 1;
}

int pop3_data_piece(struct pop3_store *st, const char **buf, size_t *len, bool *bol, bool *eol,
		    struct ferry_error *err)
{
	if (raw_piece(st, buf, len, eol, err) != 0)
		return -1;
	*bol = !st->mid_line;
	st->mid_line = !*eol;
	if (*bol && *len > 0 && (*buf)[0] == '.') {
		if (*len == 1 && *eol)
			return 0;
		(*buf)++;
		(*len)--;
	}
	return 1;
}

int pop3_send(struct pop3_store *st, bool private, struct ferry_error *err, const char *fmt, ...)
{
	char line[POP3_LINE_MAX + 3];
	va_list ap;
	int n;
	size_t done = 0;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "%s: a command too long",
				       st->where);
	memcpy(line + n, "\r\n", 2);
	if (private)
		mailstream_low_set_privacy(st->low, 0);
	while (done < (size_t)n + 2) {
		ssize_t w = mailstream_low_write(st->low, line + done, (size_t)n + 2 - done);

		if (w <= 0)
			break;
		done += (size_t)w;
	}
	if (private)
		mailstream_low_set_privacy(st->low, 1);
	explicit_bzero(line, sizeof(line));
	if (done < (size_t)n + 2) {
		pop3_broken(st, false);
		return ferry_error_set(err, FERRY_CAUSE_NETWORK,
				       "%s: connection lost while sending", st->where);
	}
	return 0;
}

/* ---- the way in ---- */

/* The greeting's "<...@...>" (RFC 1939 7: APOP), kept for APOP. */
static void keep_stamp(struct pop3_store *st)
{
	const char *open = strchr(st->line, '<');
	const char *close = open ? strchr(open, '>') : NULL;

	st->stamp[0] = '\0';
	if (!open || !close || !memchr(open, '@', (size_t)(close - open)))
		return;
	memcpy(st->stamp, open, (size_t)(close - open) + 1);
	st->stamp[close - open + 1] = '\0';
}

static int greeting(struct pop3_store *st, struct ferry_error *err)
{
	int r = pop3_status(st, "greeting", err);

	if (r < 0)
		return -1;
	if (r > 0) {
		pop3_broken(st, false);
		return pop3_refused(st, FERRY_CAUSE_NETWORK, "the connection", err);
	}
	keep_stamp(st);
	return 0;
}

/* CAPA (RFC 2449); a server without it (-ERR) has unknown capabilities:
 * ferry then tries UIDL and TOP and sees. */
static int capa(struct pop3_store *st, struct ferry_error *err)
{
	char words[1024] = "";
	size_t used = 0;
	int r;

	st->base.caps = 0;
	free(st->base.capabilities);
	st->base.capabilities = NULL;
	if (pop3_send(st, false, err, "CAPA") != 0 || (r = pop3_status(st, "CAPA", err)) < 0)
		return -1;
	if (r > 0)
		return 0;
	st->base.caps = POP3_CAP_KNOWN;
	while ((r = pop3_data_line(st, "CAPA", err)) > 0) {
		char *tok = strtok(st->line, " ");

		if (!tok)
			continue;
		if (strcasecmp(tok, "UIDL") == 0)
			st->base.caps |= POP3_CAP_UIDL;
		else if (strcasecmp(tok, "TOP") == 0)
			st->base.caps |= POP3_CAP_TOP;
		else if (strcasecmp(tok, "STLS") == 0)
			st->base.caps |= POP3_CAP_STLS;
		else if (strcasecmp(tok, "USER") == 0)
			st->base.caps |= POP3_CAP_USER;
		else if (strcasecmp(tok, "SASL") == 0) {
			char *mech;

			while ((mech = strtok(NULL, " ")))
				if (strcasecmp(mech, "PLAIN") == 0)
					st->base.caps |= POP3_CAP_SASL_PLAIN;
		}
		if (used + strlen(tok) + 2 < sizeof(words)) {
			used += (size_t)snprintf(words + used, sizeof(words) - used, "%s%s",
						 used ? " " : "", tok);
		}
	}
	if (r < 0)
		return -1;
	{
		char shown[TERMSAFE_ROOM(sizeof(words))];

		termsafe_escape(words, used, shown, sizeof(shown));
		st->base.capabilities = strdup(shown);
	}
	if (!st->base.capabilities)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	return 0;
}

static void net_conf_of(const struct pop3_conf *c, struct net_conf *out)
{
	*out = (struct net_conf){.host = c->host,
				 .port = c->port,
				 .tls = c->tls,
				 .ca_file = c->ca_file,
				 .has_fingerprint = c->has_fingerprint,
				 .fingerprint = c->fingerprint,
				 .timeout = c->timeout};
}

/* STLS (RFC 2595 4): the handshake on the same socket, the plain stream
 * swapped for the TLS one, and CAPA asked again (what came before TLS is
 * not to be trusted). */
static int stls(struct pop3_store *st, struct ferry_error *err)
{
	const struct pop3_conf *c = &st->base.conf->pop3;
	struct net_conf net;
	mailstream_low *tls;
	int r;

	if ((st->base.caps & POP3_CAP_KNOWN) && !(st->base.caps & POP3_CAP_STLS))
		return ferry_error_set(err, FERRY_CAUSE_TLS,
				       "%s:%d does not offer STLS; refusing to log in without TLS "
				       "(use tls = implicit, or tls = no to allow plaintext)",
				       c->host, c->port);
	if (pop3_send(st, false, err, "STLS") != 0 || (r = pop3_status(st, "STLS", err)) < 0)
		return -1;
	if (r > 0)
		return pop3_refused(st, FERRY_CAUSE_TLS, "STLS", err);
	/* Anything already read was sent before the handshake: an injection
	 * (as CVE-2020-15953 for IMAP). */
	if (st->rpos != st->rlen) {
		pop3_broken(st, true);
		return ferry_error_set(err, FERRY_CAUSE_TLS,
				       "%s: STLS: the server sent data before the TLS handshake; "
				       "refusing the session",
				       st->where);
	}
	net_conf_of(c, &net);
	tls = net_starttls(st->low, &net, err);
	if (!tls) {
		pop3_broken(st, false);
		return -1;
	}
	mailstream_low_free(st->low); /* keeps the fd, now owned by tls */
	st->low = tls;
	return capa(st, err);
}

static int user_pass(struct pop3_store *st, const char *secret, struct ferry_error *err)
{
	const struct pop3_conf *c = &st->base.conf->pop3;
	int r;

	if (pop3_send(st, false, err, "USER %s", c->user) != 0 ||
	    (r = pop3_status(st, "USER", err)) < 0)
		return -1;
	if (r > 0)
		return pop3_refused(st, FERRY_CAUSE_AUTH, "USER", err);
	if (pop3_send(st, true, err, "PASS %s", secret) != 0 ||
	    (r = pop3_status(st, "PASS", err)) < 0)
		return -1;
	return r > 0 ? pop3_refused(st, FERRY_CAUSE_AUTH, "login (PASS)", err) : 0;
}

/* APOP (RFC 1939 7): MD5 of the greeting's timestamp and the secret. */
static int apop(struct pop3_store *st, const char *secret, struct ferry_error *err)
{
	const struct pop3_conf *c = &st->base.conf->pop3;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	EVP_MD_CTX *ctx;
	bool ok;
	int r;

	if (!st->stamp[0])
		return ferry_error_set(err, FERRY_CAUSE_AUTH,
				       "%s: auth = apop, but the greeting has no timestamp "
				       "(the server does not offer APOP)",
				       st->where);
	ctx = EVP_MD_CTX_new();
	ok = ctx && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
	     EVP_DigestUpdate(ctx, st->stamp, strlen(st->stamp)) == 1 &&
	     EVP_DigestUpdate(ctx, secret, strlen(secret)) == 1 &&
	     EVP_DigestFinal_ex(ctx, md, &mdlen) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "%s: APOP: MD5 failed",
				       st->where);
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	r = pop3_send(st, true, err, "APOP %s %s", c->user, hex);
	explicit_bzero(md, sizeof(md));
	explicit_bzero(hex, sizeof(hex));
	if (r != 0 || (r = pop3_status(st, "APOP", err)) < 0)
		return -1;
	return r > 0 ? pop3_refused(st, FERRY_CAUSE_AUTH, "login (APOP)", err) : 0;
}

/* AUTH PLAIN with the initial response on the command line (RFC 5034 4);
 * a server that still asks ("+ ", as RFC 1734 servers do) gets it again
 * after the continuation. */
static int auth_plain(struct pop3_store *st, const char *secret, struct ferry_error *err)
{
	const struct pop3_conf *c = &st->base.conf->pop3;
	size_t ulen = strlen(c->user), slen = strlen(secret), rawlen = 2 * ulen + slen + 2;
	size_t b64cap = 4 * (rawlen / 3 + 1) + 1;
	unsigned char *raw = malloc(rawlen);
	char *b64 = malloc(b64cap);
	int r = -1;

	if (!raw || !b64) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto done;
	}
	/* authzid NUL authcid NUL password */
	memcpy(raw, c->user, ulen);
	raw[ulen] = '\0';
	memcpy(raw + ulen + 1, c->user, ulen);
	raw[2 * ulen + 1] = '\0';
	memcpy(raw + 2 * ulen + 2, secret, slen);
	EVP_EncodeBlock((unsigned char *)b64, raw, (int)rawlen);
	if (strlen(b64) + 12 > POP3_LINE_MAX) {
		ferry_error_set(err, FERRY_CAUSE_AUTH, "%s: AUTH PLAIN: user and password too long",
				st->where);
		goto done;
	}
	if (pop3_send(st, true, err, "AUTH PLAIN %s", b64) != 0 ||
	    read_line(st, "AUTH PLAIN", err) != 0)
		goto done;
	if (st->line[0] == '+' && (st->line[1] == ' ' || st->line[1] == '\0') &&
	    (pop3_send(st, true, err, "%s", b64) != 0 || read_line(st, "AUTH PLAIN", err) != 0))
		goto done;
	r = classify(st, "AUTH PLAIN", err);
	if (r > 0)
		r = pop3_refused(st, FERRY_CAUSE_AUTH, "login (AUTH PLAIN)", err);
done:
	if (raw)
		explicit_bzero(raw, rawlen);
	if (b64)
		explicit_bzero(b64, b64cap);
	free(raw);
	free(b64);
	return r;
}

static int login(struct pop3_store *st, const char *secret, const char **how,
		 struct ferry_error *err)
{
	enum pop3_auth auth = st->base.conf->pop3.auth;

	if (!secret)
		return ferry_error_set(err, FERRY_CAUSE_AUTH,
				       "%s asks for a login but no password is configured",
				       st->where);
	if (auth == POP3_AUTH_AUTO)
		auth = st->base.caps & POP3_CAP_SASL_PLAIN ? POP3_AUTH_PLAIN : POP3_AUTH_USER;
	switch (auth) {
	case POP3_AUTH_APOP:
		*how = "APOP";
		return apop(st, secret, err);
	case POP3_AUTH_PLAIN:
		*how = "AUTH PLAIN";
		if ((st->base.caps & POP3_CAP_KNOWN) && !(st->base.caps & POP3_CAP_SASL_PLAIN))
			return ferry_error_set(err, FERRY_CAUSE_AUTH,
					       "%s does not offer SASL PLAIN (CAPA)", st->where);
		return auth_plain(st, secret, err);
	case POP3_AUTH_USER:
	case POP3_AUTH_AUTO:
		break;
	}
	*how = "USER";
	return user_pass(st, secret, err);
}

int pop3_session_open(const struct store_conf *conf, const char *secret, struct pop3_store **out,
		      struct ferry_error *err)
{
	const struct pop3_conf *c = &conf->pop3;
	struct pop3_store *st = calloc(1, sizeof(*st));
	struct net_conf net;
	const char *how = "";
	char desc[512];

	*out = NULL;
	if (!st || !(st->rbuf = malloc(POP3_READ_BUF))) {
		free(st);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	st->base.conf = conf;
	st->where = c->tunnel ? "tunnel" : c->host;
	net_conf_of(c, &net);
	st->low = c->tunnel ? net_tunnel(c->tunnel, c->timeout, err) : net_connect(&net, err);
	if (!st->low)
		goto fail;
	if (greeting(st, err) != 0 || capa(st, err) != 0)
		goto fail;
	if (c->tls == TLS_STARTTLS && !c->tunnel && stls(st, err) != 0)
		goto fail;
	if (login(st, secret, &how, err) != 0)
		goto fail;
	/* Some servers say more once logged in (RFC 2449 5: capabilities may
	 * change after login). */
	if (capa(st, err) != 0)
		goto fail;
	if (c->tunnel)
		snprintf(desc, sizeof(desc), "tunnel `%s`, logged in as %s (%s)", c->tunnel,
			 c->user, how);
	else
		snprintf(desc, sizeof(desc), "%s:%d, %s, logged in as %s (%s)", c->host, c->port,
			 net_describe(st->low), c->user, how);
	st->base.description = strdup(desc);
	if (!st->base.description) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto fail;
	}
	*out = st;
	return 0;
fail:
	pop3_broken(st, false);
	pop3_session_close(st);
	return -1;
}

void pop3_session_close(struct pop3_store *st)
{
	struct ferry_error err;

	if (!st)
		return;
	if (st->low && !st->base.broken) {
		/* DELE takes effect here (RFC 1939 6: the UPDATE state). */
		int r = pop3_send(st, false, &err, "QUIT");

		if (r == 0)
			r = pop3_status(st, "QUIT", &err);
		if (r > 0)
			pop3_refused(st, FERRY_CAUSE_REFUSED, "QUIT", &err);
		/* The server keeps what DELE marked: the next run sees them again. */
		if (r != 0)
			log_warn("%s: %s (messages marked for deletion stay)", st->base.conf->name,
				 err.msg);
	}
	if (st->low) {
		mailstream_low_close(st->low);
		mailstream_low_free(st->low);
	}
	for (size_t i = 0; i < st->nmsgs; i++)
		free(st->msgs[i].key);
	free(st->msgs);
	free(st->by_uid);
	db_close(st->map);
	free(st->base.description);
	free(st->base.capabilities);
	free(st->rbuf);
	free(st);
}
