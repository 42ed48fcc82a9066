#include "store/imap/session.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "store/imap/compress.h"
#include "store/imap/guard.h"
#include "store/net/tls.h"
#include "store/log.h"

/* Read buffer of the mailstream; libetpan's own default is 8 KiB. */
#define STREAM_BUFFER_SIZE 65536

const char *imap_error_text(int r)
{
	switch (r) {
	case MAILIMAP_ERROR_STREAM:
		return "connection lost or timed out";
	case MAILIMAP_ERROR_PARSE:
		return "the server sent a response that cannot be parsed";
	case MAILIMAP_ERROR_FATAL:
		return "the server closed the session (BYE)";
	case MAILIMAP_ERROR_PROTOCOL:
		return "the server answered BAD or out of order";
	case IMAP_ERROR_BAD:
		return "the server answered BAD";
	case IMAP_ERROR_TAG:
		return "the server answered out of order";
	case MAILIMAP_ERROR_MEMORY:
		return "out of memory or aborted while reading a response";
	case MAILIMAP_ERROR_DONT_ACCEPT_CONNECTION:
		return "the server refused the connection (BYE in greeting)";
	case MAILIMAP_ERROR_STARTTLS:
		return "STARTTLS failed (refused, or data injected after the OK)";
	case MAILIMAP_ERROR_BAD_STATE:
		return "command not valid in this state";
	default:
		return "command failed";
	}
}

enum ferry_cause imap_cause(int r)
{
	switch (r) {
	case MAILIMAP_ERROR_STREAM:
	case MAILIMAP_ERROR_CONNECTION_REFUSED:
	case MAILIMAP_ERROR_DONT_ACCEPT_CONNECTION:
		return FERRY_CAUSE_NETWORK;
	case MAILIMAP_ERROR_PARSE:
	case MAILIMAP_ERROR_PROTOCOL:
	case MAILIMAP_ERROR_FATAL:
	case IMAP_ERROR_TAG:
		return FERRY_CAUSE_PROTOCOL;
	case MAILIMAP_ERROR_MEMORY:
	case MAILIMAP_ERROR_BAD_STATE:
	case MAILIMAP_ERROR_INVAL:
		return FERRY_CAUSE_INTERNAL;
	case MAILIMAP_ERROR_LOGIN:
	case MAILIMAP_ERROR_SASL:
		return FERRY_CAUSE_AUTH;
	case MAILIMAP_ERROR_STARTTLS:
	case MAILIMAP_ERROR_SSL:
		return FERRY_CAUSE_TLS;
	default:
		return FERRY_CAUSE_REFUSED; /* a NO or BAD to one command */
	}
}

bool imap_error_is_fatal(int r)
{
	return r == MAILIMAP_ERROR_STREAM || r == MAILIMAP_ERROR_PARSE ||
	       r == MAILIMAP_ERROR_FATAL || r == MAILIMAP_ERROR_PROTOCOL || r == IMAP_ERROR_TAG ||
	       r == MAILIMAP_ERROR_MEMORY || r == MAILIMAP_ERROR_STARTTLS ||
	       r == MAILIMAP_ERROR_DONT_ACCEPT_CONNECTION;
}

int imap_result(struct imap_store *st, int r)
{
	const MMAPString *buf = st->imap ? st->imap->imap_stream_buffer : NULL;
	char tag[24];
	size_t end, start, taglen;

	if (r != MAILIMAP_ERROR_PROTOCOL)
		return r;
	/* The response just parsed is in the stream buffer, its tagged line
	 * last: libetpan compared its tag and found it BAD, or another tag. */
	if (!buf || !buf->str || buf->len == 0)
		return IMAP_ERROR_TAG;
	end = buf->len;
	while (end > 0 && (buf->str[end - 1] == '\n' || buf->str[end - 1] == '\r'))
		end--;
	start = end;
	while (start > 0 && buf->str[start - 1] != '\n')
		start--;
	taglen = (size_t)snprintf(tag, sizeof(tag), "%d ", st->imap->imap_tag);
	if (end - start >= taglen + 3 && memcmp(buf->str + start, tag, taglen) == 0 &&
	    strncasecmp(buf->str + start + taglen, "BAD", 3) == 0 &&
	    (end - start == taglen + 3 || buf->str[start + taglen + 3] == ' '))
		return IMAP_ERROR_BAD;
	return IMAP_ERROR_TAG;
}

const char *imap_response_text(mailimap *imap, char *buf, size_t len)
{
	const char *in = imap && imap->imap_response ? imap->imap_response : "";
	size_t o = 0;

	for (; *in && o + 1 < len; in++)
		if ((unsigned char)*in >= 0x20 && *in != 0x7f)
			buf[o++] = *in;
	buf[o] = '\0';
	return o ? buf : "(no reason given)";
}

