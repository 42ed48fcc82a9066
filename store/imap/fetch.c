/* Reading messages of the selected folder: their headers, hashed into
 * identities (rule 6), and their bodies, streamed to a sink chunk by chunk
 * (rule 17: every uid asked for is delivered or told undelivered). */
#include "store/imap/fetch.h"

#include <stdio.h>
#include <stdlib.h>

#include "store/identity.h"
#include "store/imap/fetchresp.h"
#include "store/imap/guard.h"
#include "store/imap/select.h"
#include "store/imap/uidset.h"
#include "store/log.h"

/* Uids per UID FETCH of headers and of bodies: a failed command loses at
 * most that much work. */
#define IDENTIFY_BATCH 500
#define FETCH_BATCH    200

/* Headers, hashed as they arrive. */

struct wanted {
	uint32_t uid;
	size_t index; /* into msgs */
};

struct identify {
	struct msg *msgs;
	const struct wanted *want; /* sorted by uid */
	size_t nwant;
	bool sizes;  /* RFC822.SIZE asked for too: it replaces msgs[].size */
	bool failed; /* OpenSSL failed */
};

static int cmp_wanted(const void *a, const void *b)
{
	const struct wanted *x = a, *y = b;

	return (x->uid > y->uid) - (x->uid < y->uid);
}

static void on_header_att(struct mailimap_msg_att *att, void *ctx)
{
	struct identify *c = ctx;
	struct wanted key, *w;
	struct imap_fetched f;
	struct ident id;
	struct msg_id out;
	uint64_t dropped;

	imap_read_items(att, &f);
	if (!f.uid || !f.body || !f.body->sec_body_part)
		return; /* a flag change, or NIL: not an identity */
	key.uid = f.uid;
	w = bsearch(&key, c->want, c->nwant, sizeof(*c->want), cmp_wanted);
	if (!w)
		return;
	if (ident_init(&id) != 0) {
		c->failed = true;
		return;
	}
	if (ident_feed(&id, f.body->sec_body_part, f.body->sec_length) != 0) {
		ident_discard(&id);
		c->failed = true;
		return;
	}
	dropped = ident_dropped(&id);
	if (ident_final(&id, &out, NULL) != 0) {
		c->failed = true;
		return;
	}
	out.known = true;
	if (msg_set_id(&c->msgs[w->index], &out) != 0) {
		c->failed = true;
		return;
	}
	if (c->sizes && f.has_size)
		c->msgs[w->index].size = f.size;
	/* The identity's size: RFC822.SIZE without the header lines it leaves
	 * out (rule 6, version 2). */
	if (c->msgs[w->index].size >= dropped)
		c->msgs[w->index].size -= dropped;
}

/* Fills the ids of msgs that lack one from their headers, and with sizes
 * their sizes too, in one UID FETCH per IDENTIFY_BATCH uids. */
int imap_identify_msgs(struct imap_store *st, struct msg *msgs, size_t n, bool sizes,
		       struct ferry_error *err)
{
	static struct mailimap_fetch_att *(*const atts[])(void) = {
	    mailimap_fetch_att_new_uid, mailimap_fetch_att_new_rfc822_size};
	size_t natts = sizes ? 2 : 1;
	struct wanted *want;
	uint32_t *uids;
	size_t nwant = 0;
	int r = 0;

