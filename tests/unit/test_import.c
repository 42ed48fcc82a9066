/* ferry import: .mbsyncrc and .offlineimaprc turned into ferry's config. Each
 * result is also loaded by ferry's own config reader, so a converter cannot
 * write what ferry would refuse without a test seeing it. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/config.h"
#include "sync/import.h"

static struct import_result res;
static struct ferry_error err;

static void setup(void)
{
	memset(&res, 0, sizeof(res));
	memset(&err, 0, sizeof(err));
}

static void teardown(void)
{
	import_result_free(&res);
}

static const char *mbsync(const char *text)
{
	ck_assert_msg(import_mbsync("rc", text, &res, &err) == 0, "import failed: %s", err.msg);
	return res.conf.s ? res.conf.s : "";
}

static const char *offlineimap(const char *text)
{
	ck_assert_msg(import_offlineimap("rc", text, &res, &err) == 0, "import failed: %s",
		      err.msg);
	return res.conf.s ? res.conf.s : "";
}

static const char *notes(void)
{
	return res.notes.s ? res.notes.s : "";
}

#define HAS(hay, needle)   ck_assert_msg(strstr((hay), (needle)), "no \"%s\" in:\n%s", needle, hay)
#define LACKS(hay, needle) ck_assert_msg(!strstr((hay), (needle)), "\"%s\" in:\n%s", needle, hay)

/* The result loads in ferry's own reader. */
static void loads(void)
{
	struct config cfg = {0};
	struct ferry_error e = {0};

	ck_assert_msg(config_load_string("out", res.conf.s ? res.conf.s : "", &cfg, &e) == 0,
		      "ferry refuses:\n%s\n%s", res.conf.s, e.msg);
	config_free(&cfg);
}

#define REMOTE                                                                                     \
	"IMAPAccount acct\nHost imap.example.com\nUser me\nPass secret\nSSLType IMAPS\n\n"         \
	"IMAPStore remote\nAccount acct\n\n"                                                       \
	"MaildirStore local\nPath ~/Mail/\nInbox ~/Mail/INBOX\nSubFolders Verbatim\n\n"

START_TEST(test_mbsync_two_accounts)
{
	const char *c = mbsync(
	    "IMAPAccount work\nHost imap.work.example\nPort 994\nUser \"me@work.example\"\n"
	    "PassCmd \"+pass show work\"\nSSLType IMAPS\n\n"
	    "IMAPStore work-remote\nAccount work\n\n"
	    "MaildirStore work-local\nPath ~/Mail/work/\nInbox ~/Mail/work/INBOX\n"
	    "SubFolders Verbatim\n\n"
	    "Channel work\nFar :work-remote:\nNear :work-local:\nPatterns *\nExpunge Both\n\n"
	    "IMAPAccount home\nHost mail.home.example\nUser me\nPass \"a \\\"quoted\\\" word\"\n\n"
	    "IMAPStore home-remote\nAccount home\nSubscribedOnly yes\n\n"
	    "MaildirStore home-local\nInbox ~/Mail/home\nSubFolders Maildir++\n\n"
	    "Channel home\nMaster :home-remote:\nSlave :home-local:\nPatterns * !Junk\n\n"
	    "Group both\nChannel work\nChannel home\n");

	HAS(c, "[imap work-remote]\nhost = imap.work.example\nport = 994\ntls = implicit\n"
	       "user = me@work.example\npassword_command = pass show work\n");
	HAS(c, "[maildir work-local]\npath = ~/Mail/work\nlayout = verbatim\n");
	HAS(c, "[channel work]\nfar = work-remote\nnear = work-local\nfolders = *\nsync = both\n"
	       "delete = both\ncreate = none\nremove = none\n");
	/* SSLType unset: mbsync's default is STARTTLS. */
	HAS(c, "[imap home-remote]\nhost = mail.home.example\ntls = starttls\nuser = me\n"
	       "password = a \"quoted\" word\n");
	HAS(c, "[maildir home-local]\npath = ~/Mail/home\nlayout = maildir++\n");
	/* Old names; no Expunge: mbsync only flags deletions, ferry does none. */
	HAS(c, "[channel home]\nfar = home-remote\nnear = home-local\nfolders = * !Junk\n"
	       "sync = both\ndelete = none\n");
	HAS(c, "remove = none\nsubscribed = yes\n");
	HAS(notes(), "rc:35: Expunge: mbsync flags deletions \\Deleted on both without expunging");
	HAS(c, "# Group both: ferry has no groups; run\n#   ferry sync work home\n");
	loads();
}
END_TEST

