/* JSON text for `status --json` and `list --json`: strings escaped so that
 * any name or text a store or the state holds gives valid JSON. */
#ifndef FERRY_JSON_H
#define FERRY_JSON_H

#include "store/base/grow.h"

/* Appends s as a JSON string, quotes included: '"' and '\' escaped, every
 * control character (C0, DEL, C1) as \uXXXX (\n, \t... short), UTF-8 kept;
 * a byte that is not part of valid UTF-8 becomes U+FFFD, so the result is
 * always valid UTF-8 and safe to show on a terminal. NULL gives null. */
void json_add_string(struct strbuf *sb, const char *s);

#endif
