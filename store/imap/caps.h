#ifndef FERRY_IMAP_CAPS_H
#define FERRY_IMAP_CAPS_H

/* What an IMAP server offers, from its CAPABILITY (and ENABLE) answers:
 * the IMAP driver's own business, kept in struct store's caps. The engine
 * never reads them; it sees what a store can do through store.h. */
enum store_cap {
	CAP_UIDPLUS = 1u << 0,
	CAP_MOVE = 1u << 1,
	CAP_CONDSTORE = 1u << 2,
	CAP_QRESYNC = 1u << 3,
	CAP_IDLE = 1u << 4,
	CAP_LIST_STATUS = 1u << 5,
	CAP_SPECIAL_USE = 1u << 6,
	CAP_LITERAL_PLUS = 1u << 7,
	CAP_MULTIAPPEND = 1u << 8,
	CAP_COMPRESS = 1u << 9,
	CAP_OBJECTID = 1u << 10,
	CAP_ENABLE = 1u << 11,
	CAP_NAMESPACE = 1u << 12,
};

#endif
