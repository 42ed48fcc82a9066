/* Special-use pairing (sync/roles.c): which folders pair though their names
 * differ, which are left out, and which stay paired by name. Listings are
 * written as "Name" or "Name\Sent" (a server's attribute). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/roles.h"

/* A Maildir's role names: the defaults. */
static const char *const maildir_names[ROLE_COUNT] = {"Sent", "Drafts", "Trash", "Junk", "Archive"};

static const struct {
	const char *attr;
	unsigned bit;
} attrs[] = {{"\\Sent", FA_SENT},	{"\\Drafts", FA_DRAFTS},    {"\\Trash", FA_TRASH},
	     {"\\Junk", FA_JUNK},	{"\\Archive", FA_ARCHIVE},  {"\\All", FA_ALL},
	     {"\\Flagged", FA_FLAGGED}, {"\\Noselect", FA_NOSELECT}};

/* Up to 8 folders a side, NULL-terminated. */
static size_t parse_listing(const char *const *in, struct store_folder *out)
{
	size_t n = 0;

	for (; in[n]; n++) {
		const char *slash = strchr(in[n], '\\');

		out[n].name = strndup(in[n], slash ? (size_t)(slash - in[n]) : strlen(in[n]));
		out[n].attrs = 0;
		for (size_t a = 0; slash && a < sizeof(attrs) / sizeof(attrs[0]); a++)
			if (strstr(slash, attrs[a].attr))
				out[n].attrs |= attrs[a].bit;
	}
	return n;
}

struct pairing {
	struct store_folder f[2][8];
	struct roles_side side[2];
	struct roles_result r;
};

/* far and near listings; near_maildir: the near side is a Maildir. */
static void pair_recalling(struct pairing *p, const char *const *far, const char *const *near,
			   bool far_maildir, bool near_maildir, const struct roles_input *in)
{
	memset(p, 0, sizeof(*p));
	p->side[FAR] = (struct roles_side){p->f[FAR], parse_listing(far, p->f[FAR]),
					   far_maildir ? maildir_names : NULL};
	p->side[NEAR] = (struct roles_side){p->f[NEAR], parse_listing(near, p->f[NEAR]),
					    near_maildir ? maildir_names : NULL};
	ck_assert_int_eq(roles_pair(p->side, in, &p->r), 0);
}

static void pair(struct pairing *p, const char *const *far, const char *const *near,
		 bool far_maildir, bool near_maildir, const struct folder_map *map, size_t nmap,
		 bool all_mail)
{
	const struct roles_input in = {map, nmap, all_mail, NULL, 0};

	pair_recalling(p, far, near, far_maildir, near_maildir, &in);
}

static void done(struct pairing *p)
{
	roles_result_free(&p->r);
	for (enum side k = FAR; k <= NEAR; k++)
		for (size_t i = 0; i < p->side[k].n; i++)
			free(p->f[k][i].name);
}

/* The near folder far `name` pairs with other than by name, "" if none. */
static const char *partner(const struct pairing *p, const char *name)
{
	const struct role_pair *rp = roles_find(&p->r, FAR, name);

	return rp ? rp->name[NEAR] : "";
}

START_TEST(test_server_sent_pairs_with_the_maildir_sent)
{
	struct pairing p;

	pair(&p, (const char *[]){"INBOX", "Sent Items\\Sent", NULL},
	     (const char *[]){"INBOX", "Sent", NULL}, false, true, NULL, 0, false);
	ck_assert_str_eq(partner(&p, "Sent Items"), "Sent");
	ck_assert_int_eq(p.r.pairs[0].why, PAIR_ROLE);
	ck_assert_int_eq(p.r.pairs[0].role, ROLE_SENT);
	ck_assert_str_eq(partner(&p, "INBOX"), "");
	ck_assert_uint_eq(p.r.naliases, 1);
	ck_assert_str_eq(p.r.aliases[0].as, "Sent Items");
	ck_assert_str_eq(p.r.aliases[0].name, "Sent");
	done(&p);
}
END_TEST