	if (imap_need_selected(st, "reading message headers", err) != 0)
		return -1;
	want = malloc((n + 1) * sizeof(*want));
	uids = malloc((n + 1) * sizeof(*uids));
	if (!want || !uids) {
		free(want);
		free(uids);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		if (!msg_id_known(&msgs[i]) && msgs[i].uid)
			want[nwant++] = (struct wanted){msgs[i].uid, i};
	qsort(want, nwant, sizeof(*want), cmp_wanted);
	for (size_t i = 0; i < nwant; i++)
		uids[i] = want[i].uid;
	for (size_t done = 0; done < nwant;) {
		struct identify c = {.msgs = msgs, .want = want, .nwant = nwant, .sizes = sizes};
		struct mailimap_section *section = mailimap_section_new_header();
		struct mailimap_fetch_type *ft =
		    section ? imap_fetch_type(atts, natts, section) : NULL;
		size_t used = 0;
		struct mailimap_set *set =
		    imap_uid_set(uids + done, nwant - done, IDENTIFY_BATCH, SET_MAX_RANGES, &used);

		if (!ft || !set) {
			if (ft)
				mailimap_fetch_type_free(ft);
			if (set)
				mailimap_set_free(set);
			r = ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
			break;
		}
		r = imap_uid_fetch(st, set, ft, on_header_att, NULL, &c);
		if (r != MAILIMAP_NO_ERROR) {
			r = imap_fail(
			    st, r, err,
			    "folder \"%s\": reading the headers of %zu messages from uid %u",
			    st->selected, used, uids[done]);
			break;
		}
		if (c.failed) {
			r = ferry_error_set(
			    err, FERRY_CAUSE_PROTOCOL,
			    "folder \"%s\": hashing message headers failed (OpenSSL)",
			    st->selected);
			break;
		}
		done += used;
	}
	/* A uid that did not come back is gone (rule 12): its id stays unknown. */
	free(want);
	free(uids);
	return r;
}

int imap_identify(struct store *store, struct msg *msgs, size_t n, struct ferry_error *err)
{
	return imap_identify_msgs((struct imap_store *)store, msgs, n, false, err);
}

/* Bodies, streamed from the answer to the sink. */

struct bodies {
	struct imap_store *st;
	const struct fetch_sink *sink;
	const uint32_t *batch; /* sorted uids asked for in this command */
	bool *answered;	       /* per batch uid: delivered, or told undelivered */
	size_t nbatch;
	bool begun;  /* sink->begin called, end/abort not yet */
	bool failed; /* the sink failed: stop delivering */
	uint32_t failed_uid;
	size_t unasked;	      /* bodies the server sent that were not asked for */
	uint32_t unasked_uid; /* the last of them */
	struct ferry_error sink_err;
};

static bool on_body_chunk(int type, struct mailimap_msg_att_body_section *section,
			  const char *bytes, size_t len, void *ctx)
{
	struct bodies *c = ctx;

	(void)type;
	(void)section;
	if (c->failed)
		return false; /* aborts the parse: the session is lost, as it must be */
	if (!c->begun) {
		if (c->sink->begin(c->sink->ctx, &c->sink_err) != 0) {
			c->failed = true;
			return false;
		}
		c->begun = true;
	}
	if (len && c->sink->write(c->sink->ctx, bytes, len, &c->sink_err) != 0) {
		c->failed = true;
		return false;
	}
	return true;
}

/* The end of a FETCH response: the body (if any) is complete and its uid
 * is known at last. */
static void on_body_att(struct mailimap_msg_att *att, void *ctx)
{
	struct bodies *c = ctx;
	struct imap_fetched f;
	size_t at = 0;
	bool wanted;

	imap_read_items(att, &f);
	if (!f.body) {
		/* Another session's flag change; a body is never split from it. */
		if (c->begun) {
			c->sink->abort(c->sink->ctx);
			c->begun = false;
		}
		return;
	}
	wanted = f.uid && imap_uid_in(c->batch, c->nbatch, f.uid, &at) && !c->answered[at];
	if (!wanted || !f.body->sec_body_part || c->failed) {
		/* Not asked for, a second copy, or NIL: nothing is delivered. */
		if (c->begun)
			c->sink->abort(c->sink->ctx);
		c->begun = false;
		if (!wanted) {
			c->unasked++;
			c->unasked_uid = f.uid;
		} else if (!c->failed) {
			/* Rule 17: an answer, but not the message. */
			c->answered[at] = true;
			c->sink->undelivered(c->sink->ctx, f.uid, "the server sent BODY[] NIL");
		}
		return;
	}
	if (!c->begun && c->sink->begin(c->sink->ctx, &c->sink_err) != 0) {
		/* An empty body: no chunk came, so begin was not called yet. */
		c->failed = true;
		c->failed_uid = f.uid;
		return;
	}
	/* A section libetpan did not stream (it may keep a short one whole):
	 * its bytes are in the answer itself. */
	if (!c->begun && f.body->sec_length &&
	    c->sink->write(c->sink->ctx, f.body->sec_body_part, f.body->sec_length, &c->sink_err) !=
		0) {
		c->sink->abort(c->sink->ctx);
		c->failed = true;
		c->failed_uid = f.uid;
		return;
	}
	c->begun = false;
	if (c->sink->end(c->sink->ctx, f.uid, &c->sink_err) != 0) {
		c->failed = true;
		c->failed_uid = f.uid;
		return;
	}
	c->answered[at] = true;
}

/* Rule 17: a uid the command's OK came without a body for (no FETCH
 * response, one without BODY[], or its body under another uid) did not
 * arrive; it may be gone, or the server may have failed to read it. */
static void report_missing(struct bodies *c)
{
	char why[160];

	if (c->unasked == 1)
		snprintf(why, sizeof(why),
			 "no body came for it (the server answered OK, and sent one under uid %u, "
			 "not asked for)",
			 c->unasked_uid);
	else if (c->unasked)
		snprintf(why, sizeof(why),
			 "no body came for it (the server answered OK, and sent %zu under uids not "
			 "asked for, the last under uid %u)",
			 c->unasked, c->unasked_uid);
	else
		snprintf(why, sizeof(why), "no body came for it (the server answered OK)");
	for (size_t i = 0; i < c->nbatch; i++)
		if (!c->answered[i])
			c->sink->undelivered(c->sink->ctx, c->batch[i], why);
}

/* headers: BODY.PEEK[HEADER] rather than BODY.PEEK[]. */
static int fetch_batch(struct imap_store *st, const uint32_t *uids, size_t n, bool headers,
		       const struct fetch_sink *sink, size_t *used, struct ferry_error *err)
{
	static struct mailimap_fetch_att *(*const atts[])(void) = {mailimap_fetch_att_new_uid};
	struct bodies c = {.st = st, .sink = sink, .batch = uids};
	struct mailimap_section *section =
	    headers ? mailimap_section_new_header() : mailimap_section_new(NULL);
	struct mailimap_fetch_type *ft =
	    section ? imap_fetch_type(atts, sizeof(atts) / sizeof(atts[0]), section) : NULL;
	struct mailimap_set *set = imap_uid_set(uids, n, FETCH_BATCH, SET_MAX_RANGES, used);
	int r;

	c.nbatch = *used;
	c.answered = calloc(*used + 1, sizeof(*c.answered));
	if (!ft || !set || !c.answered) {
		if (ft)
			mailimap_fetch_type_free(ft);
		if (set)
			mailimap_set_free(set);
		free(c.answered);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	/* A body is no larger than the RFC822.SIZE it was listed with; the
	 * slack is for servers whose sizes are estimates. */
	imap_expect_sections(st, st->size_max ? 2 * (uint64_t)st->size_max + (1u << 20)
					      : GUARD_LITERAL_HARD_MAX);
	r = imap_uid_fetch(st, set, ft, on_body_att, on_body_chunk, &c);
	imap_expect_sections(st, 0);
	if (c.begun) {
		/* Cut off inside a literal: the partial message is dropped. */
		sink->abort(sink->ctx);
		c.begun = false;
	}
	if (r == MAILIMAP_NO_ERROR && !c.failed)
		report_missing(&c);
	free(c.answered);
	if (c.unasked)
		log_warn("folder \"%s\": ignored %zu message(s) the server sent unasked",
			 st->selected, c.unasked);
	if (c.failed) {
		bool lost = r != MAILIMAP_NO_ERROR;

		if (c.failed_uid)
			ferry_error_set(err, FERRY_CAUSE_PROTOCOL, "folder \"%s\": uid %u: %s",
					st->selected, c.failed_uid, c.sink_err.msg);
		else
			ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
					"folder \"%s\": storing a message: %s%s", st->selected,
					c.sink_err.msg,
					lost ? " (the IMAP session had to be given up)" : "");
		/* A sink that failed inside a body made libetpan stop reading
		 * (MAILIMAP_ERROR_MEMORY): the rest of the answer is unread. This
		 * comes last, as it forgets the selected folder. */
		if (lost)
			imap_fail(st, r, NULL, "fetch aborted");
		return -1;
	}
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(st, r, err, "folder \"%s\": fetching %zu messages from uid %u",
				 st->selected, *used, uids[0]);
	return 0;
}

static int fetch_sections(struct store *store, const uint32_t *uids, size_t n, bool headers,
			  const struct fetch_sink *sink, struct ferry_error *err)
{
	struct imap_store *st = (struct imap_store *)store;
	uint32_t *sorted;
	size_t count = 0;
	int r = 0;

	if (imap_need_selected(st, "fetching messages", err) != 0)
		return -1;
	sorted = imap_sorted_uids(uids, n, &count);
	if (!sorted)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	for (size_t done = 0; done < count && r == 0;) {
		size_t used = 0;

		r = fetch_batch(st, sorted + done, count - done, headers, sink, &used, err);
		done += used;
	}
	free(sorted);
	return r;
}

int imap_fetch(struct store *store, const uint32_t *uids, size_t n, const struct fetch_sink *sink,
	       struct ferry_error *err)
{
	return fetch_sections(store, uids, n, false, sink, err);
}

int imap_fetch_headers(struct store *store, const uint32_t *uids, size_t n,
		       const struct fetch_sink *sink, struct ferry_error *err)
{
	return fetch_sections(store, uids, n, true, sink, err);
}