/* Drops the connection without a LOGOUT round trip (mailimap_free would
 * send one and could wait a full timeout on a dead peer). */
static void drop(mailimap *imap)
{
	if (!imap)
		return;
	if (imap->imap_stream) {
		mailstream_close(imap->imap_stream);
		imap->imap_stream = NULL;
	}
	mailimap_free(imap);
}

static mailstream_low *transport(mailstream *stream);

static bool has_cap(mailimap *imap, const char *name)
{
	return mailimap_has_extension(imap, (char *)name) != 0;
}

static int refresh_capabilities(struct imap_store *st, struct ferry_error *err)
{
	struct mailimap_capability_data *caps = NULL;
	int r = mailimap_capability(st->imap, &caps);

	if (r != MAILIMAP_NO_ERROR)
		return ferry_error_set(err, imap_cause(r), "CAPABILITY: %s", imap_error_text(r));
	mailimap_capability_data_free(caps);
	return 0;
}

static const struct {
	const char *name;
	unsigned bit;
} cap_table[] = {
    {"UIDPLUS", CAP_UIDPLUS},
    {"MOVE", CAP_MOVE},
    {"CONDSTORE", CAP_CONDSTORE},
    {"QRESYNC", CAP_QRESYNC},
    {"IDLE", CAP_IDLE},
    {"LIST-STATUS", CAP_LIST_STATUS},
    {"SPECIAL-USE", CAP_SPECIAL_USE},
    {"LITERAL+", CAP_LITERAL_PLUS},
    {"MULTIAPPEND", CAP_MULTIAPPEND},
    {"COMPRESS=DEFLATE", CAP_COMPRESS},
    {"OBJECTID", CAP_OBJECTID},
    {"ENABLE", CAP_ENABLE},
    {"NAMESPACE", CAP_NAMESPACE},
};

/* Fills base.caps and base.capabilities from libetpan's cached list. */
static int record_capabilities(struct imap_store *st)
{
	struct mailimap_capability_data *data =
	    st->imap->imap_connection_info ? st->imap->imap_connection_info->imap_capability : NULL;
	size_t len = 1, o = 0;
	clistiter *it;
	char *text;

	if (!data || !data->cap_list)
		return -1;
	for (it = clist_begin(data->cap_list); it; it = clist_next(it)) {
		struct mailimap_capability *c = clist_content(it);
		const char *name = c->cap_type == MAILIMAP_CAPABILITY_NAME
				       ? c->cap_data.cap_name
				       : c->cap_data.cap_auth_type;

		len += strlen(name) + 6;
	}
	text = malloc(len);
	if (!text)
		return -1;
	text[0] = '\0';
	for (it = clist_begin(data->cap_list); it; it = clist_next(it)) {
		struct mailimap_capability *c = clist_content(it);

		if (c->cap_type == MAILIMAP_CAPABILITY_NAME)
			o += (size_t)snprintf(text + o, len - o, "%s%s", o ? " " : "",
					      c->cap_data.cap_name);
		else
			o += (size_t)snprintf(text + o, len - o, "%sAUTH=%s", o ? " " : "",
					      c->cap_data.cap_auth_type);
	}
	free(st->base.capabilities);
	st->base.capabilities = text;
	st->base.caps = 0;
	for (size_t i = 0; i < sizeof(cap_table) / sizeof(cap_table[0]); i++)
		if (has_cap(st->imap, cap_table[i].name))
			st->base.caps |= cap_table[i].bit;
	return 0;
}

/* What the shared transport needs of c. */
static void imap_net_conf(const struct imap_conf *c, struct net_conf *out)
{
	*out = (struct net_conf){.host = c->host,
				 .port = c->port,
				 .tls = c->tls,
				 .ca_file = c->ca_file,
				 .has_fingerprint = c->has_fingerprint,
				 .fingerprint = c->fingerprint,
				 .timeout = c->timeout};
}