START_TEST(test_mbsync_sync_words)
{
	static const struct {
		const char *sync, *expunge, *want;
	} cases[] = {
	    {"All", "Both", "sync = both\ndelete = both\n"},
	    {"Pull", "Both", "sync = pull\ndelete = near\n"},
	    {"Push", "Both", "sync = push\ndelete = far\n"},
	    {"Pull New Flags", "Both", "sync = pull\ndelete = none\n"},
	    {"PullNew PullFlags PullDelete Push", "Both", "sync = both\ndelete = both\n"},
	    {"New Flags", "Both", "sync = both\ndelete = none\n"},
	    {"All", "Near", "sync = both\ndelete = near\n"},
	    {"All", "None", "sync = both\ndelete = none\n"},
	    {"Full", "Slave", "sync = both\ndelete = near\n"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[512];

		import_result_free(&res);
		snprintf(text, sizeof(text),
			 REMOTE "Channel c\nFar :remote:\nNear :local:\nPatterns *\nSync %s\n"
				"Expunge %s\n",
			 cases[i].sync, cases[i].expunge);
		HAS(mbsync(text), cases[i].want);
		loads();
	}
}
END_TEST

START_TEST(test_mbsync_sync_none_leaves_the_channel_out)
{
	const char *c = mbsync(REMOTE "Channel c\nFar :remote:\nNear :local:\nSync None\n");

	LACKS(c, "[channel c]");
	HAS(notes(), "rc:18: Sync: None: nothing to sync; channel left out");
	loads();
}
END_TEST

START_TEST(test_mbsync_globals_are_channel_defaults)
{
	const char *c = mbsync("Create Near\nExpunge Both\nSync Pull\n\n" REMOTE
			       "Channel c\nFar :remote:\nNear :local:\nPatterns *\n");

	HAS(c, "sync = pull\ndelete = near\ncreate = near\nremove = none\n");
	loads();
}
END_TEST

START_TEST(test_mbsync_what_ferry_cannot_say_is_named)
{
	const char *c =
	    mbsync(REMOTE "IMAPStore other\nAccount acct\nPath INBOX.\nTrash Trash\n\n"
			  "Channel c\nFar :remote:INBOX\nNear :local:inbox-copy\n\n"
			  "Channel d\nFar :other:\nNear :local:\nPatterns %\nMaxMessages 100\n"
			  "PipelineDepth 1\nFrobnicate yes\n");

	LACKS(c, "[channel c]");
	HAS(notes(), "rc:20: c: different mailboxes on the two sides");
	HAS(c, "[imap other]\n");
	HAS(c, "prefix = INBOX.\n");
	HAS(notes(), "rc:18: Trash: not mapped: ferry deletes without copying to a trash folder");
	HAS(c, "[channel d]\nfar = other\nnear = local\nfolders = *\n");
	HAS(notes(), "rc:27: Patterns: '%': ferry's '*' also matches subfolders");
	HAS(notes(), "rc:28: MaxMessages: not mapped");
	HAS(notes(), "rc:29: PipelineDepth: not mapped: ferry pipelines on its own");
	HAS(notes(), "rc:30: Frobnicate: not mapped: not a setting ferry knows");
}
END_TEST

START_TEST(test_mbsync_maildir_inbox_elsewhere_is_left_out)
{
	const char *c = mbsync("MaildirStore local\nPath ~/Mail/\nInbox ~/Maildir\n");

	LACKS(c, "[maildir local]");
	HAS(notes(), "rc:3: Inbox: '~/Maildir' is not '~/Mail/INBOX'");
}
END_TEST

START_TEST(test_mbsync_errors_name_file_and_line)
{
	ck_assert_int_eq(import_mbsync("rc", "IMAPStore x\nHost \"open\n", &res, &err), -1);
	ck_assert_str_eq(err.msg, "rc:2: a quote is not closed");
	ck_assert_int_eq(err.status, FERRY_USAGE);
	ck_assert_int_eq(import_mbsync("rc", "\n\nChannel\n", &res, &err), -1);
	ck_assert_str_eq(err.msg, "rc:3: Channel needs a name");
	ck_assert_int_eq(import_mbsync("rc", "IMAPStore x\nHost\n", &res, &err), -1);
	ck_assert_str_eq(err.msg, "rc:2: Host needs a value");
}
END_TEST

START_TEST(test_mbsync_values_ferry_would_cut_are_named)
{
	const char *c = mbsync("IMAPStore x\nHost h\nPass \"a ;b\"\n");

	LACKS(c, "password =");
	HAS(notes(), "rc:3: password: the value holds \";\" after a blank");
}
END_TEST

START_TEST(test_offlineimap_account)
{
	const char *c = offlineimap(
	    "[general]\naccounts = Main, Other\n\n"
	    "[Account Main]\nlocalrepository = L\nremoterepository = R\n"
	    "postsynchook = notmuch new\nmaxsize = 2000000\n\n"
	    "[Repository L]\ntype = Maildir\nlocalfolders = ~/Mail\n\n"
	    "[Repository R]\ntype = IMAP\nremotehost = imap.example.com\nremoteport = 993\n"
	    "remoteuser = me\nremotepass = pa;ss word\nsslcacertfile = /etc/ca.pem\n"
	    "subscribedonly = yes\n"
	    "folderfilter = lambda f: f != 'Junk'\nreadonly = yes\n"
	    "  # a comment inside\nmaxconnections = 2\n\n"
	    "[Account Other]\nlocalrepository = L2\nremoterepository = R2\nmaxage = 90\n"
	    "autorefresh = 5\n\n"
	    "[Repository L2]\ntype = Maildir\nlocalfolders = ~/Other\nsep = /\n\n"
	    "[Repository R2]\ntype = Gmail\nremoteuser = me@gmail.com\nremotepassfile = "
	    "~/.gpass\nssl = no\nstarttls = yes\nsync_deletes = no\n");

	HAS(c, "[imap R]\nhost = imap.example.com\nport = 993\ntls = implicit\nuser = me\n"
	       "password = pa;ss word\nca_file = /etc/ca.pem\nconnections = 2\n");
	HAS(c, "[channel Main]\nfar = R\nnear = L\nsync = pull\ncreate = both\ndelete = both\n"
	       "max_size = 2000000\npost_sync = notmuch new\nsubscribed = yes\n");
	HAS(notes(), "rc:22: folderfilter: not mapped: Python code");
	HAS(c, "[imap R2]\nhost = imap.gmail.com\ntls = starttls\nuser = me@gmail.com\n"
	       "password_command = cat ~/'.gpass'\n");
	HAS(c, "[maildir L2]\npath = ~/Other\nlayout = verbatim\n");
	/* Deletions made on R2 do not travel: nothing is deleted on near. */
	HAS(c, "[channel Other]\nfar = R2\nnear = L2\nsync = both\ncreate = both\ndelete = far\n"
	       "max_age = 90\ninterval = 300s\n");
	HAS(notes(), "autorefresh: the interval of `ferry watch`");
}
END_TEST

START_TEST(test_offlineimap_errors_name_file_and_line)
{
	ck_assert_int_eq(
	    import_offlineimap("rc", "[general]\naccounts = A\n[Account A\n", &res, &err), -1);
	ck_assert_str_eq(err.msg, "rc:3: a section header needs a closing ']'");
	ck_assert_int_eq(import_offlineimap("rc", "key = value\n", &res, &err), -1);
	ck_assert_str_eq(err.msg, "rc:1: a setting before any [section]");
	ck_assert_int_eq(import_offlineimap("rc", "[general]\nui = ttyui\n", &res, &err), -1);
	ck_assert_str_eq(err.msg, "rc: no 'accounts' in [general]");
}
END_TEST

static Suite *import_suite(void)
{
	Suite *s = suite_create("import");
	TCase *tc = tcase_create("mbsync");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_mbsync_two_accounts);
	tcase_add_test(tc, test_mbsync_sync_words);
	tcase_add_test(tc, test_mbsync_sync_none_leaves_the_channel_out);
	tcase_add_test(tc, test_mbsync_globals_are_channel_defaults);
	tcase_add_test(tc, test_mbsync_what_ferry_cannot_say_is_named);
	tcase_add_test(tc, test_mbsync_maildir_inbox_elsewhere_is_left_out);
	tcase_add_test(tc, test_mbsync_errors_name_file_and_line);
	tcase_add_test(tc, test_mbsync_values_ferry_would_cut_are_named);
	suite_add_tcase(s, tc);
	tc = tcase_create("offlineimap");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_offlineimap_account);
	tcase_add_test(tc, test_offlineimap_errors_name_file_and_line);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(import_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
