#include "store/imap/queue.h"

#include <stdlib.h>
#include <string.h>

#include "store/base/grow.h"

struct imap_command {
	int tag; /* libetpan's number for the command's tag */
	const struct imap_handler *h;
	void *ctx;
	size_t arg;
};

/* v[head..n) are in flight, oldest first. */
struct imap_queue {
	struct imap_command *v;
	size_t head, n, cap;
};

int imap_parse_answer(struct imap_store *st, int tag, bool have_line, bool *ok)
{
	mailimap *imap = st->imap;
	struct mailimap_response *resp = NULL;
	int last = imap->imap_tag, r;

	/* libetpan takes a tagged answer for its command only if the tag is
	 * imap_tag's; put back after, so that the next command still gets a
	 * fresh tag. */
	*ok = false;
	imap->imap_tag = tag;
	if (!have_line && !mailimap_read_line(imap))
		r = MAILIMAP_ERROR_STREAM;
	else
		r = imap_result(st, mailimap_parse_response(imap, &resp));
	imap->imap_tag = last;
	/* A BAD fails this command only, as a NO does: the next answer is
	 * still in step (libetpan.md, point 7). */
	if (r == IMAP_ERROR_BAD)
		return MAILIMAP_NO_ERROR;
	if (r != MAILIMAP_NO_ERROR)
		return r;
	*ok = resp->rsp_resp_done->rsp_data.rsp_tagged->rsp_cond_state->rsp_type ==
	      MAILIMAP_RESP_COND_STATE_OK;
	mailimap_response_free(resp);
	return MAILIMAP_NO_ERROR;
}

int imap_queue_reserve(struct imap_store *st, struct ferry_error *err)
{
	struct imap_queue *q = st->queue;
	struct imap_command *v;

	if (!q) {
		q = calloc(1, sizeof(*q));
		if (!q)
			return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		st->queue = q;
	}
	if (q->head > 0 && q->n == q->cap) {
		/* The answered go; a window of commands in flight keeps its size. */
		memmove(q->v, q->v + q->head, (q->n - q->head) * sizeof(*q->v));
		q->n -= q->head;
		q->head = 0;
	}
	v = grow_array(q->v, &q->cap, q->n + 1, sizeof(*v));
	if (!v)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	q->v = v;
	return 0;
}

int imap_queue_write(struct imap_store *st, const char *line)
{
	size_t len = strlen(line);

	if (mailimap_send_current_tag(st->imap) != MAILIMAP_NO_ERROR ||
	    mailstream_write(st->imap->imap_stream, line, len) != (ssize_t)len)
		return -1;
	return st->imap->imap_tag;
}

void imap_queue_push(struct imap_store *st, int tag, const struct imap_handler *h, void *ctx,
		     size_t arg)
{
	struct imap_queue *q = st->queue;

	q->v[q->n++] = (struct imap_command){.tag = tag, .h = h, .ctx = ctx, .arg = arg};
}

int imap_queue_send(struct imap_store *st, const char *line, const struct imap_handler *h,
		    void *ctx, size_t arg, const char *what, struct ferry_error *err)
{
	int tag;

	if (imap_queue_reserve(st, err) != 0)
		return -1;
	tag = imap_queue_write(st, line);
	if (tag < 0) {
		imap_fail(st, MAILIMAP_ERROR_STREAM, err, "sending %s", what);
		imap_queue_lose(st, err);
		return -1;
	}
	imap_queue_push(st, tag, h, ctx, arg);
	return tag;
}

int imap_queue_flush(struct imap_store *st, const char *what, struct ferry_error *err)
{
	if (mailstream_flush(st->imap->imap_stream) == 0)
		return 0;
	imap_fail(st, MAILIMAP_ERROR_STREAM, err, "sending %s", what);
	imap_queue_lose(st, err);
	return -1;
}

size_t imap_queue_unread(const struct imap_store *st)
{
	return st->queue ? st->queue->n - st->queue->head : 0;
}

void imap_queue_lose(struct imap_store *st, const struct ferry_error *why)
{
	struct imap_queue *q = st->queue;

	while (q && q->head < q->n) {
		struct imap_command c = q->v[q->head++];

		if (c.h->lost)
			c.h->lost(st, c.ctx, c.arg, why);
	}
	if (q)
		q->head = q->n = 0;
}

int imap_queue_read_one(struct imap_store *st, struct ferry_error *err)
{
	struct imap_queue *q = st->queue;
	struct ferry_error mine = {0};
	struct imap_command c;

	if (!err)
		err = &mine;
	if (!q || q->head == q->n)
		return 0;
	if (st->broken) {
		imap_session_gone(st, err);
		imap_queue_lose(st, err);
		return -1;
	}
	c = q->v[q->head++];
	if (c.h->read(st, c.tag, c.ctx, c.arg, err) != 0 || st->broken) {
		if (!err->msg[0])
			imap_session_gone(st, err);
		imap_queue_lose(st, err);
		return -1;
	}
	if (q->head == q->n)
		q->head = q->n = 0;
	return 0;
}

int imap_queue_settle_through(struct imap_store *st, int tag, struct ferry_error *err)
{
	struct imap_queue *q = st->queue;
	bool in_flight = false;

	for (size_t i = q ? q->head : 0; q && i < q->n && !in_flight; i++)
		in_flight = q->v[i].tag == tag;
	while (in_flight) {
		in_flight = q->v[q->head].tag != tag;
		if (imap_queue_read_one(st, err) != 0)
			return -1;
	}
	return 0;
}

int imap_queue_settle_others(struct imap_store *st, const struct imap_handler *keep,
			     struct ferry_error *err)
{
	struct imap_queue *q = st->queue;

	for (size_t i = q ? q->n : 0; q && i-- > q->head;)
		if (q->v[i].h != keep)
			return imap_queue_settle_through(st, q->v[i].tag, err);
	return 0;
}

int imap_queue_settle(struct imap_store *st, struct ferry_error *err)
{
	while (imap_queue_unread(st) > 0)
		if (imap_queue_read_one(st, err) != 0)
			return -1;
	return 0;
}

void imap_queue_free(struct imap_store *st)
{
	if (!st->queue)
		return;
	free(st->queue->v);
	free(st->queue);
	st->queue = NULL;
}

int imap_usable(struct imap_store *st, struct ferry_error *err)
{
	/* Answers in flight are read first: their tagged replies must not be
	 * taken for the next command's. */
	if (!st->broken && imap_queue_settle(st, err) != 0)
		return -1;
	if (!st->broken)
		return 0;
	return imap_session_gone(st, err);
}