START_TEST(test_server_role_folder_is_created_under_the_maildir_role_name)
{
	struct pairing p;

	pair(&p, (const char *[]){"INBOX", "Brouillons\\Drafts", NULL},
	     (const char *[]){"INBOX", NULL}, false, true, NULL, 0, false);
	ck_assert_str_eq(partner(&p, "Brouillons"), "Drafts");
	done(&p);
}
END_TEST

START_TEST(test_maildir_role_folder_keeps_its_name_on_a_server_without_the_role)
{
	struct pairing p;

	pair(&p, (const char *[]){"INBOX", NULL}, (const char *[]){"INBOX", "Junk", NULL}, false,
	     true, NULL, 0, false);
	ck_assert_uint_eq(p.r.npairs, 0); /* Junk pairs by name: created as Junk */
	done(&p);
}
END_TEST

START_TEST(test_two_servers_pair_by_role)
{
	struct pairing p;

	pair(&p, (const char *[]){"Sent Items\\Sent", NULL},
	     (const char *[]){"[Gmail]/Sent Mail\\Sent", NULL}, false, false, NULL, 0, false);
	ck_assert_str_eq(partner(&p, "Sent Items"), "[Gmail]/Sent Mail");
	done(&p);
}
END_TEST

START_TEST(test_server_role_folder_without_partner_on_a_server_pairs_by_name)
{
	struct pairing p;

	pair(&p, (const char *[]){"Sent Items\\Sent", NULL}, (const char *[]){"INBOX", NULL}, false,
	     false, NULL, 0, false);
	ck_assert_uint_eq(p.r.npairs, 0); /* a server has no default name */
	done(&p);
}
END_TEST

START_TEST(test_same_name_and_role_needs_no_alias)
{
	struct pairing p;

	pair(&p, (const char *[]){"Sent\\Sent", NULL}, (const char *[]){"Sent", NULL}, false, true,
	     NULL, 0, false);
	ck_assert_uint_eq(p.r.npairs, 0);
	ck_assert_uint_eq(p.r.naliases, 0);
	done(&p);
}
END_TEST

/* Both Sent and Sent Items on the server: the state may hold both pairs
 * by name already; pairing Sent Items elsewhere would copy its mail again. */
START_TEST(test_a_name_found_on_the_other_side_keeps_pairing_by_name)
{
	struct pairing p;

	pair(&p, (const char *[]){"Sent", "Sent Items\\Sent", NULL}, (const char *[]){"Sent", NULL},
	     false, true, NULL, 0, false);
	ck_assert_uint_eq(p.r.npairs, 0);
	ck_assert_uint_eq(p.r.clash, 1u << ROLE_SENT);
	done(&p);
	pair(&p, (const char *[]){"Sent Items\\Sent", NULL},
	     (const char *[]){"Sent", "Sent Items", NULL}, false, true, NULL, 0, false);
	ck_assert_uint_eq(p.r.npairs, 0);
	done(&p);
	/* A state from before role pairing: Sent Items synced by name, no
	 * local Sent. Nothing to pair, nothing to say. */
	pair(&p, (const char *[]){"Sent Items\\Sent", NULL}, (const char *[]){"Sent Items", NULL},
	     false, true, NULL, 0, false);
	ck_assert_uint_eq(p.r.npairs, 0);
	ck_assert_uint_eq(p.r.clash, 0);
	done(&p);
}
END_TEST

START_TEST(test_several_folders_of_one_role_pair_by_name)
{
	struct pairing p;

	pair(&p, (const char *[]){"Sent Items\\Sent", "Sent Mail\\Sent", NULL},
	     (const char *[]){"Sent", NULL}, false, true, NULL, 0, false);
	ck_assert_uint_eq(p.r.npairs, 0);
	ck_assert_uint_eq(p.r.ambiguous[FAR], 1u << ROLE_SENT);
	done(&p);
}
END_TEST