static int starttls(struct imap_store *st, struct ferry_error *err)
{
	const struct imap_conf *c = &st->base.conf->imap;
	struct net_conf net;
	mailstream_low *plain, *tls;
	int r;

	if (!st->imap->imap_connection_info || !st->imap->imap_connection_info->imap_capability) {
		if (refresh_capabilities(st, err) != 0)
			return -1;
	}
	if (!has_cap(st->imap, "STARTTLS"))
		return ferry_error_set(
		    err, FERRY_CAUSE_TLS,
		    "%s:%d does not offer STARTTLS; refusing to log in without TLS "
		    "(use tls = implicit, or tls = none to allow plaintext)",
		    c->host, c->port);
	r = mailimap_starttls(st->imap);
	if (r != MAILIMAP_NO_ERROR)
		return ferry_error_set(err, FERRY_CAUSE_TLS, "STARTTLS: %s", imap_error_text(r));
	/* Anything already buffered was sent before the handshake: an injection
	 * (CVE-2020-15953). */
	if (st->imap->imap_stream->read_buffer_len != 0 || imap_guard_pending(st))
		return ferry_error_set(err, FERRY_CAUSE_TLS,
				       "STARTTLS: the server sent data before the TLS handshake; "
				       "refusing the session");
	plain = transport(st->imap->imap_stream);
	imap_net_conf(c, &net);
	tls = net_starttls(plain, &net, err);
	if (!tls)
		return -1;
	guard_set_inner(mailstream_get_low(st->imap->imap_stream), tls);
	mailstream_low_free(plain); /* keeps the fd, now owned by tls */
	/* Pre-TLS capabilities are not to be trusted, and libetpan keeps them. */
	return refresh_capabilities(st, err);
}

static bool is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* The OAuth2 access token goes into the SASL exchange as it is: RFC 6750's
 * b64token, printable ASCII without spaces (a 0x01 would end the field). */
static bool is_bearer_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s > '~')
			return false;
	return true;
}

/* RFC 7628's initial client response, base64:
 * "n,a=USER,^Ahost=HOST^Aport=PORT^Aauth=Bearer TOKEN^A^A", with "," and "="
 * in USER as "=2C" and "=3D" (RFC 5801's saslname). A tunnel has no host or
 * port to name. */
static char *oauthbearer_response(const struct imap_conf *c, const char *token)
{
	size_t cap = 64 + 3 * strlen(c->user) + (c->host ? strlen(c->host) : 0) + strlen(token);
	char *raw = malloc(cap), *b64 = NULL;
	size_t o = 0;

	if (!raw)
		return NULL;
	o += (size_t)snprintf(raw, cap, "n,a=");
	for (const char *u = c->user; *u; u++) {
		if (*u == ',' || *u == '=') {
			memcpy(raw + o, *u == ',' ? "=2C" : "=3D", 3);
			o += 3;
		} else {
			raw[o++] = *u;
		}
	}
	o += (size_t)snprintf(raw + o, cap - o, ",\001");
	if (c->host)
		o += (size_t)snprintf(raw + o, cap - o, "host=%s\001port=%d\001", c->host, c->port);
	o += (size_t)snprintf(raw + o, cap - o, "auth=Bearer %s\001\001", token);
	if (o < cap && o < (size_t)INT_MAX / 2) {
		b64 = malloc(4 * ((o + 2) / 3) + 1);
		if (b64)
			EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)raw, (int)o);
	}
	OPENSSL_cleanse(raw, cap);
	free(raw);
	return b64;
}

/* Writes TEXT and CRLF, and flushes. A secret goes out while the stream is
 * private, so the -v trace shows "<redacted>" (trace.c). */
static int send_line(mailstream *s, const char *text, bool secret)
{
	int r = MAILIMAP_NO_ERROR;

	if (secret && mailstream_flush(s) == -1)
		return MAILIMAP_ERROR_STREAM;
	if (secret)
		mailstream_set_privacy(s, 0);
	if (mailstream_write(s, text, strlen(text)) == -1 || mailstream_write(s, "\r\n", 2) == -1 ||
	    mailstream_flush(s) == -1)
		r = MAILIMAP_ERROR_STREAM;
	if (secret)
		mailstream_set_privacy(s, 1);
	return r;
}

/* The "status" of RFC 7628's error challenge (base64 JSON such as
 * {"status":"invalid_token"}) into status, or "" if there is none: only
 * letters, digits, "_", "-" and ".", so it is safe to show. */
static void challenge_status(const char *b64, char *status, size_t size)
{
	size_t len = strcspn(b64, "\r\n"), n = 0;
	unsigned char *json = malloc(len / 4 * 3 + 4);
	const char *p;
	int got;

	status[0] = '\0';
	if (!json || len == 0 || len % 4 != 0)
		goto out;
	got = EVP_DecodeBlock(json, (const unsigned char *)b64, (int)len);
	if (got <= 0)
		goto out;
	json[got] = '\0';
	p = strstr((const char *)json, "\"status\"");
	if (!p)
		goto out;
	p += strlen("\"status\"");
	p += strspn(p, " \t");
	if (*p++ != ':')
		goto out;
	p += strspn(p, " \t");
	if (*p++ != '"')
		goto out;
	while (n + 1 < size && (isalnum((unsigned char)p[n]) || strchr("_-.", p[n])) && p[n])
		n++;
	if (p[n] == '"') {
		memcpy(status, p, n);
		status[n] = '\0';
	}
out:
	free(json);
}

