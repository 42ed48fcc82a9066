/* corpusgen: a deterministic mail corpus for ferry's benchmark (tests/bench).
 * Built and run by tests/bench/corpus.sh; not part of the ferry build.
 *
 *	corpusgen gen COUNT SEED [small] < FOLDERS
 *	    FOLDERS: one line per folder, "WEIGHT<TAB>KIND<TAB>DIR", DIR a Maildir
 *	    folder (cur/ new/ tmp/ are made if missing), KIND one of inbox, normal,
 *	    sent, drafts, trash, junk (it picks the flags). Writes COUNT messages,
 *	    each in a folder drawn by weight, and prints "COUNT<TAB>BYTES<TAB>DIR"
 *	    per folder. "small": the small mix below instead of the usual one.
 *	corpusgen local DIR FIRST COUNT new|sent
 *	    COUNT messages numbered from FIRST, as a mail client writes them into
 *	    a Maildir folder: "new" into new/ without flags, "sent" into cur/ with
 *	    ":2,S". Prints the bytes written.
 *
 * The same arguments give the same files, byte for byte, with the same names
 * and mtimes, on any machine: one 64-bit PRNG (splitmix64) seeded per
 * message, no libc rand(), no clock.
 *
 * Size mix: 3% of the messages carry a base64 attachment of 100 KiB to 2 MiB
 * (log-uniform, encoded size); the others are 2 to 20 KiB in all (log-uniform),
 * a quarter of them multipart/alternative (text + HTML). The small mix (an
 * archive of a million messages whose size is the count, not the bytes): no
 * attachment, 0.5 to 2 KiB of target (log-uniform; the headers alone take
 * about 1 KiB, so most land at 1-2 KiB). Headers look like
 * delivered mail (Received, DKIM-Signature, sometimes Cc, In-Reply-To,
 * List-Id), some with RFC 2047 non-ASCII names and subjects. Files use LF line
 * endings, as Dovecot's Maildir does; mtime is the Date: header (Dovecot takes
 * it as the internal date). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_FOLDERS 256
#define BASE_TIME   1546300800ULL /* 2019-01-01 00:00:00 UTC */
#define SPAN_TIME   157766400ULL  /* five years */

enum kind { K_INBOX, K_NORMAL, K_SENT, K_DRAFTS, K_TRASH, K_JUNK, K_LISTS };

struct folder {
	double weight;
	enum kind kind;
	char dir[4096];
	unsigned long count;
	unsigned long long bytes;
};

/* ---- PRNG ---- */

