/* The two sides of a channel. What the engine keeps per side is an array
 * indexed by side, so code that treats both alike loops instead of
 * choosing with a ternary. */
#ifndef FERRY_SIDE_H
#define FERRY_SIDE_H

enum side { FAR = 0, NEAR = 1 };

static inline enum side side_other(enum side s)
{
	return s == FAR ? NEAR : FAR;
}

/* The side's name in messages. */
static inline const char *side_str(enum side s)
{
	return s == FAR ? "far" : "near";
}

#endif