/* AUTHENTICATE OAUTHBEARER (RFC 7628), which libetpan lacks. The response
 * goes on the command line when the server has SASL-IR, else after its
 * first "+". A "+" after the response is the error challenge (JSON): the
 * client must answer it with a single 0x01 ("AQ==") before the server sends
 * its NO. Anything past that is cancelled ("*"). */
static int oauthbearer_authenticate(mailimap *imap, const struct imap_conf *c, const char *token,
				    char *status, size_t status_size)
{
	bool ir = has_cap(imap, "SASL-IR");
	char *response = oauthbearer_response(c, token);
	struct mailimap_response *resp = NULL;
	int r, state, sent = ir ? 1 : 0;

	if (!response)
		return MAILIMAP_ERROR_MEMORY;
	r = mailimap_send_current_tag(imap);
	if (r == MAILIMAP_NO_ERROR) {
		const char *cmd = ir ? "AUTHENTICATE OAUTHBEARER " : "AUTHENTICATE OAUTHBEARER";

		if (mailstream_write(imap->imap_stream, cmd, strlen(cmd)) == -1)
			r = MAILIMAP_ERROR_STREAM;
		else
			r = send_line(imap->imap_stream, ir ? response : "", ir);
	}
	/* Each "+" is answered; the line after the last is the tagged answer. */
	while (r == MAILIMAP_NO_ERROR) {
		const MMAPString *line;

		if (!mailimap_read_line(imap)) {
			r = MAILIMAP_ERROR_STREAM;
			break;
		}
		line = imap->imap_stream_buffer;
		if (line->len == 0 || line->str[0] != '+')
			break;
		if (sent == 0) {
			r = send_line(imap->imap_stream, response, true);
		} else if (sent == 1) {
			challenge_status(line->str + strspn(line->str, "+ "), status, status_size);
			r = send_line(imap->imap_stream, "AQ==", false);
		} else if (sent == 2) {
			r = send_line(imap->imap_stream, "*", false);
		} else {
			r = MAILIMAP_ERROR_PROTOCOL;
		}
		sent++;
	}
	OPENSSL_cleanse(response, strlen(response));
	free(response);
	if (r != MAILIMAP_NO_ERROR)
		return r;
	r = mailimap_parse_response(imap, &resp);
	if (r != MAILIMAP_NO_ERROR)
		return r;
	state = resp->rsp_resp_done && resp->rsp_resp_done->rsp_data.rsp_tagged &&
			resp->rsp_resp_done->rsp_data.rsp_tagged->rsp_cond_state
		    ? resp->rsp_resp_done->rsp_data.rsp_tagged->rsp_cond_state->rsp_type
		    : MAILIMAP_RESP_COND_STATE_BAD;
	mailimap_response_free(resp);
	if (state != MAILIMAP_RESP_COND_STATE_OK)
		return MAILIMAP_ERROR_LOGIN;
	imap->imap_state = MAILIMAP_STATE_AUTHENTICATED;
	return MAILIMAP_NO_ERROR;
}

/* *fresh: the server's answer to the login carried its capabilities (a
 * CAPABILITY response code, which libetpan stores in place of the old list),
 * so asking again would only cost a round trip. */
static int authenticate(struct imap_store *st, const char *secret, const char **how, bool *fresh,
			struct ferry_error *err)
{
	const struct mailimap_capability_data *before;
	const struct imap_conf *c = &st->base.conf->imap;
	const char *where = c->host ? c->host : "tunnel";
	enum auth_mech mech = c->auth;
	char why[512], status[48] = "";
	int r;