START_TEST(test_all_and_flagged_are_left_out_unless_all_mail)
{
	struct pairing p;

	pair(&p, (const char *[]){"INBOX", "[Gmail]/All Mail\\All", "Starred\\Flagged", NULL},
	     (const char *[]){"INBOX", NULL}, false, true, NULL, 0, false);
	ck_assert_uint_eq(p.r.ndrops, 2);
	ck_assert_str_eq(p.r.drops[0].name, "[Gmail]/All Mail");
	ck_assert_int_eq(p.r.drops[0].why, DROP_ALL_MAIL);
	ck_assert_int_eq(p.r.drops[0].side, FAR);
	ck_assert_str_eq(p.r.drops[1].name, "Starred");
	done(&p);
	pair(&p, (const char *[]){"INBOX", "[Gmail]/All Mail\\All", NULL},
	     (const char *[]){"INBOX", NULL}, false, true, NULL, 0, true);
	ck_assert_uint_eq(p.r.ndrops, 0);
	done(&p);
}
END_TEST

START_TEST(test_map_beats_role_and_name)
{
	const struct folder_map map[] = {{"Sent Items", "Sent Archive", 1}};
	struct pairing p;

	pair(&p, (const char *[]){"Sent Items\\Sent", NULL}, (const char *[]){"Sent", NULL}, false,
	     true, map, 1, false);
	ck_assert_str_eq(partner(&p, "Sent Items"), "Sent Archive");
	ck_assert_int_eq(p.r.pairs[0].why, PAIR_MAP);
	ck_assert_uint_eq(p.r.npairs, 1); /* near Sent: by name, as Sent on the server */
	done(&p);
}
END_TEST

START_TEST(test_map_takes_in_an_all_mail_folder)
{
	const struct folder_map map[] = {{"[Gmail]/All Mail", "Archive", 1}};
	struct pairing p;

	pair(&p, (const char *[]){"[Gmail]/All Mail\\All", NULL}, (const char *[]){NULL}, false,
	     true, map, 1, false);
	ck_assert_uint_eq(p.r.ndrops, 0);
	ck_assert_str_eq(partner(&p, "[Gmail]/All Mail"), "Archive");
	done(&p);
}
END_TEST

/* map = Old = New: a far New would pair by name with the near New, which
 * already pairs with Old; and a near Old would be synced into far Old. */
START_TEST(test_a_folder_whose_name_a_map_took_is_left_out)
{
	const struct folder_map map[] = {{"Old", "New", 1}};
	struct pairing p;

	pair(&p, (const char *[]){"Old", "New", NULL}, (const char *[]){"New", "Old", NULL}, false,
	     true, map, 1, false);
	ck_assert_uint_eq(p.r.ndrops, 2);
	ck_assert_int_eq(p.r.drops[0].side, FAR);
	ck_assert_str_eq(p.r.drops[0].name, "New");
	ck_assert_str_eq(p.r.drops[0].by, "Old");
	ck_assert_int_eq(p.r.drops[1].side, NEAR);
	ck_assert_str_eq(p.r.drops[1].name, "Old");
	ck_assert_str_eq(p.r.drops[1].by, "New");
	done(&p);
}
END_TEST

START_TEST(test_a_placeholder_carries_no_role)
{
	struct pairing p;

	pair(&p, (const char *[]){"Sent Items\\Sent\\Noselect", NULL}, (const char *[]){NULL},
	     false, true, NULL, 0, false);
	ck_assert_uint_eq(p.r.npairs, 0);
	done(&p);
}
END_TEST

START_TEST(test_a_far_maildir_pairs_with_a_near_server)
{
	struct pairing p;

	pair(&p, (const char *[]){"Trash", NULL}, (const char *[]){"Deleted Items\\Trash", NULL},
	     true, false, NULL, 0, false);
	ck_assert_str_eq(partner(&p, "Trash"), "Deleted Items");
	done(&p);
	pair(&p, (const char *[]){NULL}, (const char *[]){"Deleted Items\\Trash", NULL}, true,
	     false, NULL, 0, false);
	ck_assert_str_eq(partner(&p, "Trash"), "Deleted Items"); /* created far as Trash */
	done(&p);
}
END_TEST

/* Sent Items and Sent paired by role; then the server lists a Sent too
 * (another client made one). Unremembered, the role would no longer pair
 * them (a name found on the other side) and Sent Items' mail would be
 * copied into a new local folder. */
