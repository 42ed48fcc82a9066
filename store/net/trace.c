#include "store/net/trace.h"

#include <stdio.h>
#include <string.h>

#include "store/base/termsafe.h"
#include "store/log.h"

/* Done by ferry because Debian's libetpan is built without its own stream
 * logging. One trace line per protocol line, cut at 300 bytes. */
static void trace_chunk(char dir, const char *str, size_t size)
{
	while (size > 0) {
		const char *nl = memchr(str, '\n', size);
		size_t n = nl ? (size_t)(nl - str) + 1 : size;
		size_t show = n;
		char line[TERMSAFE_ROOM(300)];
		char *cmd;

		while (show > 0 && (str[show - 1] == '\n' || str[show - 1] == '\r'))
			show--;
		/* A bounded, NUL-terminated copy, escaped from the bytes themselves:
		 * the chunk is not a C string, and a NUL in it must show. */
		termsafe_escape(str, show < 300 ? show : 300, line, sizeof(line));
		cmd = dir == 'C' ? strcasestr(line, " LOGIN ") : NULL;
		if (!cmd && dir == 'C')
			cmd = strcasestr(line, " AUTHENTICATE ");
		if (cmd) {
			cmd[strcspn(cmd + 1, " ") + 1] = '\0';
			log_trace("%c: %s <redacted>", dir, line);
		} else if (show > 300) {
			log_trace("%c: %.200s... [%zu bytes]", dir, line, show);
		} else {
			log_trace("%c: %s", dir, line);
		}
		str += n;
		size -= n;
	}
}

/* Consecutive private writes (a password, or the chunks of an uploaded
 * message) show as one line, not one per 16 KiB. */
static struct {
	size_t writes, bytes;
} hidden;

static void end_hidden(void)
{
	if (hidden.writes > 1)
		log_trace("C: <redacted: %zu more bytes>", hidden.bytes);
	hidden.writes = hidden.bytes = 0;
}

void net_trace(mailstream_low *s, char dir, const void *buf, size_t len)
{
	if (len == 0 || log_get_level() < LOG_VERBOSE)
		return;
	if (dir == 'C' && s->privacy == 0) {
		if (hidden.writes++ == 0)
			log_trace("C: <redacted>");
		else
			hidden.bytes += len;
		return;
	}
	end_hidden();
	trace_chunk(dir, buf, len);
}