	if (!secret)
		return ferry_error_set(err, FERRY_CAUSE_AUTH,
				       "%s asks for a login but no password is configured", where);
	if (!st->imap->imap_connection_info || !st->imap->imap_connection_info->imap_capability) {
		if (refresh_capabilities(st, err) != 0)
			return -1;
	}
	before = st->imap->imap_connection_info->imap_capability;
	if (mech == AUTH_AUTO) {
		/* LOGIN needs no SASL plugin; PLAIN where LOGIN is off or the
		 * password is not ASCII (LOGIN sends 8-bit bytes raw). */
		bool plain = mailimap_has_authentication(st->imap, "PLAIN") != 0;

		if (plain && (has_cap(st->imap, "LOGINDISABLED") || !is_ascii(secret)))
			mech = AUTH_PLAIN;
		else
			mech = AUTH_LOGIN;
	}
	if ((mech == AUTH_XOAUTH2 || mech == AUTH_OAUTHBEARER) && !is_bearer_token(secret))
		return ferry_error_set(err, FERRY_CAUSE_AUTH,
				       "password_command printed no OAuth2 access token for %s "
				       "(a space or a character outside printable ASCII)",
				       where);
	switch (mech) {
	case AUTH_OAUTHBEARER:
		*how = "OAUTHBEARER";
		if (!mailimap_has_authentication(st->imap, "OAUTHBEARER"))
			return ferry_error_set(err, FERRY_CAUSE_AUTH,
					       "%s does not offer AUTH=OAUTHBEARER", where);
		r = oauthbearer_authenticate(st->imap, c, secret, status, sizeof(status));
		break;
	case AUTH_XOAUTH2:
		*how = "XOAUTH2";
		if (!mailimap_has_xoauth2(st->imap))
			return ferry_error_set(err, FERRY_CAUSE_AUTH,
					       "%s does not offer AUTH=XOAUTH2", where);
		r = mailimap_oauth2_authenticate(st->imap, c->user, secret);
		break;
	case AUTH_PLAIN:
		*how = "AUTHENTICATE PLAIN";
		if (!mailimap_has_authentication(st->imap, "PLAIN"))
			return ferry_error_set(err, FERRY_CAUSE_AUTH,
					       "%s does not offer AUTH=PLAIN", where);
		r = mailimap_authenticate(st->imap, "PLAIN", c->host, NULL, NULL, c->user, c->user,
					  secret, NULL);
		break;
	default:
		*how = "LOGIN";
		if (has_cap(st->imap, "LOGINDISABLED"))
			return ferry_error_set(err, FERRY_CAUSE_AUTH,
					       "%s does not allow LOGIN here (LOGINDISABLED)",
					       where);
		r = mailimap_login(st->imap, c->user, secret);
		break;
	}
	if (r == MAILIMAP_NO_ERROR) {
		*fresh = st->imap->imap_connection_info &&
			 st->imap->imap_connection_info->imap_capability &&
			 st->imap->imap_connection_info->imap_capability != before;
		return 0;
	}
	if (r == MAILIMAP_ERROR_LOGIN || r == MAILIMAP_ERROR_SASL)
		return ferry_error_set(
		    err, FERRY_CAUSE_AUTH, "login refused for %s at %s: %s%s%s%s", c->user, where,
		    imap_response_text(st->imap, why, sizeof(why)),
		    status[0] ? " (token status: " : "", status, status[0] ? ")" : "");
	return ferry_error_set(err, imap_cause(r), "login as %s at %s: %s", c->user, where,
			       imap_error_text(r));
}

/* The guard (guard.c), on top of every session's stack. */
static mailstream_low *guard_of(mailstream *stream)
{
	mailstream_low *low = stream ? mailstream_get_low(stream) : NULL;

	return guard_is_layer(low) ? low : NULL;
}

/* The layer under the guard: the deflate layer, or the transport. */
static mailstream_low *under_guard(mailstream *stream)
{
	mailstream_low *low = mailstream_get_low(stream);

	return guard_is_layer(low) ? guard_inner(low) : low;
}

/* The transport (tls.c) under the guard and the deflate layer. */
static mailstream_low *transport(mailstream *stream)
{
	mailstream_low *low = under_guard(stream);

	return compress_is_layer(low) ? compress_inner(low) : low;
}

bool imap_guard_pending(struct imap_store *st)
{
	mailstream_low *g = guard_of(st->imap ? st->imap->imap_stream : NULL);

	return g && guard_pending(g);
}

const char *imap_guard_error(struct imap_store *st)
{
	mailstream_low *g = guard_of(st->imap ? st->imap->imap_stream : NULL);

	return g ? guard_error(g) : "";
}

void imap_expect_sections(struct imap_store *st, uint64_t max)
{
	mailstream_low *g = guard_of(st->imap ? st->imap->imap_stream : NULL);

	if (g)
		guard_expect_sections(g, max);
}

void imap_expect_untagged(struct imap_store *st, size_t max)
{
	mailstream_low *g = guard_of(st->imap ? st->imap->imap_stream : NULL);

	if (g)
		guard_expect_untagged(g, max);
}

bool imap_data_pending(struct imap_store *st)
{
	mailstream *stream = st->imap ? st->imap->imap_stream : NULL;
	mailstream_low *low;

	if (!stream)
		return false;
	if (stream->read_buffer_len > 0 || imap_guard_pending(st))
		return true;
	low = under_guard(stream);
	if (compress_is_layer(low) && compress_pending(low))
		return true;
	return net_pending(transport(stream)) > 0;
}