START_TEST(test_a_remembered_pair_holds_when_a_name_appears)
{
	struct state_role_pair mem[] = {{"Sent Items", "Sent", ROLE_SENT}};
	const struct roles_input in = {NULL, 0, false, mem, 1};
	struct pairing p;

	pair_recalling(&p, (const char *[]){"Sent", "Sent Items\\Sent", NULL},
		       (const char *[]){"Sent", NULL}, false, true, &in);
	ck_assert_str_eq(partner(&p, "Sent Items"), "Sent");
	ck_assert_uint_eq(p.r.ndrops, 1); /* the server's new Sent: its name is taken here */
	ck_assert_str_eq(p.r.drops[0].name, "Sent");
	ck_assert_int_eq(p.r.drops[0].side, FAR);
	done(&p);
}
END_TEST

/* The server moved \Sent to another folder: the pair stays as it was. */
START_TEST(test_a_remembered_pair_holds_when_the_role_moves)
{
	struct state_role_pair mem[] = {{"Sent Items", "Sent", ROLE_SENT}};
	const struct roles_input in = {NULL, 0, false, mem, 1};
	struct pairing p;

	pair_recalling(&p, (const char *[]){"Sent Items", "Outbox\\Sent", NULL},
		       (const char *[]){"Sent", NULL}, false, true, &in);
	ck_assert_str_eq(partner(&p, "Sent Items"), "Sent");
	ck_assert_str_eq(partner(&p, "Outbox"), "");
	done(&p);
}
END_TEST

START_TEST(test_a_remembered_pair_is_forgotten_when_both_folders_are_gone)
{
	struct state_role_pair mem[] = {{"Sent Items", "Sent", ROLE_SENT}};
	const struct roles_input in = {NULL, 0, false, mem, 1};
	struct pairing p;

	pair_recalling(&p, (const char *[]){"INBOX", NULL}, (const char *[]){"INBOX", NULL}, false,
		       true, &in);
	ck_assert_uint_eq(p.r.npairs, 0);
	done(&p);
}
END_TEST

START_TEST(test_a_map_beats_a_remembered_pair)
{
	struct state_role_pair mem[] = {{"Sent Items", "Sent", ROLE_SENT}};
	const struct folder_map map[] = {{"Sent Items", "Sent Archive", 1}};
	const struct roles_input in = {map, 1, false, mem, 1};
	struct pairing p;

	pair_recalling(&p, (const char *[]){"Sent Items\\Sent", NULL},
		       (const char *[]){"Sent", NULL}, false, true, &in);
	ck_assert_str_eq(partner(&p, "Sent Items"), "Sent Archive");
	ck_assert_uint_eq(p.r.npairs, 1);
	done(&p);
}
END_TEST

static Suite *roles_suite(void)
{
	Suite *s = suite_create("roles");
	TCase *tc = tcase_create("pairing");

	tcase_add_test(tc, test_server_sent_pairs_with_the_maildir_sent);
	tcase_add_test(tc, test_server_role_folder_is_created_under_the_maildir_role_name);
	tcase_add_test(tc, test_maildir_role_folder_keeps_its_name_on_a_server_without_the_role);
	tcase_add_test(tc, test_two_servers_pair_by_role);
	tcase_add_test(tc, test_server_role_folder_without_partner_on_a_server_pairs_by_name);
	tcase_add_test(tc, test_same_name_and_role_needs_no_alias);
	tcase_add_test(tc, test_a_name_found_on_the_other_side_keeps_pairing_by_name);
	tcase_add_test(tc, test_several_folders_of_one_role_pair_by_name);
	tcase_add_test(tc, test_all_and_flagged_are_left_out_unless_all_mail);
	tcase_add_test(tc, test_map_beats_role_and_name);
	tcase_add_test(tc, test_map_takes_in_an_all_mail_folder);
	tcase_add_test(tc, test_a_folder_whose_name_a_map_took_is_left_out);
	tcase_add_test(tc, test_a_placeholder_carries_no_role);
	tcase_add_test(tc, test_a_far_maildir_pairs_with_a_near_server);
	tcase_add_test(tc, test_a_remembered_pair_holds_when_a_name_appears);
	tcase_add_test(tc, test_a_remembered_pair_holds_when_the_role_moves);
	tcase_add_test(tc, test_a_remembered_pair_is_forgotten_when_both_folders_are_gone);
	tcase_add_test(tc, test_a_map_beats_a_remembered_pair);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(roles_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
