/* What the libFuzzer targets share: the entry point's prototype (the build
 * asks for a prototype of every global function) and the check that turns a
 * broken invariant into a crash libFuzzer keeps as an artifact. */
#ifndef FERRY_FUZZ_H
#define FERRY_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* abort(), not assert(): the check must hold in every build type, and
 * libFuzzer saves the input of any crash. The message says which invariant
 * broke, since the input alone rarely does. */
#define FUZZ_CHECK(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "invariant broken at %s:%d: %s: ", __FILE__, __LINE__,     \
				#cond);                                                            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* The input as a C string (malloc'd; the caller frees it): up to its first
 * NUL byte, since every function under test takes one. NULL only when out
 * of memory, which the targets treat as "nothing to test". */
static inline char *fuzz_string(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		return NULL;
	for (size_t i = 0; i < size; i++)
		s[i] = (char)data[i];
	s[size] = '\0';
	return s;
}

#endif