/* compress = auto: not through a tunnel (its command can compress, as
 * ssh -C does, and ferry cannot tell), and not to this machine, by name or
 * by the address connected to, where deflate only costs CPU. */
static bool compress_wanted(const struct imap_conf *c, mailstream_low *low)
{
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);

	if (c->compress != COMPRESS_AUTO)
		return c->compress == COMPRESS_YES;
	if (c->tunnel || compress_host_is_loopback(c->host))
		return false;
	return getpeername(mailstream_low_get_fd(low), (struct sockaddr *)&peer, &len) != 0 ||
	       !compress_addr_is_loopback((struct sockaddr *)&peer, len);
}

/* COMPRESS DEFLATE, sent raw: libetpan's mailimap_compress() needs a
 * libetpan built with zlib, which Debian's is not. Returns the tagged
 * status (MAILIMAP_RESP_COND_STATE_*) or -1 with err set. */
static int send_compress(struct imap_store *st, char *text, size_t textlen, struct ferry_error *err)
{
	static const char cmd[] = "COMPRESS DEFLATE\r\n";
	mailstream *stream = st->imap->imap_stream;
	struct mailimap_response *resp = NULL;
	int r, cond;

	r = mailimap_send_current_tag(st->imap);
	if (r == MAILIMAP_NO_ERROR &&
	    (mailstream_write(stream, cmd, sizeof(cmd) - 1) != (ssize_t)(sizeof(cmd) - 1) ||
	     mailstream_flush(stream) != 0))
		r = MAILIMAP_ERROR_STREAM;
	if (r == MAILIMAP_NO_ERROR && !mailimap_read_line(st->imap))
		r = MAILIMAP_ERROR_STREAM;
	if (r == MAILIMAP_NO_ERROR)
		r = mailimap_parse_response(st->imap, &resp);
	if (r != MAILIMAP_NO_ERROR) {
		if (r == MAILIMAP_ERROR_PROTOCOL)
			return ferry_error_set(err, imap_cause(r), "COMPRESS DEFLATE: %s: %s",
					       imap_error_text(r),
					       imap_response_text(st->imap, text, textlen));
		return ferry_error_set(err, imap_cause(r), "COMPRESS DEFLATE: %s",
				       imap_error_text(r));
	}
	cond = resp->rsp_resp_done && resp->rsp_resp_done->rsp_data.rsp_tagged &&
		       resp->rsp_resp_done->rsp_data.rsp_tagged->rsp_cond_state
		   ? resp->rsp_resp_done->rsp_data.rsp_tagged->rsp_cond_state->rsp_type
		   : MAILIMAP_RESP_COND_STATE_BAD;
	mailimap_response_free(resp);
	imap_response_text(st->imap, text, textlen);
	return cond;
}

/* Turns COMPRESS=DEFLATE on after login if the config wants it and the
 * server offers it (after login, so the password never passes through the
 * compressor). *note says what came of it, for the store's description. */
static int start_compress(struct imap_store *st, const char **note, struct ferry_error *err)
{
	const struct imap_conf *c = &st->base.conf->imap;
	mailstream *stream = st->imap->imap_stream;
	mailstream_low *plain = under_guard(stream), *zlow;
	char text[256];
	int r;

	*note = "";
	if (!compress_wanted(c, plain))
		return 0;
	if (!(st->base.caps & CAP_COMPRESS)) {
		if (c->compress == COMPRESS_YES)
			*note = ", not compressed (the server does not offer COMPRESS=DEFLATE)";
		return 0;
	}
	r = send_compress(st, text, sizeof(text), err);
	if (r < 0)
		return -1;
	if (r != MAILIMAP_RESP_COND_STATE_OK) {
		/* NO: the session goes on as it was, uncompressed. */
		log_warn("%s: the server refused COMPRESS DEFLATE (%s); going on uncompressed",
			 st->base.conf->name, text);
		*note = ", not compressed (the server refused COMPRESS)";
		return 0;
	}
	/* Everything after the OK is deflate data, and the server has no
	 * reason to send any before the next command: bytes already buffered
	 * were sent as plain text after the OK, an injection as with STARTTLS. */
	if (stream->read_buffer_len != 0 || imap_guard_pending(st))
		return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				       "COMPRESS DEFLATE: the server sent data right after its OK; "
				       "refusing the session");
	zlow = compress_open(plain, err);
	if (!zlow)
		return -1;
	net_set_trace(plain, false); /* the deflate layer traces the text now */
	/* Under the guard, which must see the inflated text. */
	guard_set_inner(mailstream_get_low(stream), zlow);
	/* One round trip proves both directions, so a server that cannot
	 * deflate fails here with its reason rather than as a lost connection
	 * in the middle of a sync. */
	r = mailimap_noop(st->imap);
	if (r != MAILIMAP_NO_ERROR) {
		const char *why = compress_error(zlow);

		if (!why[0])
			why = imap_guard_error(st);
		return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				       "COMPRESS DEFLATE: the first command after it failed: %s",
				       why[0] ? why : imap_error_text(r));
	}
	compress_report_errors(zlow, st->base.conf->name);
	*note = ", compressed (COMPRESS=DEFLATE)";
	return 0;
}