static uint64_t next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double unit(uint64_t *s)
{
	return (double)(next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static unsigned below(uint64_t *s, unsigned n)
{
	return (unsigned)(next(s) % n);
}

static size_t log_uniform(uint64_t *s, double lo, double hi)
{
	return (size_t)(lo * exp(unit(s) * log(hi / lo)));
}

/* ---- a growable buffer ---- */

struct buf {
	char *p;
	size_t len, cap;
};

static void reserve(struct buf *b, size_t more)
{
	if (b->len + more + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 65536;
	while (cap < b->len + more + 1)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p) {
		perror("corpusgen: realloc");
		exit(1);
	}
	b->p = p;
	b->cap = cap;
}

static void put(struct buf *b, const char *s, size_t n)
{
	reserve(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void putf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void put_b64(struct buf *b, const unsigned char *in, size_t n)
{
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		char o[4] = {B64[in[i] >> 2], B64[((in[i] & 3) << 4) | (in[i + 1] >> 4)],
			     B64[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)], B64[in[i + 2] & 63]};
		put(b, o, 4);
	}
	if (i < n) {
		unsigned a = in[i], c = i + 1 < n ? in[i + 1] : 0;
		char o[4] = {B64[a >> 2], B64[((a & 3) << 4) | (c >> 4)],
			     i + 1 < n ? B64[(c & 15) << 2] : '=', '='};
		put(b, o, 4);
	}
}

/* A header value: as is when ASCII, else one RFC 2047 B encoded-word. */
static void put_header_text(struct buf *b, const char *s)
{
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p >= 0x80) {
			puts_(b, "=?UTF-8?B?");
			put_b64(b, (const unsigned char *)s, strlen(s));
			puts_(b, "?=");
			return;
		}
	puts_(b, s);
}

/* ---- vocabulary ---- */

static const char *const WORDS[] = {
    "the",	   "of",	 "and",	       "to",	    "in",	   "a",
    "is",	   "that",	 "for",	       "it",	    "as",	   "was",
    "with",	   "be",	 "by",	       "on",	    "not",	   "this",
    "are",	   "or",	 "from",       "at",	    "which",	   "an",
    "have",	   "we",	 "will",       "can",	    "meeting",	   "release",
    "server",	   "folder",	 "message",    "attached",  "please",	   "review",
    "budget",	   "schedule",	 "project",    "deadline",  "report",	   "update",
    "question",	   "thanks",	 "regards",    "tomorrow",  "yesterday",   "week",
    "month",	   "draft",	 "proposal",   "invoice",   "contract",	   "customer",
    "support",	   "ticket",	 "patch",      "build",	    "test",	   "failure",
    "latency",	   "throughput", "benchmark",  "mailbox",   "synchronise", "network",
    "certificate", "password",	 "account",    "backup",    "holiday",	   "travel",
    "flight",	   "hotel",	 "dinner",     "family",    "weekend",	   "café",
    "naïve",	   "résumé",	 "Zürich",     "München",   "São",	   "Paulo",
    "façade",	   "jalapeño",	 "smørrebrød", "Ångström",  "Øresund",	   "crème",
    "brûlée",	   "日本",	 "東京",       "メール",    "Привет",	   "мир",
    "Ελλάδα",	   "€",		 "quickly",    "carefully", "again",	   "already",
    "still",	   "perhaps",	 "maybe",      "important", "urgent",	   "minor",
    "major",	   "final",	 "first",      "last",	    "discussion",  "agreement",
    "decision",	   "option",	 "approach",   "change",    "issue",
};
#define NWORDS (sizeof(WORDS) / sizeof(WORDS[0]))

static const char *const NAMES[] = {
    "Alice Martin",   "Bob Smith",	    "Carol Jones",	"Dave Brown",
    "Erin Wilson",    "Frank Taylor",	    "Grace Lee",	"Heidi Walker",
    "Ivan Petrov",    "Judy Chen",	    "José Müller",	"Zoë Dubois",
    "Søren Lund",     "Łukasz Wójcik",	    "Ana Núñez",	"田中 太郎",
    "Дмитрий Иванов", "Νίκος Παπαδόπουλος", "François Lefèvre", "Björk Guðmundsdóttir",
};
#define NNAMES (sizeof(NAMES) / sizeof(NAMES[0]))

static const char *const DOMAINS[] = {"example.org", "example.com", "example.net",
				      "mail.example.de", "lists.example.org"};

static void put_words(struct buf *b, uint64_t *s, size_t min_bytes, size_t line_len)
{
	size_t start = b->len, col = 0;

	while (b->len - start < min_bytes) {
		const char *w = WORDS[below(s, NWORDS)];
		size_t n = strlen(w);
		if (col > 0 && col + 1 + n > line_len) {
			puts_(b, below(s, 8) == 0 ? ".\n\n" : "\n");
			col = 0;
		} else if (col > 0) {
			puts_(b, " ");
			col++;
		}
		put(b, w, n);
		col += n;
	}
	puts_(b, ".\n");
}

static void put_date(struct buf *b, time_t t)
{
	char d[64];
	struct tm tm;

	gmtime_r(&t, &tm);
	/* Fixed English names: strftime would follow the locale. */
	static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const mo[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	snprintf(d, sizeof(d), "%s, %02d %s %04d %02d:%02d:%02d +0000", wd[tm.tm_wday], tm.tm_mday,
		 mo[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	puts_(b, d);
}

/* ---- one message ---- */

struct msg {
	unsigned long long n; /* the message's number: seeds everything */
	enum kind kind;
	const char *list_id; /* List-Id for K_LISTS, else NULL */
	time_t date;
	char flags[8]; /* Maildir letters, sorted; "" and !in_cur: new/ */
	int in_cur;
};

/* Set by "gen ... small": no attachments, 0.5-2 KiB. */
static int small_mix;

static void make_message(struct buf *b, struct msg *m, uint64_t seed)
{
	uint64_t s = seed ^ (m->n * 0xd1342543de82ef95ULL);
	char subject[512], boundary[64];
	const char *from = NAMES[below(&s, NNAMES)];
	const char *dom = DOMAINS[below(&s, 5)];
	unsigned fromno = below(&s, 5000);
	int attachment = unit(&s) < 0.03;
	int alternative = !attachment && unit(&s) < 0.25;
	size_t target;

	b->len = 0;
	if (small_mix) {
		attachment = 0;
		target = log_uniform(&s, 512.0, 2048.0);
	} else if (attachment)
		target = log_uniform(&s, 100 * 1024.0, 2048 * 1024.0);
	else
		target = log_uniform(&s, 2 * 1024.0, 20 * 1024.0);

	/* Subject: a few words, sometimes a reply, sometimes non-ASCII. */
	{
		struct buf sb = {0};
		unsigned nw = 2 + below(&s, 7);
		if (below(&s, 4) == 0)
			puts_(&sb, "Re: ");
		for (unsigned i = 0; i < nw; i++) {
			if (i)
				puts_(&sb, " ");
			puts_(&sb, WORDS[below(&s, NWORDS)]);
		}
		putf(&sb, " #%llu", m->n);
		snprintf(subject, sizeof(subject), "%s", sb.p);
		free(sb.p);
	}

	putf(b, "Return-Path: <user%u@%s>\n", fromno, dom);
	for (unsigned i = 0, hops = 2 + below(&s, 3); i < hops; i++) {
		putf(b,
		     "Received: from mx%u.%s (mx%u.%s [192.0.2.%u])\n\tby mail%u.imap.test.local "
		     "(Postfix) with ESMTPS id %08X%04X\n\tfor <alice@imap.test.local>; ",
		     below(&s, 9), dom, below(&s, 9), dom, 1 + below(&s, 250), i,
		     (unsigned)next(&s), (unsigned)(next(&s) & 0xffff));
		put_date(b, m->date - (time_t)(hops - i));
		puts_(b, "\n");
	}
	{
		unsigned char raw[256];
		for (size_t i = 0; i < sizeof(raw); i++)
			raw[i] = (unsigned char)next(&s);
		putf(b,
		     "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=sel%u;\n"
		     "\th=from:to:subject:date:message-id; bh=",
		     dom, below(&s, 4));
		put_b64(b, raw, 32);
		puts_(b, ";\n\tb=");
		struct buf sig = {0};
		put_b64(&sig, raw, sizeof(raw));
		for (size_t i = 0; i < sig.len; i += 72) {
			if (i)
				puts_(b, "\n\t ");
			put(b, sig.p + i, sig.len - i < 72 ? sig.len - i : 72);
		}
		puts_(b, "\n");
		free(sig.p);
	}
	puts_(b, "From: ");
	put_header_text(b, from);
	putf(b, " <user%u@%s>\n", fromno, dom);
	puts_(b, "To: Alice <alice@imap.test.local>\n");
	if (below(&s, 10) < 3) {
		puts_(b, "Cc: ");
		put_header_text(b, NAMES[below(&s, NNAMES)]);
		putf(b, " <user%u@%s>\n", below(&s, 5000), DOMAINS[below(&s, 5)]);
	}
	puts_(b, "Subject: ");
	put_header_text(b, subject);
	puts_(b, "\nDate: ");
	put_date(b, m->date);
	putf(b, "\nMessage-ID: <bench.%llu.%016llx@ferry.bench>\n", m->n,
	     (unsigned long long)next(&s));
	if (m->n > 10 && below(&s, 10) < 3) {
		unsigned long long parent = m->n - 1 - below(&s, 10);
		putf(b,
		     "In-Reply-To: <bench.%llu.ref@ferry.bench>\nReferences: "
		     "<bench.%llu.ref@ferry.bench>\n",
		     parent, parent);
	}
	if (m->list_id)
		putf(b,
		     "List-Id: <%s.lists.example.org>\nList-Unsubscribe: "
		     "<mailto:%s-leave@lists.example.org>\nPrecedence: list\n",
		     m->list_id, m->list_id);
	if (m->kind == K_JUNK)
		putf(b, "X-Spam-Flag: YES\nX-Spam-Score: %u.%u\n", 5 + below(&s, 20),
		     below(&s, 10));
	puts_(b, "MIME-Version: 1.0\n");

	size_t head = b->len;
	size_t body = target > head + 200 ? target - head : 200;

	if (attachment) {
		static const char *const types[][2] = {
		    {"application/pdf", "pdf"},
		    {"image/jpeg", "jpg"},
		    {"application/zip", "zip"},
		    {"application/vnd.oasis.opendocument.text", "odt"}};
		unsigned t = below(&s, 4);
		size_t text = 500 + below(&s, 3000);
		size_t enc = body > text + 400 ? body - text - 400 : 1024;
		snprintf(boundary, sizeof(boundary), "=_bench_%016llx",
			 (unsigned long long)next(&s));
		putf(b, "Content-Type: multipart/mixed; boundary=\"%s\"\n\n", boundary);
		putf(b, "This is a multi-part message in MIME format.\n\n--%s\n", boundary);
		puts_(
		    b,
		    "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n");
		put_words(b, &s, text, 72);
		putf(b,
		     "\n--%s\nContent-Type: %s; name=\"file-%llu.%s\"\n"
		     "Content-Transfer-Encoding: base64\n"
		     "Content-Disposition: attachment; filename=\"file-%llu.%s\"\n\n",
		     boundary, types[t][0], m->n, types[t][1], m->n, types[t][1]);
		/* enc bytes of base64 in 76-column lines: 57 raw bytes a line. */
		size_t lines = enc / 77 + 1;
		reserve(b, lines * 77);
		for (size_t l = 0; l < lines; l++) {
			unsigned char raw[57];
			for (size_t i = 0; i < 57; i += 8) {
				uint64_t r = next(&s);
				memcpy(raw + i, &r, 57 - i < 8 ? 57 - i : 8);
			}
			put_b64(b, raw, 57);
			puts_(b, "\n");
		}
		putf(b, "\n--%s--\n", boundary);
	} else if (alternative) {
		snprintf(boundary, sizeof(boundary), "=_bench_%016llx",
			 (unsigned long long)next(&s));
		putf(b, "Content-Type: multipart/alternative; boundary=\"%s\"\n\n--%s\n", boundary,
		     boundary);
		puts_(
		    b,
		    "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n");
		put_words(b, &s, body * 2 / 5, 72);
		putf(
		    b,
		    "\n--%s\nContent-Type: text/html; charset=utf-8\n"
		    "Content-Transfer-Encoding: 8bit\n\n<html><head><meta charset=\"utf-8\"></head>"
		    "<body>\n<p>",
		    boundary);
		put_words(b, &s, body * 2 / 5, 100);
		putf(b, "</p>\n</body></html>\n\n--%s--\n", boundary);
	} else {
		puts_(
		    b,
		    "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n");
		put_words(b, &s, body, 72);
		if (below(&s, 3) == 0)
			putf(b, "\n-- \n%s\n", from);
	}
}

/* Flags by folder kind; recent INBOX mail is partly unread. */
static void pick_flags(struct msg *m, uint64_t seed, double age)
{
	uint64_t s = seed ^ (m->n * 0x9e3779b97f4a7c15ULL) ^ 0x5bd1e995ULL;
	int seen = 1, flagged = 0, answered = 0, draft = 0;
	char *f = m->flags;

	switch (m->kind) {
	case K_INBOX:
		seen = age < 0.95 ? unit(&s) < 0.995 : unit(&s) < 0.3;
		answered = seen && unit(&s) < 0.15;
		flagged = unit(&s) < 0.05;
		break;
	case K_NORMAL:
	case K_LISTS:
		seen = unit(&s) < 0.97;
		answered = m->kind == K_NORMAL && unit(&s) < 0.05;
		flagged = unit(&s) < 0.02;
		break;
	case K_SENT:
	case K_TRASH:
		break;
	case K_DRAFTS:
		draft = 1;
		seen = unit(&s) < 0.5;
		break;
	case K_JUNK:
		seen = unit(&s) < 0.3;
		break;
	}
	if (draft)
		*f++ = 'D';
	if (flagged)
		*f++ = 'F';
	if (answered)
		*f++ = 'R';
	if (seen)
		*f++ = 'S';
	*f = 0;
	/* A delivery agent leaves unread, unflagged mail in new/. */
	m->in_cur = !(m->kind == K_INBOX && m->flags[0] == 0);
}

static void ensure_dirs(const char *dir)
{
	static const char *const sub[] = {"", "/cur", "/new", "/tmp"};
	char p[4200];

	for (int i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s%s", dir, sub[i]);
		if (mkdir(p, 0700) != 0 && errno != EEXIST) {
			fprintf(stderr, "corpusgen: mkdir %s: %s\n", p, strerror(errno));
			exit(1);
		}
	}
}

static void write_message(const char *dir, const char *tag, const struct msg *m,
			  const struct buf *b)
{
	char path[4400];
	int fd;

	if (m->in_cur)
		snprintf(path, sizeof(path), "%s/cur/%lld.%s%lluP1.bench:2,%s", dir,
			 (long long)m->date, tag, m->n, m->flags);
	else
		snprintf(path, sizeof(path), "%s/new/%lld.%s%lluP1.bench", dir, (long long)m->date,
			 tag, m->n);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0) {
		fprintf(stderr, "corpusgen: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	for (size_t off = 0; off < b->len;) {
		ssize_t w = write(fd, b->p + off, b->len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "corpusgen: write %s: %s\n", path, strerror(errno));
			exit(1);
		}
		off += (size_t)w;
	}
	struct timespec ts[2] = {{m->date, 0}, {m->date, 0}};
	if (futimens(fd, ts) != 0 || close(fd) != 0) {
		fprintf(stderr, "corpusgen: %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

static enum kind parse_kind(const char *k)
{
	static const char *const names[] = {"inbox", "normal", "sent", "drafts",
					    "trash", "junk",   "lists"};
	for (int i = 0; i < 7; i++)
		if (strcmp(k, names[i]) == 0)
			return (enum kind)i;
	fprintf(stderr, "corpusgen: unknown folder kind %s\n", k);
	exit(2);
}

static int cmd_gen(unsigned long long count, uint64_t seed)
{
	static struct folder f[MAX_FOLDERS];
	static char lists[MAX_FOLDERS][64];
	size_t nf = 0;
	char line[4300];
	double total = 0;
	struct buf b = {0};

	while (fgets(line, sizeof(line), stdin)) {
		char *w = strtok(line, "\t\n"), *k = strtok(NULL, "\t\n"), *d = strtok(NULL, "\n");
		if (!w || !k || !d || nf == MAX_FOLDERS) {
			fprintf(stderr, "corpusgen: bad folder line or too many folders\n");
			return 2;
		}
		f[nf].weight = atof(w);
		f[nf].kind = parse_kind(k);
		snprintf(f[nf].dir, sizeof(f[nf].dir), "%s", d);
		/* A list name from the last path component, for List-Id. */
		const char *base = strrchr(d, '.');
		base = base ? base + 1 : d;
		size_t j = 0;
		for (; *base && j < 40; base++)
			if ((*base >= 'a' && *base <= 'z') || (*base >= '0' && *base <= '9') ||
			    *base == '-')
				lists[nf][j++] = *base;
		lists[nf][j] = 0;
		if (j == 0)
			snprintf(lists[nf], sizeof(lists[nf]), "list%zu", nf);
		total += f[nf].weight;
		ensure_dirs(f[nf].dir);
		nf++;
	}
	if (nf == 0 || total <= 0) {
		fprintf(stderr, "corpusgen: no folders\n");
		return 2;
	}
	for (unsigned long long n = 1; n <= count; n++) {
		uint64_t s = seed ^ (n * 0x2545f4914f6cdd1dULL);
		double r = unit(&s) * total, acc = 0;
		size_t i = 0;
		for (; i + 1 < nf; i++) {
			acc += f[i].weight;
			if (r < acc)
				break;
		}
		struct msg m = {.n = n, .kind = f[i].kind};
		m.list_id = m.kind == K_LISTS ? lists[i] : NULL;
		m.date = (time_t)(BASE_TIME + (n * SPAN_TIME) / (count + 1) + below(&s, 3600));
		pick_flags(&m, seed, (double)n / (double)count);
		make_message(&b, &m, seed);
		write_message(f[i].dir, "M", &m, &b);
		f[i].count++;
		f[i].bytes += b.len;
	}
	for (size_t i = 0; i < nf; i++)
		printf("%lu\t%llu\t%s\n", f[i].count, f[i].bytes, f[i].dir);
	free(b.p);
	return 0;
}

static int cmd_local(const char *dir, unsigned long long first, unsigned long long count,
		     const char *how, uint64_t seed)
{
	struct buf b = {0};
	unsigned long long bytes = 0;
	int sent = strcmp(how, "sent") == 0;

	if (!sent && strcmp(how, "new") != 0) {
		fprintf(stderr, "corpusgen: local: new or sent, not %s\n", how);
		return 2;
	}
	ensure_dirs(dir);
	for (unsigned long long n = first; n < first + count; n++) {
		struct msg m = {.n = n, .kind = sent ? K_SENT : K_INBOX, .in_cur = sent};
		m.date = (time_t)(BASE_TIME + SPAN_TIME + n % 86400);
		strcpy(m.flags, sent ? "S" : "");
		make_message(&b, &m, seed);
		write_message(dir, "L", &m, &b);
		bytes += b.len;
	}
	printf("%llu\n", bytes);
	free(b.p);
	return 0;
}

int main(int argc, char **argv)
{
	const uint64_t seed = 0x66657272792d6231ULL; /* "ferry-b1" */

	if ((argc == 4 || (argc == 5 && strcmp(argv[4], "small") == 0)) &&
	    strcmp(argv[1], "gen") == 0) {
		small_mix = argc == 5;
		return cmd_gen(strtoull(argv[2], NULL, 10), seed ^ strtoull(argv[3], NULL, 10));
	}
	if (argc == 6 && strcmp(argv[1], "local") == 0)
		return cmd_local(argv[2], strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10),
				 argv[5], seed);
	fprintf(stderr, "usage: corpusgen gen COUNT SEED [small] < FOLDERS\n"
			"       corpusgen local DIR FIRST COUNT new|sent\n");
	return 2;
}