/* A greeting of "* OK" may be followed by the real one, "* PREAUTH"
 * (Courier, guard.c): the answer to the first command tells. Without
 * capabilities from the greeting that command is CAPABILITY, which STARTTLS
 * and the login need anyway; with them a server does not greet late. */
static int late_greeting(struct imap_store *st, struct ferry_error *err)
{
	mailstream_low *g = guard_of(st->imap->imap_stream);

	if (!g || !guard_awaiting_first_answer(g))
		return 0;
	if (!st->imap->imap_connection_info || !st->imap->imap_connection_info->imap_capability) {
		if (refresh_capabilities(st, err) != 0)
			return -1;
	}
	if (guard_late_preauth(g))
		st->imap->imap_state = MAILIMAP_STATE_AUTHENTICATED;
	return 0;
}

int imap_session_open(const struct store_conf *conf, const char *secret, struct store **out,
		      struct ferry_error *err)
{
	const struct imap_conf *c = &conf->imap;
	struct imap_store *st = calloc(1, sizeof(*st));
	struct net_conf net;
	mailstream_low *low, *top;
	mailstream *stream;
	const char *how = "PREAUTH", *compressed;
	bool caps_fresh = false;
	char desc[512];
	int r;

	if (!st)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	st->base.conf = conf;
	imap_net_conf(c, &net);
	low = c->tunnel ? net_tunnel(c->tunnel, c->timeout, err) : net_connect(&net, err);
	if (!low)
		goto fail;
	top = guard_open(low, err);
	if (!top) {
		mailstream_low_close(low);
		mailstream_low_free(low);
		goto fail;
	}
	guard_set_name(top, conf->name);
	stream = mailstream_new(top, STREAM_BUFFER_SIZE);
	if (!stream) {
		mailstream_low_close(top);
		mailstream_low_free(top);
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto fail;
	}
	st->imap = mailimap_new(0, NULL);
	if (!st->imap) {
		mailstream_close(stream);
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto fail;
	}
	r = mailimap_connect(st->imap, stream); /* owns stream from here */
	if (r != MAILIMAP_NO_ERROR_AUTHENTICATED && r != MAILIMAP_NO_ERROR_NON_AUTHENTICATED) {
		if (guard_error(top)[0])
			ferry_error_set(err, FERRY_CAUSE_PROTOCOL, "%s: no IMAP greeting: %s",
					c->tunnel ? "tunnel" : c->host, guard_error(top));
		else
			ferry_error_set(err, imap_cause(r), "%s: no IMAP greeting: %s",
					c->tunnel ? "tunnel" : c->host, imap_error_text(r));
		goto fail;
	}
	if (r == MAILIMAP_NO_ERROR_NON_AUTHENTICATED && late_greeting(st, err) != 0)
		goto fail;
	if (guard_late_preauth(top))
		r = MAILIMAP_NO_ERROR_AUTHENTICATED;
	if (c->tls == TLS_STARTTLS && !c->tunnel) {
		if (r == MAILIMAP_NO_ERROR_AUTHENTICATED) {
			ferry_error_set(err, FERRY_CAUSE_TLS,
					"%s greeted with PREAUTH before STARTTLS; refusing an "
					"unencrypted session",
					c->host);
			goto fail;
		}
		if (starttls(st, err) != 0)
			goto fail;
	}
	if (r == MAILIMAP_NO_ERROR_NON_AUTHENTICATED &&
	    authenticate(st, secret, &how, &caps_fresh, err) != 0)
		goto fail;
	/* Servers may send different capabilities after login; ask again
	 * unless the login's answer said them. */
	if ((!caps_fresh && refresh_capabilities(st, err) != 0) || record_capabilities(st) != 0) {
		if (!err->msg[0])
			ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
					"no capabilities from the server");
		goto fail;
	}
	if (start_compress(st, &compressed, err) != 0)
		goto fail;
	if (c->tunnel)
		snprintf(desc, sizeof(desc), "tunnel `%s`, %s%s", c->tunnel, how, compressed);
	else
		snprintf(desc, sizeof(desc), "%s:%d, %s, logged in as %s (%s)%s", c->host, c->port,
			 net_describe(transport(st->imap->imap_stream)), c->user, how, compressed);
	st->base.description = strdup(desc);
	if (!st->base.description) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto fail;
	}
	*out = &st->base;
	return 0;
fail:
	/* The guard cut the stream, which libetpan reports as a lost
	 * connection: say what the server did, and have it not retried. */
	if (st->imap && imap_guard_error(st)[0] && err->cause != FERRY_CAUSE_PROTOCOL) {
		char was[sizeof(err->msg)], *lost;

		snprintf(was, sizeof(was), "%s", err->msg);
		lost = strstr(was, imap_error_text(MAILIMAP_ERROR_STREAM));
		if (lost)
			*lost = '\0';
		ferry_error_set(err, FERRY_CAUSE_PROTOCOL, "%s%s%s", was, lost ? "" : ": ",
				imap_guard_error(st));
	}
	drop(st->imap);
	free(st->base.capabilities);
	free(st);
	return -1;
}

void imap_unselect(struct imap_store *st)
{
	free(st->selected);
	free(st->selected_imap);
	st->selected = NULL;
	st->selected_imap = NULL;
	st->uidvalidity = st->uidnext = st->exists = 0;
	st->exists_known = false;
	st->sel_virtual = false;
}

/* Errors libetpan detects before or without a server response: the text in
 * imap_response is then an older command's. */
static bool has_server_text(int r)
{
	return r != MAILIMAP_ERROR_BAD_STATE && r != MAILIMAP_ERROR_INVAL &&
	       r != MAILIMAP_ERROR_MEMORY && r != MAILIMAP_ERROR_STREAM &&
	       r != MAILIMAP_ERROR_PARSE && r != MAILIMAP_ERROR_FATAL;
}

int imap_fail(struct imap_store *st, int r, struct ferry_error *err, const char *fmt, ...)
{
	char context[512], text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(context, sizeof(context), fmt, ap);
	va_end(ap);
	r = imap_result(st, r);
	if (imap_error_is_fatal(r)) {
		const char *guarded = imap_guard_error(st);

		/* libetpan never marks a session dead and keeps imap_state as it
		 * was: from here on ferry refuses to send on it. */
		st->broken = true;
		st->base.broken = true;
		snprintf(st->broken_why, sizeof(st->broken_why), "%s",
			 guarded[0] ? guarded : imap_error_text(r));
		imap_unselect(st);
		/* The guard cut the stream: the server broke the protocol, and
		 * trying again would meet the same. */
		st->base.hostile = guarded[0] != '\0';
		if (guarded[0])
			return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
					       "%s: %s; the session is no longer usable", context,
					       guarded);
		if (r == MAILIMAP_ERROR_PROTOCOL || r == IMAP_ERROR_TAG)
			return ferry_error_set(err, imap_cause(r),
					       "%s: %s: %s; the session is no longer usable",
					       context, imap_error_text(r),
					       imap_response_text(st->imap, text, sizeof(text)));
		return ferry_error_set(err, imap_cause(r),
				       "%s: %s; the session is no longer usable", context,
				       imap_error_text(r));
	}
	if (!has_server_text(r))
		return ferry_error_set(err, imap_cause(r), "%s: %s", context, imap_error_text(r));
	return ferry_error_set(err, imap_cause(r), "%s: %s: %s", context, imap_error_text(r),
			       imap_response_text(st->imap, text, sizeof(text)));
}

const char *imap_sanitize(const char *s, char *buf, size_t len)
{
	size_t o = 0;

	for (; s && *s && o + 5 < len; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c < 0x7f && c != '\\')
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
	}
	if (s && *s && o + 4 < len)
		o += (size_t)snprintf(buf + o, len - o, "...");
	buf[o] = '\0';
	return buf;
}

int imap_session_gone(const struct imap_store *st, struct ferry_error *err)
{
	return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
			       "the IMAP session is no longer usable after an earlier error (%s); "
			       "reconnect",
			       st->broken_why);
}

void imap_session_close(struct imap_store *st)
{
	/* LOGOUT is sent but its answer not awaited: it changes nothing, and
	 * waiting costs a round trip at the end of every run. */
	if (!st->broken && st->imap && st->imap->imap_stream &&
	    mailimap_send_current_tag(st->imap) == MAILIMAP_NO_ERROR &&
	    mailstream_write(st->imap->imap_stream, "LOGOUT\r\n", 8) == 8)
		(void)mailstream_flush(st->imap->imap_stream);
	drop(st->imap);
	free(st->base.capabilities);
	free(st->base.description);
	free(st->ns_prefix);
	for (char **p = st->ns_foreign; p && *p; p++)
		free(*p);
	free(st->ns_foreign);
	free(st->selected);
	free(st->selected_imap);
	free(st);
}
