/* The configuration parser: every rule, every error with its exact
 * "file:line: key:" prefix, the defaults, path expansion and passwords. */
#include <check.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/log.h"
#include "sync/config.h"

#define NAME "t.conf"

/* A complete IMAP store on lines 1-4: a key added after it is on line 5. */
#define WORK "[imap work]\nhost = imap.example.com\nuser = me\npassword = secret\n"

/* WORK, a Maildir on lines 5-6 and a channel on lines 7-9: a key added after
 * it is on line 10. */
#define BASE                                                                                       \
	WORK "[maildir laptop]\npath = /home/tester/Mail\n"                                        \
	     "[channel c]\nfar = work\nnear = laptop\n"

static struct config cfg;
static struct ferry_error err;

static void setup(void)
{
	setenv("HOME", "/home/tester", 1);
	unsetenv("XDG_STATE_HOME");
	unsetenv("XDG_CONFIG_HOME");
	unsetenv("FERRY_CONFIG");
	log_set_level(LOG_NORMAL);
	memset(&cfg, 0, sizeof(cfg));
	ferry_error_clear(&err);
}

static void teardown(void)
{
	config_free(&cfg);
}

static void load_ok(const char *text)
{
	config_free(&cfg);
	ck_assert_msg(config_load_string(NAME, text, &cfg, &err) == 0, "unexpected error: %s",
		      err.msg);
}

/* The -1, the status, the message's prefix, and nothing left behind. */
static void expect_error(const char *text, const char *prefix)
{
	config_free(&cfg);
	ferry_error_clear(&err);
	ck_assert_int_eq(config_load_string(NAME, text, &cfg, &err), -1);
	ck_assert_int_eq(err.status, FERRY_USAGE);
	ck_assert_msg(strncmp(err.msg, prefix, strlen(prefix)) == 0,
		      "got \"%s\", expected \"%s...\"", err.msg, prefix);
	ck_assert_ptr_null(cfg.path);
	ck_assert_ptr_null(cfg.stores);
	ck_assert_ptr_null(cfg.channels);
	ck_assert_uint_eq(cfg.nstores, 0);
	ck_assert_uint_eq(cfg.nchannels, 0);
}

/* WORK plus one more line (line 5). */
static void expect_work_error(const char *line, const char *prefix)
{
	char text[512];

	snprintf(text, sizeof(text), "%s%s\n", WORK, line);
	expect_error(text, prefix);
}

static void load_work(const char *line)
{
	char text[512];

	snprintf(text, sizeof(text), "%s%s\n", WORK, line);
	load_ok(text);
}

/* BASE plus one more line (line 10). */
static void expect_channel_error(const char *line, const char *prefix)
{
	char text[512];

	snprintf(text, sizeof(text), "%s%s\n", BASE, line);
	expect_error(text, prefix);
}

static const struct channel_conf *load_channel(const char *line)
{
	char text[512];

	snprintf(text, sizeof(text), "%s%s\n", BASE, line);
	load_ok(text);
	return config_find_channel(&cfg, "c");
}

static const struct imap_conf *imap(const char *name)
{
	const struct store_conf *s = config_find_store(&cfg, name);

	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(s->kind, STORE_IMAP);
	return &s->imap;
}

static const struct maildir_conf *maildir(const char *name)
{
	const struct store_conf *s = config_find_store(&cfg, name);

	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(s->kind, STORE_MAILDIR);
	return &s->maildir;
}

static const struct pop3_conf *pop3(const char *name)
{
	const struct store_conf *s = config_find_store(&cfg, name);

	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(s->kind, STORE_POP3);
	return &s->pop3;
}

/* A file holding text (len bytes, which may include NULs), mode applied. */
static void write_temp(char *path, const char *text, size_t len, mode_t mode)
{
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	ck_assert_int_eq(close(fd), 0);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text = calloc(1, 65536);
	size_t n;

	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(text);
	n = fread(text, 1, 65535, f);
	ck_assert(!ferror(f));
	text[n] = '\0';
	fclose(f);
	return text;
}

/* stderr into a file while config_load runs, to see its warning. */
static char *load_file_capturing_stderr(const char *path, int *rc)
{
	char log[] = "/tmp/ferry-test-stderr-XXXXXX";
	int fd = mkstemp(log), saved;
	char *out;

	ck_assert_int_ge(fd, 0);
	fflush(stderr);
	saved = dup(2);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_ge(dup2(fd, 2), 0);
	close(fd);
	*rc = config_load(path, &cfg, &err);
	fflush(stderr);
	ck_assert_int_ge(dup2(saved, 2), 0);
	close(saved);
	out = read_file(log);
	unlink(log);
	return out;
}

/* ---- [imap] ---- */

START_TEST(test_imap_store_gets_defaults)
{
	const struct imap_conf *c;

	load_ok(WORK);
	ck_assert_uint_eq(cfg.nstores, 1);
	ck_assert_str_eq(cfg.path, NAME);
	ck_assert_str_eq(cfg.stores[0].name, "work");
	ck_assert_str_eq(cfg.stores[0].file, NAME);
	ck_assert_int_eq(cfg.stores[0].line, 1);
	c = imap("work");
	ck_assert_str_eq(c->host, "imap.example.com");
	ck_assert_int_eq(c->port, 993);
	ck_assert_int_eq(c->tls, TLS_IMPLICIT);
	ck_assert_str_eq(c->user, "me");
	ck_assert_str_eq(c->password, "secret");
	ck_assert_ptr_null(c->password_command);
	ck_assert_int_eq(c->auth, AUTH_AUTO);
	ck_assert_ptr_null(c->ca_file);
	ck_assert(!c->has_fingerprint);
	ck_assert_ptr_null(c->tunnel);
	ck_assert_int_eq(c->connections, 4);
	ck_assert_int_eq(c->timeout, 60);
	ck_assert_int_eq(c->compress, COMPRESS_AUTO);
}
END_TEST

START_TEST(test_every_imap_key_is_read)
{
	const struct imap_conf *c;

	load_ok("[imap work]\nhost = h\nport = 1143\ntls = starttls\nuser = u\n"
		"password_command = pass show x\nauth = login\nca_file = /etc/ca.pem\n"
		"connections = 8\ntimeout = 120\n");
	c = imap("work");
	ck_assert_int_eq(c->port, 1143);
	ck_assert_int_eq(c->tls, TLS_STARTTLS);
	ck_assert_str_eq(c->password_command, "pass show x");
	ck_assert_ptr_null(c->password);
	ck_assert_int_eq(c->auth, AUTH_LOGIN);
	ck_assert_str_eq(c->ca_file, "/etc/ca.pem");
	ck_assert_int_eq(c->connections, 8);
	ck_assert_int_eq(c->timeout, 120);
}
END_TEST

START_TEST(test_starttls_defaults_to_port_143)
{
	load_work("tls = starttls");
	ck_assert_int_eq(imap("work")->port, 143);
}
END_TEST

START_TEST(test_tls_none_defaults_to_port_143)
{
	load_work("tls = none");
	ck_assert_int_eq(imap("work")->tls, TLS_NONE);
	ck_assert_int_eq(imap("work")->port, 143);
}
END_TEST

START_TEST(test_port_143_with_implicit_tls_is_rejected)
{
	expect_work_error("port = 143",
			  "t.conf:5: port: port 143 is for starttls or none, but tls = implicit");
	expect_work_error("port = 143\ntls = implicit", "t.conf:5: port: port 143 is for starttls");
}
END_TEST

START_TEST(test_port_993_with_starttls_is_rejected)
{
	expect_work_error("tls = starttls\nport = 993",
			  "t.conf:6: port: port 993 is for implicit TLS, but tls = starttls");
}
END_TEST

START_TEST(test_port_993_with_tls_none_is_rejected)
{
	expect_work_error("port = 993\ntls = none",
			  "t.conf:5: port: port 993 is for implicit TLS, but tls = none");
}
END_TEST

START_TEST(test_other_ports_go_with_any_tls)
{
	load_work("port = 10993\ntls = implicit");
	ck_assert_int_eq(imap("work")->port, 10993);
	load_work("port = 1143\ntls = none");
	ck_assert_int_eq(imap("work")->port, 1143);
	load_work("port = 143\ntls = starttls");
	ck_assert_int_eq(imap("work")->port, 143);
}
END_TEST

START_TEST(test_port_out_of_range_is_rejected)
{
	static const char *bad[] = {
	    "0", "65536", "-1", "+993", "0x3e1", "99999999999999999999999", "993 x", "port"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char line[64];

		snprintf(line, sizeof(line), "port = %s", bad[i]);
		expect_work_error(line, "t.conf:5: port: expected a number from 1 to 65535");
	}
	load_work("port = 65535");
	ck_assert_int_eq(imap("work")->port, 65535);
}
END_TEST

START_TEST(test_unknown_tls_mode_is_rejected)
{
	expect_work_error("tls = ssl",
			  "t.conf:5: tls: 'ssl' is not one of: implicit, starttls, none");
	expect_work_error("tls = Implicit", "t.conf:5: tls: 'Implicit' is not one of");
}
END_TEST

START_TEST(test_auth_mechanisms_are_read)
{
	load_work("auth = plain");
	ck_assert_int_eq(imap("work")->auth, AUTH_PLAIN);
	load_work("auth = login");
	ck_assert_int_eq(imap("work")->auth, AUTH_LOGIN);
	load_work("auth = auto");
	ck_assert_int_eq(imap("work")->auth, AUTH_AUTO);
}
END_TEST

START_TEST(test_unknown_auth_is_rejected)
{
	expect_work_error("auth = cram-md5",
			  "t.conf:5: auth: 'cram-md5' is not one of: auto, plain, login, xoauth2, "
			  "oauthbearer");
}
END_TEST

START_TEST(test_xoauth2_without_password_command_is_rejected)
{
	expect_work_error("auth = xoauth2", "t.conf:5: auth: xoauth2 needs password_command");
}
END_TEST

START_TEST(test_xoauth2_with_password_command_is_accepted)
{
	load_ok("[imap work]\nhost = h\nuser = u\npassword_command = oauth2-token\n"
		"auth = xoauth2\n");
	ck_assert_int_eq(imap("work")->auth, AUTH_XOAUTH2);
}
END_TEST

START_TEST(test_oauthbearer_needs_password_command)
{
	expect_work_error("auth = oauthbearer",
			  "t.conf:5: auth: oauthbearer needs password_command");
	load_ok("[imap work]\nhost = h\nuser = u\npassword_command = oauth2-token\n"
		"auth = oauthbearer\n");
	ck_assert_int_eq(imap("work")->auth, AUTH_OAUTHBEARER);
}
END_TEST

START_TEST(test_connections_must_be_from_1_to_32)
{
	expect_work_error("connections = 0",
			  "t.conf:5: connections: expected a number from 1 to 32");
	expect_work_error("connections = 33",
			  "t.conf:5: connections: expected a number from 1 to 32");
	load_work("connections = 32");
	ck_assert_int_eq(imap("work")->connections, 32);
	load_work("connections = 1");
	ck_assert_int_eq(imap("work")->connections, 1);
}
END_TEST

START_TEST(test_timeout_must_be_from_1_to_3600_seconds)
{
	expect_work_error("timeout = 0", "t.conf:5: timeout: expected a number from 1 to 3600");
	expect_work_error("timeout = 3601", "t.conf:5: timeout: expected a number from 1 to 3600");
	expect_work_error("timeout = 60s", "t.conf:5: timeout: expected a number from 1 to 3600");
	load_work("timeout = 3600");
	ck_assert_int_eq(imap("work")->timeout, 3600);
}
END_TEST

START_TEST(test_compress_is_auto_yes_or_no)
{
	load_work("compress = yes");
	ck_assert_int_eq(imap("work")->compress, COMPRESS_YES);
	load_work("compress = no");
	ck_assert_int_eq(imap("work")->compress, COMPRESS_NO);
	load_work("compress = auto");
	ck_assert_int_eq(imap("work")->compress, COMPRESS_AUTO);
}
END_TEST

START_TEST(test_prefix_is_kept_as_written)
{
	load_work("prefix = INBOX.");
	ck_assert_str_eq(imap("work")->prefix, "INBOX.");
	load_work("prefix = Mail/Sub dir/");
	ck_assert_str_eq(imap("work")->prefix, "Mail/Sub dir/");
	load_work("timeout = 5");
	ck_assert_ptr_null(imap("work")->prefix);
}
END_TEST

START_TEST(test_prefix_that_cannot_go_into_a_command_is_rejected)
{
	expect_work_error("prefix = INBOX.*", "t.conf:5: prefix: '*' and '%' are LIST wildcards");
	expect_work_error("prefix = %.", "t.conf:5: prefix: '*' and '%' are LIST wildcards");
	expect_work_error("prefix = Entw\xc3\xbcrfe.",
			  "t.conf:5: prefix: only printable ASCII, as the server spells it");
	expect_error("[imap work]\nhost = h\nuser = u\npassword = p\nprefix = INBOX\r.\n",
		     "t.conf:5: prefix: control character in the value");
}
END_TEST

START_TEST(test_unknown_compress_mode_is_rejected)
{
	expect_work_error("compress = on", "t.conf:5: compress: 'on' is not one of: auto, yes, no");
	expect_work_error("compress = Yes", "t.conf:5: compress: 'Yes' is not one of");
	expect_work_error("compress = deflate", "t.conf:5: compress: 'deflate' is not one of");
	expect_work_error("compress = yes\ncompress = no", "t.conf:6: compress:");
}
END_TEST

START_TEST(test_tunnel_may_ask_for_compression)
{
	load_ok("[imap box]\ntunnel = ssh mail imapd\ncompress = yes\n");
	ck_assert_int_eq(imap("box")->compress, COMPRESS_YES);
	load_ok("[imap box]\ntunnel = ssh mail imapd\n");
	ck_assert_int_eq(imap("box")->compress, COMPRESS_AUTO);
}
END_TEST

static const unsigned char sha[32] = {
    0x9f, 0x86, 0xd0, 0x81, 0x88, 0x4c, 0x7d, 0x65, 0x9a, 0x2f, 0xea, 0xa0, 0xc5, 0x5a, 0xd0, 0x15,
    0xa3, 0xbf, 0x4f, 0x1b, 0x2b, 0x0b, 0x82, 0x2c, 0xd1, 0x5d, 0x6c, 0x15, 0xb0, 0xf0, 0x0a, 0x08,
};

#define SHA_COLONS                                                                                 \
	"9F:86:D0:81:88:4C:7D:65:9A:2F:EA:A0:C5:5A:D0:15:A3:BF:4F:1B:2B:0B:82:2C:D1:5D:6C:15:B0:"  \
	"F0:0A:08"
#define SHA_HEX "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

static void expect_fingerprint(const char *value)
{
	char line[160];

	snprintf(line, sizeof(line), "fingerprint = %s", value);
	load_work(line);
	ck_assert(imap("work")->has_fingerprint);
	ck_assert_mem_eq(imap("work")->fingerprint, sha, 32);
}

START_TEST(test_fingerprint_as_openssl_prints_it_is_read)
{
	expect_fingerprint("sha256:" SHA_COLONS);
	expect_fingerprint(SHA_COLONS);
	expect_fingerprint("SHA256:" SHA_COLONS);
}
END_TEST

START_TEST(test_fingerprint_as_plain_hex_in_any_case_is_read)
{
	expect_fingerprint(SHA_HEX);
	expect_fingerprint("sha256:" SHA_HEX);
	expect_fingerprint("9F86D081884C7D659A2FEAA0C55AD015a3bf4f1b2b0b822cd15d6c15b0f00a08");
}
END_TEST

START_TEST(test_malformed_fingerprint_is_rejected)
{
	static const char *bad[] = {
	    "sha256:9F:86",							/* too short */
	    SHA_HEX "00",							/* too long */
	    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a0g", /* not hex */
	    "9F:86D0:81:88:4C:7D:65:9A:2F:EA:A0:C5:5A:D0:15:A3:BF:4F:1B:2B:0B:82:2C:D1:5D:6C:15:"
	    "B0:F0:0A:08:", /* colons in the wrong places */
	    "sha1:" SHA_HEX,
	    "md5",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char line[200];

		snprintf(line, sizeof(line), "fingerprint = %s", bad[i]);
		expect_work_error(line,
				  "t.conf:5: fingerprint: expected a SHA-256 as 32 hex bytes");
	}
}
END_TEST

START_TEST(test_host_and_tunnel_together_are_rejected)
{
	expect_work_error("tunnel = ssh mail imapd",
			  "t.conf:5: tunnel: give either host or tunnel, not both");
	expect_error("[imap work]\ntunnel = ssh mail imapd\nhost = h\n",
		     "t.conf:3: host: give either host or tunnel, not both");
}
END_TEST

START_TEST(test_neither_host_nor_tunnel_is_rejected_at_the_section_line)
{
	expect_error("; mail\n\n[imap work]\nuser = me\npassword = x\n",
		     "t.conf:3: [imap work]: missing key 'host' (or 'tunnel')");
}
END_TEST

START_TEST(test_tunnel_needs_no_user_or_password)
{
	const struct imap_conf *c;

	load_ok("[imap box]\ntunnel = ssh -q mail /usr/lib/dovecot/imap\n");
	c = imap("box");
	ck_assert_str_eq(c->tunnel, "ssh -q mail /usr/lib/dovecot/imap");
	ck_assert_ptr_null(c->host);
	ck_assert_ptr_null(c->user);
	ck_assert_int_eq(c->port, 0);
	ck_assert_int_eq(c->tls, TLS_NONE);
}
END_TEST

START_TEST(test_tunnel_with_network_keys_is_rejected)
{
	static const char *keys[][2] = {
	    {"port = 993", "t.conf:3: port: makes no sense with tunnel"},
	    {"tls = starttls", "t.conf:3: tls: makes no sense with tunnel"},
	    {"ca_file = /etc/ca.pem", "t.conf:3: ca_file: makes no sense with tunnel"},
	    {"fingerprint = " SHA_HEX, "t.conf:3: fingerprint: makes no sense with tunnel"},
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char text[256];

		snprintf(text, sizeof(text), "[imap box]\ntunnel = imapd\n%s\n", keys[i][0]);
		expect_error(text, keys[i][1]);
	}
}
END_TEST

START_TEST(test_user_is_required_without_tunnel)
{
	expect_error("[imap work]\nhost = h\npassword = x\n",
		     "t.conf:1: [imap work]: missing key 'user'");
}
END_TEST

START_TEST(test_password_and_password_command_together_are_rejected)
{
	expect_work_error("password_command = pass show work",
			  "t.conf:5: password_command: give either password or password_command, "
			  "not both");
}
END_TEST

START_TEST(test_password_or_password_command_is_required)
{
	expect_error("[imap work]\nhost = h\nuser = u\n",
		     "t.conf:1: [imap work]: missing key 'password' (or 'password_command')");
}
END_TEST

START_TEST(test_password_with_carriage_return_is_rejected)
{
	expect_error("[imap work]\nhost = h\nuser = u\npassword = sec\rret\n",
		     "t.conf:4: password: control character in the value");
}
END_TEST

START_TEST(test_control_characters_in_values_are_rejected)
{
	expect_error("[imap work]\nhost = imap\x01.example.com\n",
		     "t.conf:2: host: control character in the value");
	expect_error("[imap work]\nhost = h\nuser = u\x1b[31m\n",
		     "t.conf:3: user: control character in the value");
	expect_error("[imap work]\nhost = h\x7f\n", "t.conf:2: host: control character");
}
END_TEST

START_TEST(test_tab_inside_a_value_is_kept)
{
	load_ok("[imap work]\nhost = h\nuser = u\npassword = a\tb\n");
	ck_assert_str_eq(imap("work")->password, "a\tb");
}
END_TEST

/* ---- sections, keys and lines ---- */

START_TEST(test_unknown_section_kind_is_rejected)
{
	expect_error(WORK "[smtp old]\nhost = h\n", "t.conf:5: [smtp old]: unknown section");
	expect_error("[Imap work]\n", "t.conf:1: [Imap work]: unknown section");
	expect_error("[]\n", "t.conf:1: []: unknown section");
}
END_TEST

START_TEST(test_section_without_name_is_rejected)
{
	expect_error("[imap]\nhost = h\n", "t.conf:1: [imap]: a section needs a name");
}
END_TEST

START_TEST(test_section_name_with_colon_slash_or_blank_is_rejected)
{
	expect_error("[channel a:b]\n", "t.conf:1: [channel a:b]: 'a:b' is not a valid name");
	expect_error("[maildir ../x]\n", "t.conf:1: [maildir ../x]: '../x' is not a valid name");
	expect_error("[imap my work]\n", "t.conf:1: [imap my work]: 'my work' is not a valid name");
	expect_error("[imap caf\xc3\xa9]\n", "t.conf:1: [imap caf\xc3\xa9]: 'caf\xc3\xa9' is not");
}
END_TEST

START_TEST(test_section_name_starting_with_dash_or_dots_only_is_rejected)
{
	expect_error("[channel -f]\n", "t.conf:1: [channel -f]: '-f' is not a valid name");
	expect_error("[channel ..]\n", "t.conf:1: [channel ..]: '..' is not a valid name");
	expect_error("[channel .]\n", "t.conf:1: [channel .]: '.' is not a valid name");
}
END_TEST

START_TEST(test_names_may_use_letters_digits_dot_underscore_and_dash)
{
	load_ok("[maildir Mail_2.old-x]\npath = /m\n");
	ck_assert_ptr_nonnull(config_find_store(&cfg, "Mail_2.old-x"));
}
END_TEST

START_TEST(test_imap_and_maildir_stores_share_one_namespace)
{
	expect_error(WORK "[maildir work]\npath = /m\n",
		     "t.conf:5: [maildir work]: a store named 'work' is already defined at line 1");
	expect_error(WORK WORK, "t.conf:5: [imap work]: a store named 'work' is already defined");
}
END_TEST

START_TEST(test_channel_names_are_unique)
{
	expect_error(BASE "[channel c]\nfar = work\nnear = laptop\n",
		     "t.conf:10: [channel c]: a channel named 'c' is already defined at line 7");
}
END_TEST

START_TEST(test_channel_may_share_its_name_with_a_store)
{
	load_ok(WORK "[maildir laptop]\npath = /m\n[channel work]\nfar = work\nnear = laptop\n");
	ck_assert_ptr_nonnull(config_find_channel(&cfg, "work"));
}
END_TEST

START_TEST(test_section_without_keys_is_still_checked)
{
	expect_error("[maildir m]\n", "t.conf:1: [maildir m]: missing key 'path'");
	expect_error("[maildir m]\n[maildir n]\npath = /n\n",
		     "t.conf:1: [maildir m]: missing key 'path'");
}
END_TEST

START_TEST(test_section_header_without_closing_bracket_is_rejected)
{
	expect_error(WORK "[maildir m\n", "t.conf:5: a section header needs a closing ']'");
}
END_TEST

START_TEST(test_text_after_section_header_is_rejected)
{
	expect_error("[imap work] host = h\n", "t.conf:1: unexpected text after ']'");
}
END_TEST

START_TEST(test_comment_after_section_header_is_allowed)
{
	load_ok("[imap work]   ; the office\nhost = h\nuser = u\npassword = p\n"
		"  [ maildir  m ]\npath = /m\n");
	ck_assert_ptr_nonnull(config_find_store(&cfg, "work"));
	ck_assert_ptr_nonnull(config_find_store(&cfg, "m"));
}
END_TEST

START_TEST(test_key_outside_a_section_is_rejected)
{
	expect_error("\n# top\nhost = h\n" WORK, "t.conf:3: host: outside of any section");
}
END_TEST

START_TEST(test_unknown_key_is_rejected)
{
	expect_work_error("hots = h", "t.conf:5: hots: unknown key");
	expect_work_error("Host = h", "t.conf:5: Host: unknown key");
}
END_TEST

START_TEST(test_key_of_another_section_kind_is_unknown)
{
	expect_error("[maildir m]\npath = /m\nhost = h\n", "t.conf:3: host: unknown key");
	expect_work_error("path = /m", "t.conf:5: path: unknown key");
	expect_channel_error("user = u", "t.conf:10: user: unknown key");
}
END_TEST

START_TEST(test_key_given_twice_in_a_section_is_rejected)
{
	expect_work_error("user = again",
			  "t.conf:5: user: given twice in [imap work] (first at line 3)");
}
END_TEST

START_TEST(test_key_without_value_is_rejected)
{
	expect_work_error("auth =", "t.conf:5: auth: no value");
	expect_work_error("auth = ; later", "t.conf:5: auth: no value");
}
END_TEST

START_TEST(test_line_that_is_not_a_key_is_rejected)
{
	expect_work_error("hostname", "t.conf:5: expected 'key = value', '[section]' or a comment");
}
END_TEST

START_TEST(test_key_without_name_is_rejected)
{
	expect_work_error("= x", "t.conf:5: a key name is missing before '='");
}
END_TEST

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

START_TEST(test_line_longer_than_the_limit_is_rejected_not_cut)
{
	char *value = repeat('x', 300), *text;

	ck_assert_int_ge(asprintf(&text, WORK "tunnel = %s\n", value), 0);
	expect_error(text, "t.conf:5: the line is too long (309 bytes; at most 199)");
	free(text);
	free(value);
}
END_TEST

START_TEST(test_line_at_the_limit_is_accepted)
{
	char *comment = repeat('c', 197), *text;

	ck_assert_int_ge(asprintf(&text, "; %s\r\n" WORK, comment), 0); /* 199 bytes + CRLF */
	load_ok(text);
	free(text);
	ck_assert_int_ge(asprintf(&text, ";;%s\n" WORK, comment), 0);
	load_ok(text);
	free(text);
	ck_assert_int_ge(asprintf(&text, ";;;%s\n" WORK, comment), 0); /* 200 bytes */
	expect_error(text, "t.conf:1: the line is too long (200 bytes; at most 199)");
	free(text);
	free(comment);
}
END_TEST

START_TEST(test_line_numbers_count_comments_blanks_and_crlf_lines)
{
	expect_error("# ferry\r\n\r\n; more\r\n[imap work]\r\nhost = h\r\n\r\nport = 70000\r\n",
		     "t.conf:7: port: expected a number from 1 to 65535");
}
END_TEST

START_TEST(test_indented_line_is_a_key_not_a_continuation)
{
	load_ok("[imap work]\n  host = h\n\tuser = u\n    password = p\n");
	ck_assert_str_eq(imap("work")->host, "h");
	ck_assert_str_eq(imap("work")->user, "u");
	expect_error("[imap work]\nhost = h\n   more\n", "t.conf:3: expected 'key = value'");
}
END_TEST

START_TEST(test_inline_comments_are_stripped)
{
	load_ok("[imap work]\nhost = h.example   ; the server\nuser = u\npassword = a;b\n");
	ck_assert_str_eq(imap("work")->host, "h.example");
	ck_assert_str_eq(imap("work")->password, "a;b");
}
END_TEST

START_TEST(test_colon_separates_keys_too)
{
	load_ok("[imap work]\nhost: h\nuser: u\npassword: p:q\n");
	ck_assert_str_eq(imap("work")->password, "p:q");
}
END_TEST

START_TEST(test_utf8_byte_order_mark_is_ignored)
{
	load_ok("\xEF\xBB\xBF" WORK);
	ck_assert_ptr_nonnull(config_find_store(&cfg, "work"));
}
END_TEST

START_TEST(test_first_error_in_the_file_wins)
{
	/* inih's own syntax error on line 2, the parser's on line 5. */
	expect_error("[imap work]\nnonsense\nhost = h\nuser = u\nbogus = 1\n",
		     "t.conf:2: expected 'key = value'");
	/* A section missing a key is reported before a later bad line. */
	expect_error("[maildir m]\n[maildir n]\nnonsense\n", "t.conf:1: [maildir m]: missing");
}
END_TEST

START_TEST(test_empty_file_is_an_empty_config)
{
	load_ok("");
	ck_assert_uint_eq(cfg.nstores, 0);
	ck_assert_uint_eq(cfg.nchannels, 0);
	load_ok("; nothing yet\n\n");
	ck_assert_uint_eq(cfg.nstores, 0);
}
END_TEST

/* ---- [maildir] ---- */

START_TEST(test_maildir_path_is_required)
{
	expect_error(WORK "[maildir m]\nlayout = maildir++\n",
		     "t.conf:5: [maildir m]: missing key 'path'");
}
END_TEST

START_TEST(test_maildir_layout_defaults_to_verbatim)
{
	load_ok("[maildir m]\npath = /m\n[maildir n]\npath = /n\nlayout = maildir++\n");
	ck_assert_int_eq(maildir("m")->layout, LAYOUT_VERBATIM);
	ck_assert_int_eq(maildir("n")->layout, LAYOUT_MAILDIRPP);
}
END_TEST

/* The layouts of mbsync (SubFolders Legacy) and offlineimap. */
START_TEST(test_maildir_layouts_of_the_tools)
{
	load_ok("[maildir m]\npath = /m\nlayout = legacy\n"
		"[maildir n]\npath = /n\nlayout = offlineimap\n");
	ck_assert_int_eq(maildir("m")->layout, LAYOUT_LEGACY);
	ck_assert_int_eq(maildir("n")->layout, LAYOUT_OFFLINEIMAP);
}
END_TEST

START_TEST(test_unknown_layout_is_rejected)
{
	expect_error("[maildir m]\npath = /m\nlayout = mh\n",
		     "t.conf:3: layout: 'mh' is not one of: verbatim, maildir++, legacy, "
		     "offlineimap");
}
END_TEST

START_TEST(test_tilde_in_path_expands_to_home)
{
	load_ok("[maildir m]\npath = ~/Mail\n[maildir n]\npath = ~\n");
	ck_assert_str_eq(maildir("m")->path, "/home/tester/Mail");
	ck_assert_str_eq(maildir("n")->path, "/home/tester");
}
END_TEST

START_TEST(test_tilde_without_home_uses_the_password_database)
{
	const struct passwd *pw = getpwuid(getuid());

	ck_assert_ptr_nonnull(pw);
	unsetenv("HOME");
	load_ok("[maildir m]\npath = ~\n");
	ck_assert_str_eq(maildir("m")->path, pw->pw_dir);
}
END_TEST

START_TEST(test_variables_in_path_expand)
{
	setenv("MAILROOT", "/srv/mail", 1);
	setenv("WHO", "alice", 1);
	load_ok("[maildir m]\npath = $MAILROOT/${WHO}_box/$WHO\n");
	ck_assert_str_eq(maildir("m")->path, "/srv/mail/alice_box/alice");
}
END_TEST

START_TEST(test_unset_variable_in_path_is_rejected_by_name)
{
	unsetenv("FERRY_TEST_UNSET");
	expect_error("[maildir m]\npath = $FERRY_TEST_UNSET/Mail\n",
		     "t.conf:2: path: $FERRY_TEST_UNSET is not set");
	expect_error("[maildir m]\npath = /x/${FERRY_TEST_UNSET}\n",
		     "t.conf:2: path: $FERRY_TEST_UNSET is not set");
}
END_TEST

START_TEST(test_relative_path_is_rejected)
{
	expect_error("[maildir m]\npath = Mail/work\n",
		     "t.conf:2: path: 'Mail/work' is not an absolute path");
	setenv("REL", "rel", 1);
	expect_error("[maildir m]\npath = $REL/x\n", "t.conf:2: path: '$REL/x' is not an absolute");
}
END_TEST

START_TEST(test_expand_path_handles_tilde_dollar_and_braces)
{
	const char *why = NULL;
	char *s;

	setenv("V", "val", 1);
	s = config_expand_path("~/a/~b/$V/${V}x/$/a$-b/$", &why);
	ck_assert_str_eq(s, "/home/tester/a/~b/val/valx/$/a$-b/$");
	free(s);
	s = config_expand_path("~user/x", &why);
	ck_assert_str_eq(s, "~user/x");
	free(s);
	s = config_expand_path("", &why);
	ck_assert_str_eq(s, "");
	free(s);
}
END_TEST

START_TEST(test_expand_path_rejects_unclosed_brace)
{
	const char *why = NULL;

	ck_assert_ptr_null(config_expand_path("/a/${V/b", &why));
	ck_assert_str_eq(why, "${ must enclose a variable name and end with }");
	ck_assert_ptr_null(config_expand_path("/a/${}", &why));
	ck_assert_str_eq(why, "${ must enclose a variable name and end with }");
	ck_assert_ptr_null(config_expand_path("/a/${1x}", &why));
	ck_assert_str_eq(why, "${ must enclose a variable name and end with }");
}
END_TEST

/* ---- [channel] ---- */

START_TEST(test_channel_gets_defaults)
{
	const struct channel_conf *ch;

	load_ok(BASE);
	ch = config_find_channel(&cfg, "c");
	ck_assert_ptr_nonnull(ch);
	ck_assert_str_eq(ch->file, NAME);
	ck_assert_int_eq(ch->line, 7);
	ck_assert_ptr_eq(ch->far, config_find_store(&cfg, "work"));
	ck_assert_ptr_eq(ch->near, config_find_store(&cfg, "laptop"));
	ck_assert_uint_eq(ch->nfolders, 1);
	ck_assert_str_eq(ch->folders[0].glob, "*");
	ck_assert(!ch->folders[0].exclude);
	ck_assert_int_eq(ch->sync, SYNC_BOTH);
	ck_assert_int_eq(ch->create, SIDE_BOTH);
	ck_assert_int_eq(ch->delete, SIDE_BOTH);
	ck_assert_int_eq(ch->remove, SIDE_NONE);
	ck_assert(ch->max_delete_is_percent);
	ck_assert_uint_eq(ch->max_delete, 50);
	ck_assert_str_eq(ch->state, "/home/tester/.local/state/ferry/c.sqlite");
	ck_assert_uint_eq(ch->max_size, 0);
}
END_TEST

START_TEST(test_state_defaults_to_xdg_state_home)
{
	setenv("XDG_STATE_HOME", "/var/state", 1);
	ck_assert_str_eq(load_channel("")->state, "/var/state/ferry/c.sqlite");
}
END_TEST

START_TEST(test_relative_xdg_state_home_is_ignored)
{
	setenv("XDG_STATE_HOME", "state", 1);
	ck_assert_str_eq(load_channel("")->state, "/home/tester/.local/state/ferry/c.sqlite");
}
END_TEST

START_TEST(test_state_path_is_expanded)
{
	setenv("XDG_STATE_HOME", "/var/state", 1);
	ck_assert_str_eq(load_channel("state = ~/ferry/c.db")->state, "/home/tester/ferry/c.db");
	ck_assert_str_eq(load_channel("state = $XDG_STATE_HOME/c.db")->state, "/var/state/c.db");
}
END_TEST

START_TEST(test_two_channels_with_one_state_are_rejected)
{
	expect_error(
	    BASE "[channel d]\nfar = work\nnear = laptop\n"
		 "state = ~/.local/state/ferry/c.sqlite\n",
	    "t.conf:13: state: channel 'c' already uses /home/tester/.local/state/ferry/c");
	expect_error(BASE "state = ~/.local/state/ferry/d.sqlite\n[channel d]\nfar = work\n"
			  "near = laptop\n",
		     "t.conf:11: [channel d]: state /home/tester/.local/state/ferry/d.sqlite is "
		     "already used by channel 'c'");
}
END_TEST

START_TEST(test_far_and_near_are_required)
{
	expect_error(WORK "[channel c]\nnear = work\n", "t.conf:5: [channel c]: missing key 'far'");
	expect_error(WORK "[channel c]\nfar = work\n", "t.conf:5: [channel c]: missing key 'near'");
}
END_TEST

START_TEST(test_far_must_name_a_store)
{
	expect_error(WORK "[channel c]\nfar = nope\nnear = work\n",
		     "t.conf:6: far: no store named 'nope'");
}
END_TEST

START_TEST(test_near_must_name_a_store)
{
	expect_error(WORK "[channel c]\n\nnear = nope\nfar = work\n[maildir x]\npath = /x\n",
		     "t.conf:7: near: no store named 'nope'");
}
END_TEST

START_TEST(test_stores_may_follow_their_channel)
{
	const struct channel_conf *ch;

	load_ok("[channel c]\nfar = work\nnear = m\n" WORK "[maildir m]\npath = /m\n");
	ch = config_find_channel(&cfg, "c");
	ck_assert_str_eq(ch->far->name, "work");
	ck_assert_str_eq(ch->near->name, "m");
}
END_TEST

START_TEST(test_far_and_near_must_differ)
{
	expect_error(WORK "[channel c]\nfar = work\nnear = work\n",
		     "t.conf:7: near: far and near are the same store");
}
END_TEST

START_TEST(test_folders_with_quotes_and_excludes)
{
	const struct channel_conf *ch;
	static const struct folder_pattern want[] = {
	    {"INBOX", false},	     {"Sent Items", false}, {"Junk", true},
	    {"Deleted Items", true}, {"Lists/*", false},    {"Sent Items/Old", false},
	    {"!Important", false},
	};

	ch = load_channel("folders = INBOX  \"Sent Items\"\t!Junk !\"Deleted Items\" Lists/* "
			  "\"Sent Items\"/Old \"!Important\"");
	ck_assert_uint_eq(ch->nfolders, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < ch->nfolders; i++) {
		ck_assert_str_eq(ch->folders[i].glob, want[i].glob);
		ck_assert_int_eq(ch->folders[i].exclude, want[i].exclude);
	}
}
END_TEST

START_TEST(test_folder_quote_must_be_closed)
{
	expect_channel_error("folders = * \"Sent Items",
			     "t.conf:10: folders: a double quote is not");
}
END_TEST

START_TEST(test_empty_folder_list_is_rejected)
{
	expect_channel_error("folders =", "t.conf:10: folders: no value");
	expect_channel_error("folders = \"\"", "t.conf:10: folders: an empty folder name");
}
END_TEST

START_TEST(test_folder_exclusions_alone_are_rejected)
{
	expect_channel_error("folders = !Junk !Spam", "t.conf:10: folders: no folder is included");
}
END_TEST

START_TEST(test_bang_without_pattern_is_rejected)
{
	expect_channel_error("folders = * ! Junk",
			     "t.conf:10: folders: '!' must be followed by a pattern");
}
END_TEST

START_TEST(test_sync_direction_is_read)
{
	ck_assert_int_eq(load_channel("sync = pull")->sync, SYNC_PULL);
	ck_assert_int_eq(load_channel("sync = push")->sync, SYNC_PUSH);
	ck_assert_int_eq(load_channel("sync = both")->sync, SYNC_BOTH);
	expect_channel_error("sync = mirror",
			     "t.conf:10: sync: 'mirror' is not one of: both, pull, push");
}
END_TEST

START_TEST(test_create_delete_and_remove_name_sides)
{
	const struct channel_conf *ch;

	load_ok(BASE "create = far\ndelete = near\nremove = both\n");
	ch = config_find_channel(&cfg, "c");
	ck_assert_int_eq(ch->create, SIDE_FAR);
	ck_assert_int_eq(ch->delete, SIDE_NEAR);
	ck_assert_int_eq(ch->remove, SIDE_BOTH);
	ck_assert_int_eq(load_channel("delete = none")->delete, SIDE_NONE);
	expect_channel_error("create = local",
			     "t.conf:10: create: 'local' is not one of: both, far, near, none");
	expect_channel_error("delete = yes", "t.conf:10: delete: 'yes' is not one of");
	expect_channel_error("remove = all", "t.conf:10: remove: 'all' is not one of");
}
END_TEST

START_TEST(test_max_delete_as_a_percentage)
{
	const struct channel_conf *ch = load_channel("max_delete = 10%");

	ck_assert(ch->max_delete_is_percent);
	ck_assert_uint_eq(ch->max_delete, 10);
	ck_assert_uint_eq(load_channel("max_delete = 0%")->max_delete, 0);
	ck_assert_uint_eq(load_channel("max_delete = 100%")->max_delete, 100);
}
END_TEST

START_TEST(test_max_delete_as_a_count)
{
	const struct channel_conf *ch = load_channel("max_delete = 200");

	ck_assert(!ch->max_delete_is_percent);
	ck_assert_uint_eq(ch->max_delete, 200);
}
END_TEST

START_TEST(test_bad_max_delete_is_rejected)
{
	static const char *bad[] = {"101%", "%", "-5", "50 %", "half", "5%%", "99999999999"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char line[64];

		snprintf(line, sizeof(line), "max_delete = %s", bad[i]);
		expect_channel_error(line, "t.conf:10: max_delete: expected a percentage");
	}
}
END_TEST

START_TEST(test_max_size_takes_1024_based_suffixes)
{
	ck_assert_uint_eq(load_channel("max_size = 0")->max_size, 0);
	ck_assert_uint_eq(load_channel("max_size = 1000")->max_size, 1000);
	ck_assert_uint_eq(load_channel("max_size = 1K")->max_size, 1024);
	ck_assert_uint_eq(load_channel("max_size = 25M")->max_size, 25u * 1024 * 1024);
	ck_assert_uint_eq(load_channel("max_size = 25m")->max_size, 25u * 1024 * 1024);
	ck_assert_uint_eq(load_channel("max_size = 2G")->max_size, 2ull * 1024 * 1024 * 1024);
	ck_assert_uint_eq(load_channel("max_size = 0K")->max_size, 0);
}
END_TEST

START_TEST(test_post_sync_is_kept_as_written)
{
	ck_assert_ptr_null(load_channel("max_size = 0")->post_sync);
	ck_assert_str_eq(load_channel("post_sync = notmuch new; echo \"done\"")->post_sync,
			 "notmuch new; echo \"done\"");
	expect_channel_error("post_sync =", "t.conf:10: post_sync: no value");
}
END_TEST

/* A POP3 store on lines 1-4, a Maildir on 5-6, and a channel on 7-9 taking
 * from it: a key added after it is on line 10. */
#define POP3                                                                                       \
	"[pop3 isp]\nhost = pop.example.com\nuser = me\npassword = secret\n"                       \
	"[maildir laptop]\npath = /home/tester/Mail\n"                                             \
	"[channel p]\nfar = isp\nnear = laptop\n"

static const struct channel_conf *load_pop3(const char *lines)
{
	char text[512];

	snprintf(text, sizeof(text), "%s%s", POP3, lines);
	load_ok(text);
	return config_find_channel(&cfg, "p");
}

static void expect_pop3_error(const char *lines, const char *prefix)
{
	char text[512];

	snprintf(text, sizeof(text), "%s%s", POP3, lines);
	expect_error(text, prefix);
}

START_TEST(test_a_download_only_store_is_far_of_a_pull_channel_only)
{
	expect_error("[pop3 isp]\nhost = pop.example.com\nuser = me\npassword = secret\n"
		     "[maildir laptop]\npath = /home/tester/Mail\n"
		     "[channel p]\nfar = laptop\nnear = isp\nsync = pull\n",
		     "t.conf:9: near: store 'isp' can only be downloaded from");
	expect_pop3_error("", "t.conf:8: sync: store 'isp' can only be downloaded from: the "
			      "channel needs sync = pull");
	expect_pop3_error("sync = both\n", "t.conf:10: sync: store 'isp'");
	expect_pop3_error("sync = push\n", "t.conf:10: sync: store 'isp'");
	expect_pop3_error("sync = pull\nmax_age = 30\n", "t.conf:11: max_age: store 'isp'");
	expect_pop3_error("sync = pull\nmap = INBOX = Lists\n", "t.conf:11: map: store 'isp'");
	expect_pop3_error("sync = pull\nmax_size = 1M\nplaceholders = yes\n",
			  "t.conf:12: placeholders: store 'isp' can only be downloaded from");
	ck_assert_int_eq(load_pop3("sync = pull\n")->sync, SYNC_PULL);
}
END_TEST

START_TEST(test_folder_is_where_a_download_only_store_delivers)
{
	const struct channel_conf *ch = load_pop3("sync = pull\n");

	/* INBOX into INBOX: no map, and only that folder. */
	ck_assert_ptr_null(ch->folder);
	ck_assert_uint_eq(ch->nmap, 0);
	ck_assert_uint_eq(ch->nfolders, 1);
	ck_assert_str_eq(ch->folders[0].glob, "INBOX");
	ch = load_pop3("sync = pull\nfolder = Lists/isp\n");
	ck_assert_str_eq(ch->folder, "Lists/isp");
	ck_assert_uint_eq(ch->nmap, 1);
	ck_assert_str_eq(ch->map[0].far, "INBOX");
	ck_assert_str_eq(ch->map[0].near, "Lists/isp");
	ck_assert_str_eq(ch->folders[0].glob, "INBOX");
	/* Given folders stay as given. */
	ch = load_pop3("sync = pull\nfolders = *\nfolder = Lists/isp\n");
	ck_assert_str_eq(ch->folders[0].glob, "*");
	expect_pop3_error("sync = pull\nfolder =\n", "t.conf:11: ");
	expect_channel_error("folder = Lists/isp",
			     "t.conf:10: folder: only for a far store that can only be downloaded");
}
END_TEST

START_TEST(test_a_download_only_store_never_deletes_near)
{
	const struct channel_conf *ch = load_pop3("sync = pull\ndelete = both\n");
	struct sync_policy pol = channel_policy(ch, SYNC_PULL, false);

	ck_assert_int_eq(pol.delete, SIDE_FAR);
	ch = load_pop3("sync = pull\ndelete = near\n");
	ck_assert_int_eq(channel_policy(ch, SYNC_PULL, true).delete, SIDE_NONE);
	/* Other channels delete as `delete` says. */
	ch = load_channel("delete = both");
	ck_assert_int_eq(channel_policy(ch, SYNC_BOTH, false).delete, SIDE_BOTH);
}
END_TEST

START_TEST(test_push_is_refused_for_a_download_only_store)
{
	const struct channel_conf *ch = load_pop3("sync = pull\n");
	struct ferry_error e = {0};

	ck_assert_int_eq(channel_check_dir(ch, SYNC_PULL, &e), 0);
	ck_assert_int_eq(channel_check_dir(ch, SYNC_PUSH, &e), -1);
	ck_assert_int_eq(e.cause, FERRY_CAUSE_CONFIG);
	ck_assert_ptr_nonnull(strstr(e.msg, "no --push"));
	ferry_error_clear(&e);
	ch = load_channel("sync = both");
	ck_assert_int_eq(channel_check_dir(ch, SYNC_PUSH, &e), 0);
}
END_TEST

START_TEST(test_max_age)
{
	struct sync_policy pol;

	ck_assert_uint_eq(load_channel("max_size = 0")->max_age, 0);
	ck_assert_uint_eq(load_channel("max_age = 90")->max_age, 90);
	ck_assert_uint_eq(load_channel("max_age = 90d")->max_age, 90);
	ck_assert_uint_eq(load_channel("max_age = 12w")->max_age, 84);
	ck_assert_uint_eq(load_channel("max_age = 2Y")->max_age, 730);
	ck_assert_uint_eq(load_channel("max_age = 0")->max_age, 0);
	expect_channel_error("max_age = 90m", "t.conf:10: max_age: expected an age in days");
	expect_channel_error("max_age = d", "t.conf:10: max_age: expected an age in days");
	expect_channel_error("max_age = 101y", "t.conf:10: max_age: expected an age in days");
	expect_channel_error("max_age = -1", "t.conf:10: max_age: expected an age in days");
	/* The planner gets the window's start, from the clock. */
	pol = channel_policy(load_channel("max_age = 10d"), SYNC_BOTH, false);
	ck_assert(pol.min_date <= (int64_t)time(NULL) - 10 * 86400);
	ck_assert(pol.min_date > (int64_t)time(NULL) - 10 * 86400 - 60);
	ck_assert_int_eq(channel_policy(load_channel("max_age = 0"), SYNC_BOTH, false).min_date, 0);
}
END_TEST

START_TEST(test_placeholders)
{
	ck_assert_int_eq(load_channel("max_size = 0")->placeholders, PLACEHOLDERS_NO);
	ck_assert(!channel_policy(load_channel("max_size = 1M"), SYNC_BOTH, false).placeholders);
	ck_assert_int_eq(load_channel("max_size = 1M\nplaceholders = yes")->placeholders,
			 PLACEHOLDERS_YES);
	ck_assert(
	    channel_policy(load_channel("max_size = 1M\nplaceholders = yes"), SYNC_BOTH, false)
		.placeholders);
	ck_assert_int_eq(load_channel("max_size = 1M\nplaceholders = flagged")->placeholders,
			 PLACEHOLDERS_FLAGGED);
	ck_assert_int_eq(load_channel("placeholders = no")->placeholders, PLACEHOLDERS_NO);
	expect_channel_error("placeholders = maybe", "t.conf:10: placeholders: ");
	expect_channel_error("placeholders = yes", "t.conf:10: placeholders: needs max_size");
	expect_channel_error("max_size = 1M\nsync = push\nplaceholders = yes",
			     "t.conf:12: placeholders: placeholders are made only far -> near");
	/* The near side must be a Maildir: only there is a placeholder replaced in place. */
	expect_error(WORK
		     "[imap other]\nhost = b.example.org\nuser = u\npassword = p\n"
		     "[channel c]\nfar = work\nnear = other\nmax_size = 1M\nplaceholders = yes\n",
		     "t.conf:13: placeholders: the near store 'other' must be a Maildir");
}
END_TEST

START_TEST(test_subscribed)
{
	ck_assert(!load_channel("max_size = 0")->subscribed);
	ck_assert(load_channel("subscribed = yes")->subscribed);
	ck_assert(!load_channel("subscribed = no")->subscribed);
	expect_channel_error("subscribed = maybe", "t.conf:10: subscribed:");
}
END_TEST

START_TEST(test_watch_and_interval)
{
	const struct channel_conf *ch = load_channel("max_size = 0");

	ck_assert_uint_eq(ch->nwatch, 0);
	ck_assert_uint_eq(ch->interval, 0);
	ch = load_channel("watch = INBOX \"Sent Items\" Work/Sub");
	ck_assert_uint_eq(ch->nwatch, 3);
	ck_assert_str_eq(ch->watch[0], "INBOX");
	ck_assert_str_eq(ch->watch[1], "Sent Items");
	ck_assert_str_eq(ch->watch[2], "Work/Sub");
	ck_assert_uint_eq(load_channel("interval = 900")->interval, 900);
	ck_assert_uint_eq(load_channel("interval = 15m")->interval, 900);
	ck_assert_uint_eq(load_channel("interval = 1h")->interval, 3600);
	ck_assert_uint_eq(load_channel("interval = 30s")->interval, 30);
	expect_channel_error("interval = 0", "t.conf:10: interval: expected a time");
	expect_channel_error("interval = 5d", "t.conf:10: interval: expected a time");
	expect_channel_error("interval = 200h", "t.conf:10: interval: expected a time");
	expect_channel_error("interval = m", "t.conf:10: interval: expected a time");
	expect_channel_error("watch = *", "t.conf:10: watch: expected folder names");
	expect_channel_error("watch = \"\"", "t.conf:10: watch: expected folder names");
}
END_TEST

START_TEST(test_bad_max_size_is_rejected)
{
	static const char *bad[] = {"25MB", "-1", "1T", "M", "1.5M", "25 M", "99999999999999G",
				    "none"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char line[64];

		snprintf(line, sizeof(line), "max_size = %s", bad[i]);
		expect_channel_error(line, "t.conf:10: max_size: expected a size in bytes");
	}
}
END_TEST

START_TEST(test_find_store_and_channel_by_name)
{
	load_ok(BASE);
	ck_assert_ptr_eq(config_find_store(&cfg, "laptop"), &cfg.stores[1]);
	ck_assert_ptr_null(config_find_store(&cfg, "c"));
	ck_assert_ptr_eq(config_find_channel(&cfg, "c"), &cfg.channels[0]);
	ck_assert_ptr_null(config_find_channel(&cfg, "work"));
	ck_assert_ptr_null(config_find_store(&cfg, NULL));
}
END_TEST

/* ---- files ---- */

START_TEST(test_missing_file_cannot_be_read)
{
	ck_assert_int_eq(config_load("/nonexistent/ferry/config", &cfg, &err), -1);
	ck_assert_int_eq(err.status, FERRY_USAGE);
	ck_assert_str_eq(err.msg,
			 "/nonexistent/ferry/config: cannot read: No such file or directory");
	ck_assert_ptr_null(cfg.path);
}
END_TEST

START_TEST(test_directory_cannot_be_read)
{
	ck_assert_int_eq(config_load("/", &cfg, &err), -1);
	ck_assert_int_eq(err.status, FERRY_USAGE);
	ck_assert_str_eq(err.msg, "/: cannot read: Is a directory");
}
END_TEST

START_TEST(test_file_is_loaded_and_named_in_messages)
{
	char path[] = "/tmp/ferry-test-config-XXXXXX", want[128];
	static const char text[] = WORK "port = 143\n";

	write_temp(path, text, strlen(text), 0600);
	ck_assert_int_eq(config_load(path, &cfg, &err), -1);
	snprintf(want, sizeof(want), "%s:5: port: port 143", path);
	ck_assert_msg(strncmp(err.msg, want, strlen(want)) == 0, "got %s", err.msg);
	unlink(path);
}
END_TEST

START_TEST(test_nul_byte_in_file_is_rejected)
{
	char path[] = "/tmp/ferry-test-config-XXXXXX", want[128];
	static const char text[] = "[imap work]\nhost = h\0evil\nuser = u\n";

	write_temp(path, text, sizeof(text) - 1, 0600);
	ck_assert_int_eq(config_load(path, &cfg, &err), -1);
	snprintf(want, sizeof(want), "%s:2: the line contains a NUL byte", path);
	ck_assert_str_eq(err.msg, want);
	unlink(path);
}
END_TEST

START_TEST(test_password_in_a_readable_file_gets_a_warning)
{
	char path[] = "/tmp/ferry-test-config-XXXXXX";
	char *out;
	int rc;

	write_temp(path, WORK, strlen(WORK), 0644);
	out = load_file_capturing_stderr(path, &rc);
	ck_assert_msg(rc == 0, "%s", err.msg);
	ck_assert_ptr_nonnull(strstr(out, "warning"));
	ck_assert_ptr_nonnull(strstr(out, path));
	ck_assert_ptr_nonnull(strstr(out, "chmod 600"));
	ck_assert_ptr_null(strstr(out, "secret"));
	free(out);
	unlink(path);
}
END_TEST

START_TEST(test_password_in_a_private_file_gets_no_warning)
{
	char path[] = "/tmp/ferry-test-config-XXXXXX";
	char *out;
	int rc;

	write_temp(path, WORK, strlen(WORK), 0600);
	out = load_file_capturing_stderr(path, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(out, "");
	free(out);
	unlink(path);
}
END_TEST

START_TEST(test_password_command_in_a_readable_file_gets_no_warning)
{
	char path[] = "/tmp/ferry-test-config-XXXXXX";
	static const char text[] = "[imap work]\nhost = h\nuser = u\npassword_command = pass x\n";
	char *out;
	int rc;

	write_temp(path, text, strlen(text), 0644);
	out = load_file_capturing_stderr(path, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(out, "");
	free(out);
	unlink(path);
}
END_TEST

/* ---- the default path ---- */

START_TEST(test_default_path_prefers_the_command_line)
{
	char *path;

	setenv("FERRY_CONFIG", "/env/config", 1);
	setenv("XDG_CONFIG_HOME", "/xdg", 1);
	path = config_default_path("/cli/config", &err);
	ck_assert_str_eq(path, "/cli/config");
	free(path);
}
END_TEST

START_TEST(test_default_path_then_uses_ferry_config)
{
	char *path;

	setenv("FERRY_CONFIG", "/env/config", 1);
	setenv("XDG_CONFIG_HOME", "/xdg", 1);
	path = config_default_path(NULL, &err);
	ck_assert_str_eq(path, "/env/config");
	free(path);
}
END_TEST

START_TEST(test_default_path_then_uses_xdg_config_home)
{
	char *path;

	setenv("XDG_CONFIG_HOME", "/xdg", 1);
	path = config_default_path(NULL, &err);
	ck_assert_str_eq(path, "/xdg/ferry/config");
	free(path);
}
END_TEST

START_TEST(test_default_path_falls_back_to_home)
{
	char *path;

	setenv("FERRY_CONFIG", "", 1);
	setenv("XDG_CONFIG_HOME", "relative", 1);
	path = config_default_path("", &err);
	ck_assert_str_eq(path, "/home/tester/.config/ferry/config");
	free(path);
}
END_TEST

/* ---- passwords ---- */

static char *password_of(const char *command, struct ferry_error *e)
{
	char text[256];

	snprintf(text, sizeof(text), "[imap work]\nhost = h\nuser = u\npassword_command = %s\n",
		 command);
	load_ok(text);
	return config_password(config_find_store(&cfg, "work"), e);
}

static void expect_password_error(const char *command, const char *msg)
{
	ferry_error_clear(&err);
	ck_assert_ptr_null(password_of(command, &err));
	ck_assert_int_eq(err.status, FERRY_CONNECT);
	ck_assert_str_eq(err.msg, msg);
}

START_TEST(test_literal_password_is_returned)
{
	char *secret;

	load_ok(WORK);
	secret = config_password(config_find_store(&cfg, "work"), &err);
	ck_assert_str_eq(secret, "secret");
	free(secret);
}
END_TEST

START_TEST(test_password_command_gives_its_first_line)
{
	char *secret = password_of("printf 'hunter2\\nsecond line\\n'", &err);

	ck_assert_msg(secret != NULL, "%s", err.msg);
	ck_assert_str_eq(secret, "hunter2");
	free(secret);
	secret = password_of("printf 'no newline'", &err);
	ck_assert_str_eq(secret, "no newline");
	free(secret);
}
END_TEST

START_TEST(test_password_command_output_is_read_to_the_end)
{
	/* 200 kB after the first line: the command must not die of SIGPIPE. */
	char *secret = password_of("printf 'tok\\n' && head -c 200000 /dev/zero", &err);

	ck_assert_msg(secret != NULL, "%s", err.msg);
	ck_assert_str_eq(secret, "tok");
	free(secret);
}
END_TEST

START_TEST(test_password_command_failure_names_the_store_and_status)
{
	expect_password_error("echo hunter2 && exit 1",
			      "store 'work': password_command exited with status 1");
	ck_assert_ptr_null(strstr(err.msg, "hunter2"));
	expect_password_error("exit 42", "store 'work': password_command exited with status 42");
}
END_TEST

START_TEST(test_password_command_killed_by_a_signal_fails)
{
	expect_password_error("kill -9 $$",
			      "store 'work': password_command was killed by signal 9");
}
END_TEST

START_TEST(test_password_command_with_empty_output_fails)
{
	expect_password_error("true", "store 'work': password_command printed nothing");
	expect_password_error("printf '\\nlate\\n'",
			      "store 'work': password_command printed nothing");
}
END_TEST

START_TEST(test_password_command_reads_nothing_from_stdin)
{
	/* With the terminal as stdin, cat would wait forever. */
	expect_password_error("cat", "store 'work': password_command printed nothing");
}
END_TEST

START_TEST(test_password_command_output_with_carriage_return_is_rejected)
{
	expect_password_error("printf 'sec\\rret\\n'",
			      "store 'work': password_command printed a carriage return or NUL "
			      "byte, which cannot be sent to the server");
	expect_password_error("printf 'sec\\000ret\\n'",
			      "store 'work': password_command printed a carriage return or NUL "
			      "byte, which cannot be sent to the server");
}
END_TEST

START_TEST(test_password_command_that_cannot_run_fails)
{
	expect_password_error("/nonexistent/pass 2>/dev/null",
			      "store 'work': password_command exited with "
			      "status 127");
}
END_TEST

START_TEST(test_literal_password_with_line_break_is_refused)
{
	struct store_conf store = {.kind = STORE_IMAP, .name = "x"};

	store.imap.password = "a\r\nA1 LOGOUT";
	ck_assert_ptr_null(config_password(&store, &err));
	ck_assert_str_eq(err.msg, "store 'x': the password contains a line break");
}
END_TEST

/* ---- the example in contrib/ ---- */

static char *example_text(void)
{
	const char *src = getenv("FERRY_SRC");
	char path[4096];

#ifdef FERRY_SRC_DIR
	if (!src)
		src = FERRY_SRC_DIR;
#endif
	ck_assert_msg(src != NULL, "set FERRY_SRC to the source tree");
	snprintf(path, sizeof(path), "%s/contrib/config.example", src);
	return read_file(path);
}

START_TEST(test_example_config_is_valid)
{
	char *text = example_text();
	const struct channel_conf *ch;

	load_ok(text);
	free(text);
	ck_assert_uint_eq(cfg.nstores, 2);
	ck_assert_uint_eq(cfg.nchannels, 1);
	ck_assert_str_eq(imap("work")->password_command, "pass show mail/work");
	ck_assert_str_eq(maildir("laptop")->path, "/home/tester/Mail/work");
	ch = config_find_channel(&cfg, "work");
	ck_assert_uint_eq(ch->nfolders, 3);
	ck_assert_str_eq(ch->folders[2].glob, "Deleted Items");
	ck_assert(ch->folders[2].exclude);
	ck_assert_str_eq(ch->state, "/home/tester/.local/state/ferry/work.sqlite");
}
END_TEST

/* "#key = value" and "#[section]" (no blank after the '#') are the lines
 * the example invites the reader to switch on. */
static char *switch_on(const char *text)
{
	char *out = malloc(strlen(text) + 1), *o = out;

	ck_assert_ptr_nonnull(out);
	for (const char *line = text; *line;) {
		size_t len = strcspn(line, "\n");

		if (line[0] == '#' && len > 1 && line[1] != ' ') {
			line++;
			len--;
		}
		memcpy(o, line, len);
		o += len;
		line += len;
		if (*line)
			*o++ = *line++;
	}
	*o = '\0';
	return out;
}

START_TEST(test_example_config_switched_on_examples_are_valid)
{
	char *text = example_text(), *on = switch_on(text);
	const struct channel_conf *ch;

	load_ok(on);
	free(on);
	free(text);
	ck_assert_uint_eq(cfg.nstores, 7);
	ck_assert_uint_eq(cfg.nchannels, 4);
	ck_assert_int_eq(pop3("isp")->keep_seconds, 14 * 86400);
	ck_assert_int_eq(pop3("isp")->port, 995);
	ck_assert_int_eq(config_find_channel(&cfg, "isp")->sync, SYNC_PULL);
	ck_assert_str_eq(config_find_channel(&cfg, "isp")->folder, "Lists/isp");
	ck_assert(imap("old")->has_fingerprint);
	ck_assert_int_eq(imap("new")->auth, AUTH_OAUTHBEARER);
	ck_assert_int_eq(imap("new")->port, 143);
	ck_assert_ptr_nonnull(imap("mailhost")->tunnel);
	ch = config_find_channel(&cfg, "moving");
	ck_assert(!ch->max_delete_is_percent);
	ck_assert_uint_eq(ch->max_size, 50u * 1024 * 1024);
	ch = config_find_channel(&cfg, "backup");
	ck_assert_int_eq(ch->sync, SYNC_PULL);
	ck_assert_int_eq(ch->delete, SIDE_NONE);
	ck_assert_str_eq(ch->state, "/home/tester/Backup/mail.sqlite");
	ck_assert_str_eq(maildir("backup")->path, "/home/tester/Backup/mail");
	ck_assert_str_eq(maildir("laptop")->roles[0], "Sent");
	ch = config_find_channel(&cfg, "work");
	ck_assert_uint_eq(ch->nmap, 2);
	ck_assert_str_eq(ch->map[0].far, "[Gmail]/Sent Mail");
	ck_assert_str_eq(ch->map[1].near, "Old Mail");
	ck_assert(!ch->all_mail);
}
END_TEST

static TCase *tcase(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	suite_add_tcase(s, tc);
	return tc;
}

/* ---- special-use pairing: role names, map, all_mail ---- */

START_TEST(test_maildir_role_names_default_to_none_given)
{
	load_ok(BASE);
	for (size_t r = 0; r < MAILDIR_ROLES; r++)
		ck_assert_ptr_null(cfg.stores[1].maildir.roles[r]);
	ck_assert_uint_eq(cfg.channels[0].nmap, 0);
	ck_assert(!cfg.channels[0].all_mail);
}
END_TEST

START_TEST(test_maildir_role_names_are_read_quoted_or_not)
{
	load_ok(WORK "[maildir laptop]\npath = /home/tester/Mail\nsent = Sent Items\n"
		     "drafts = \"Mes brouillons\"\ntrash = Bin\njunk = Spam\narchive = Old\n");
	ck_assert_str_eq(cfg.stores[1].maildir.roles[0], "Sent Items");
	ck_assert_str_eq(cfg.stores[1].maildir.roles[1], "Mes brouillons");
	ck_assert_str_eq(cfg.stores[1].maildir.roles[2], "Bin");
	ck_assert_str_eq(cfg.stores[1].maildir.roles[3], "Spam");
	ck_assert_str_eq(cfg.stores[1].maildir.roles[4], "Old");
}
END_TEST

START_TEST(test_maildir_role_name_with_a_stray_quote_is_rejected)
{
	expect_error(WORK "[maildir laptop]\npath = /home/tester/Mail\nsent = \"Sent\" Items\n",
		     "t.conf:7: sent: expected one folder name");
}
END_TEST

START_TEST(test_map_reads_pairs_quoted_or_not)
{
	load_ok(BASE "map = \"[Gmail]/Sent Mail\" = Sent, Archive=\"Old Mail\"\n");
	ck_assert_uint_eq(cfg.channels[0].nmap, 2);
	ck_assert_str_eq(cfg.channels[0].map[0].far, "[Gmail]/Sent Mail");
	ck_assert_str_eq(cfg.channels[0].map[0].near, "Sent");
	ck_assert_str_eq(cfg.channels[0].map[1].far, "Archive");
	ck_assert_str_eq(cfg.channels[0].map[1].near, "Old Mail");
	ck_assert_int_eq(cfg.channels[0].map[1].line, 10);
}
END_TEST

START_TEST(test_map_errors_name_what_is_wrong)
{
	expect_error(BASE "map = Sent\n", "t.conf:10: map: expected '=' after \"Sent\"");
	expect_error(BASE "map = Sent = \n", "t.conf:10: map: expected FAR = NEAR pairs");
	expect_error(BASE "map = = Sent\n", "t.conf:10: map: expected FAR = NEAR pairs");
	expect_error(BASE "map = A = B C = D\n", "t.conf:10: map: expected ',' or the end");
	expect_error(BASE "map = \"A = B\n", "t.conf:10: map: a double quote is not closed");
	expect_error(BASE "map = A = B,\n", "t.conf:10: map: expected FAR = NEAR pairs");
}
END_TEST

START_TEST(test_map_with_a_folder_in_two_pairs_is_rejected)
{
	expect_error(BASE "map = A = B, A = C\n",
		     "t.conf:10: map: \"A\" = \"C\": a folder is in two pairs");
	expect_error(BASE "map = A = B, C = B\n",
		     "t.conf:10: map: \"C\" = \"B\": a folder is in two pairs");
}
END_TEST

START_TEST(test_all_mail_is_yes_or_no)
{
	load_ok(BASE "all_mail = yes\n");
	ck_assert(cfg.channels[0].all_mail);
	expect_error(BASE "all_mail = maybe\n",
		     "t.conf:10: all_mail: 'maybe' is not one of: yes, no");
}
END_TEST

/* ---- [pop3 NAME] ---- */

/* A complete POP3 store on lines 1-4: a key added after it is on line 5. */
#define ISP "[pop3 isp]\nhost = pop.example.com\nuser = me\npassword = secret\n"

static void load_isp(const char *line)
{
	char text[512];

	snprintf(text, sizeof(text), "%s%s\n", ISP, line);
	load_ok(text);
}

static void expect_isp_error(const char *line, const char *prefix)
{
	char text[512];

	snprintf(text, sizeof(text), "%s%s\n", ISP, line);
	expect_error(text, prefix);
}

START_TEST(test_pop3_store_gets_defaults)
{
	const struct pop3_conf *c;
	const struct store_conf *s;

	load_isp("");
	c = pop3("isp");
	s = config_find_store(&cfg, "isp");
	ck_assert_str_eq(c->host, "pop.example.com");
	ck_assert_str_eq(c->user, "me");
	ck_assert_str_eq(c->password, "secret");
	ck_assert_int_eq(c->port, 995);
	ck_assert_int_eq(c->tls, TLS_IMPLICIT);
	ck_assert_int_eq(c->auth, POP3_AUTH_AUTO);
	ck_assert_int_eq(c->timeout, 60);
	ck_assert_int_eq(c->keep_seconds, -1);
	ck_assert_str_eq(c->map, "/home/tester/.local/state/ferry/pop3-isp.sqlite");
	ck_assert(store_conf_download_only(s));
	ck_assert_int_eq(store_conf_keep_seconds(s), -1);
	ck_assert(store_needs_secret(s));
	ck_assert_str_eq(store_conf_place(s), "pop.example.com");
	ck_assert_uint_eq(store_conf_connections(s), 1);
	ck_assert(!store_conf_local(s));
}
END_TEST

START_TEST(test_pop3_map_follows_xdg_state_home)
{
	setenv("XDG_STATE_HOME", "/var/tmp/st", 1);
	load_isp("");
	ck_assert_str_eq(pop3("isp")->map, "/var/tmp/st/ferry/pop3-isp.sqlite");
}
END_TEST

START_TEST(test_every_pop3_key_is_read)
{
	const struct pop3_conf *c;

	load_ok("[pop3 isp]\nhost = h\nport = 1110\ntls = starttls\nuser = u\n"
		"password_command = pass show x\nauth = apop\nca_file = /etc/ca.pem\n"
		"fingerprint = sha256:" /* 32 bytes */
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
		"timeout = 7\nkeep = 14d\n");
	c = pop3("isp");
	ck_assert_str_eq(c->host, "h");
	ck_assert_int_eq(c->port, 1110);
	ck_assert_int_eq(c->tls, TLS_STARTTLS);
	ck_assert_str_eq(c->user, "u");
	ck_assert_str_eq(c->password_command, "pass show x");
	ck_assert_int_eq(c->auth, POP3_AUTH_APOP);
	ck_assert_str_eq(c->ca_file, "/etc/ca.pem");
	ck_assert(c->has_fingerprint);
	ck_assert_int_eq(c->fingerprint[31], 0x1f);
	ck_assert_int_eq(c->timeout, 7);
	ck_assert_int_eq(c->keep_seconds, 14 * 86400);
	ck_assert_int_eq(store_conf_keep_seconds(config_find_store(&cfg, "isp")), 14 * 86400);
}
END_TEST

START_TEST(test_pop3_ports_follow_tls)
{
	load_isp("tls = starttls");
	ck_assert_int_eq(pop3("isp")->port, 110);
	load_isp("tls = no");
	ck_assert_int_eq(pop3("isp")->tls, TLS_NONE);
	ck_assert_int_eq(pop3("isp")->port, 110);
	expect_isp_error("port = 110", "t.conf:5: port: port 110 is for starttls or no");
	expect_isp_error("tls = starttls\nport = 995", "t.conf:6: port: port 995 is for implicit");
	expect_isp_error("port = 0", "t.conf:5: port: expected a number from 1 to 65535");
	expect_isp_error("port = pop", "t.conf:5: port: expected a number");
}
END_TEST

START_TEST(test_pop3_bad_tls_and_auth_are_rejected)
{
	expect_isp_error("tls = maybe", "t.conf:5: tls: 'maybe' is not one of:");
	expect_isp_error("auth = login", "t.conf:5: auth: 'login' is not one of:");
	load_isp("auth = user");
	ck_assert_int_eq(pop3("isp")->auth, POP3_AUTH_USER);
	load_isp("auth = plain");
	ck_assert_int_eq(pop3("isp")->auth, POP3_AUTH_PLAIN);
	load_isp("auth = auto");
	ck_assert_int_eq(pop3("isp")->auth, POP3_AUTH_AUTO);
}
END_TEST

START_TEST(test_pop3_keep_is_yes_no_days_or_weeks)
{
	load_isp("keep = yes");
	ck_assert_int_eq(pop3("isp")->keep_seconds, -1);
	load_isp("keep = no");
	ck_assert_int_eq(pop3("isp")->keep_seconds, 0);
	load_isp("keep = 3");
	ck_assert_int_eq(pop3("isp")->keep_seconds, 3 * 86400);
	load_isp("keep = 2w");
	ck_assert_int_eq(pop3("isp")->keep_seconds, 14 * 86400);
	expect_isp_error("keep = sometimes", "t.conf:5: keep: expected yes, no, or a time");
	expect_isp_error("keep = 3h", "t.conf:5: keep: expected yes, no, or a time");
	expect_isp_error("keep = 99999w", "t.conf:5: keep: expected yes, no, or a time");
	expect_isp_error("keep = d", "t.conf:5: keep: expected yes, no, or a time");
}
END_TEST

START_TEST(test_pop3_bad_values_name_their_key)
{
	expect_isp_error("timeout = 0", "t.conf:5: timeout: expected a number from 1 to 3600");
	expect_isp_error("fingerprint = abc", "t.conf:5: fingerprint: expected a SHA-256");
	expect_isp_error("ca_file = ~nosuchuser/ca.pem", "t.conf:5: ca_file:");
	expect_isp_error("host = a\x1b"
			 "b",
			 "t.conf:5: host:");
	expect_isp_error("user = a\x1b"
			 "b",
			 "t.conf:5: user:");
	expect_isp_error("password_command = a\x1b"
			 "b",
			 "t.conf:5: password_command:");
	expect_isp_error("tunnel = a\x1b"
			 "b",
			 "t.conf:5: tunnel:");
	expect_isp_error("password = a\x1b"
			 "b",
			 "t.conf:5: password:");
	expect_isp_error("folders = *", "t.conf:5: folders: unknown key");
}
END_TEST

START_TEST(test_pop3_required_and_exclusive_keys)
{
	expect_error("[pop3 isp]\nuser = u\npassword = p\n",
		     "t.conf:1: [pop3 isp]: missing key 'host'");
	expect_error("[pop3 isp]\nhost = h\npassword = p\n",
		     "t.conf:1: [pop3 isp]: missing key 'user'");
	expect_error("[pop3 isp]\nhost = h\nuser = u\n",
		     "t.conf:1: [pop3 isp]: missing key 'password'");
	expect_isp_error("password_command = x",
			 "t.conf:5: password_command: give either password or password_command");
	expect_isp_error("tunnel = x", "t.conf:5: tunnel: give either host or tunnel");
	expect_error("[pop3 isp]\ntunnel = x\nuser = u\npassword = p\nport = 1\n",
		     "t.conf:5: port: makes no sense with tunnel");
	load_ok("[pop3 isp]\ntunnel = x\nuser = u\npassword = p\n");
	ck_assert_str_eq(store_conf_place(config_find_store(&cfg, "isp")), "tunnel");
	ck_assert_int_eq(pop3("isp")->tls, TLS_NONE);
}
END_TEST

START_TEST(test_pop3_password_as_for_imap)
{
	struct ferry_error e;
	char *secret;

	load_isp("");
	secret = config_password(config_find_store(&cfg, "isp"), &e);
	ck_assert_ptr_nonnull(secret);
	ck_assert_str_eq(secret, "secret");
	free(secret);
	load_ok("[pop3 isp]\nhost = h\nuser = u\npassword_command = echo from-command\n");
	secret = config_password(config_find_store(&cfg, "isp"), &e);
	ck_assert_msg(secret != NULL, "%s", e.msg);
	ck_assert_str_eq(secret, "from-command");
	free(secret);
}
END_TEST

START_TEST(test_pop3_shares_the_store_namespace)
{
	expect_error(WORK "[pop3 work]\nhost = h\nuser = u\npassword = p\n",
		     "t.conf:5: [pop3 work]: a store named 'work' is already defined at line 1");
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase(s, "imap");
	tcase_add_test(tc, test_imap_store_gets_defaults);
	tcase_add_test(tc, test_every_imap_key_is_read);
	tcase_add_test(tc, test_starttls_defaults_to_port_143);
	tcase_add_test(tc, test_tls_none_defaults_to_port_143);
	tcase_add_test(tc, test_port_143_with_implicit_tls_is_rejected);
	tcase_add_test(tc, test_port_993_with_starttls_is_rejected);
	tcase_add_test(tc, test_port_993_with_tls_none_is_rejected);
	tcase_add_test(tc, test_other_ports_go_with_any_tls);
	tcase_add_test(tc, test_port_out_of_range_is_rejected);
	tcase_add_test(tc, test_unknown_tls_mode_is_rejected);
	tcase_add_test(tc, test_auth_mechanisms_are_read);
	tcase_add_test(tc, test_unknown_auth_is_rejected);
	tcase_add_test(tc, test_xoauth2_without_password_command_is_rejected);
	tcase_add_test(tc, test_xoauth2_with_password_command_is_accepted);
	tcase_add_test(tc, test_oauthbearer_needs_password_command);
	tcase_add_test(tc, test_connections_must_be_from_1_to_32);
	tcase_add_test(tc, test_timeout_must_be_from_1_to_3600_seconds);
	tcase_add_test(tc, test_compress_is_auto_yes_or_no);
	tcase_add_test(tc, test_unknown_compress_mode_is_rejected);
	tcase_add_test(tc, test_prefix_is_kept_as_written);
	tcase_add_test(tc, test_prefix_that_cannot_go_into_a_command_is_rejected);
	tcase_add_test(tc, test_tunnel_may_ask_for_compression);
	tcase_add_test(tc, test_fingerprint_as_openssl_prints_it_is_read);
	tcase_add_test(tc, test_fingerprint_as_plain_hex_in_any_case_is_read);
	tcase_add_test(tc, test_malformed_fingerprint_is_rejected);
	tcase_add_test(tc, test_host_and_tunnel_together_are_rejected);
	tcase_add_test(tc, test_neither_host_nor_tunnel_is_rejected_at_the_section_line);
	tcase_add_test(tc, test_tunnel_needs_no_user_or_password);
	tcase_add_test(tc, test_tunnel_with_network_keys_is_rejected);
	tcase_add_test(tc, test_user_is_required_without_tunnel);
	tcase_add_test(tc, test_password_and_password_command_together_are_rejected);
	tcase_add_test(tc, test_password_or_password_command_is_required);
	tcase_add_test(tc, test_password_with_carriage_return_is_rejected);
	tcase_add_test(tc, test_control_characters_in_values_are_rejected);
	tcase_add_test(tc, test_tab_inside_a_value_is_kept);

	tc = tcase(s, "syntax");
	tcase_add_test(tc, test_unknown_section_kind_is_rejected);
	tcase_add_test(tc, test_section_without_name_is_rejected);
	tcase_add_test(tc, test_section_name_with_colon_slash_or_blank_is_rejected);
	tcase_add_test(tc, test_section_name_starting_with_dash_or_dots_only_is_rejected);
	tcase_add_test(tc, test_names_may_use_letters_digits_dot_underscore_and_dash);
	tcase_add_test(tc, test_imap_and_maildir_stores_share_one_namespace);
	tcase_add_test(tc, test_channel_names_are_unique);
	tcase_add_test(tc, test_channel_may_share_its_name_with_a_store);
	tcase_add_test(tc, test_section_without_keys_is_still_checked);
	tcase_add_test(tc, test_section_header_without_closing_bracket_is_rejected);
	tcase_add_test(tc, test_text_after_section_header_is_rejected);
	tcase_add_test(tc, test_comment_after_section_header_is_allowed);
	tcase_add_test(tc, test_key_outside_a_section_is_rejected);
	tcase_add_test(tc, test_unknown_key_is_rejected);
	tcase_add_test(tc, test_key_of_another_section_kind_is_unknown);
	tcase_add_test(tc, test_key_given_twice_in_a_section_is_rejected);
	tcase_add_test(tc, test_key_without_value_is_rejected);
	tcase_add_test(tc, test_line_that_is_not_a_key_is_rejected);
	tcase_add_test(tc, test_key_without_name_is_rejected);
	tcase_add_test(tc, test_line_longer_than_the_limit_is_rejected_not_cut);
	tcase_add_test(tc, test_line_at_the_limit_is_accepted);
	tcase_add_test(tc, test_line_numbers_count_comments_blanks_and_crlf_lines);
	tcase_add_test(tc, test_indented_line_is_a_key_not_a_continuation);
	tcase_add_test(tc, test_inline_comments_are_stripped);
	tcase_add_test(tc, test_colon_separates_keys_too);
	tcase_add_test(tc, test_utf8_byte_order_mark_is_ignored);
	tcase_add_test(tc, test_first_error_in_the_file_wins);
	tcase_add_test(tc, test_empty_file_is_an_empty_config);

	tc = tcase(s, "maildir");
	tcase_add_test(tc, test_maildir_path_is_required);
	tcase_add_test(tc, test_maildir_layout_defaults_to_verbatim);
	tcase_add_test(tc, test_maildir_layouts_of_the_tools);
	tcase_add_test(tc, test_unknown_layout_is_rejected);
	tcase_add_test(tc, test_tilde_in_path_expands_to_home);
	tcase_add_test(tc, test_tilde_without_home_uses_the_password_database);
	tcase_add_test(tc, test_variables_in_path_expand);
	tcase_add_test(tc, test_unset_variable_in_path_is_rejected_by_name);
	tcase_add_test(tc, test_relative_path_is_rejected);
	tcase_add_test(tc, test_expand_path_handles_tilde_dollar_and_braces);
	tcase_add_test(tc, test_expand_path_rejects_unclosed_brace);

	tc = tcase(s, "channel");
	tcase_add_test(tc, test_channel_gets_defaults);
	tcase_add_test(tc, test_state_defaults_to_xdg_state_home);
	tcase_add_test(tc, test_relative_xdg_state_home_is_ignored);
	tcase_add_test(tc, test_state_path_is_expanded);
	tcase_add_test(tc, test_two_channels_with_one_state_are_rejected);
	tcase_add_test(tc, test_far_and_near_are_required);
	tcase_add_test(tc, test_far_must_name_a_store);
	tcase_add_test(tc, test_near_must_name_a_store);
	tcase_add_test(tc, test_stores_may_follow_their_channel);
	tcase_add_test(tc, test_far_and_near_must_differ);
	tcase_add_test(tc, test_folders_with_quotes_and_excludes);
	tcase_add_test(tc, test_folder_quote_must_be_closed);
	tcase_add_test(tc, test_empty_folder_list_is_rejected);
	tcase_add_test(tc, test_folder_exclusions_alone_are_rejected);
	tcase_add_test(tc, test_bang_without_pattern_is_rejected);
	tcase_add_test(tc, test_sync_direction_is_read);
	tcase_add_test(tc, test_create_delete_and_remove_name_sides);
	tcase_add_test(tc, test_max_delete_as_a_percentage);
	tcase_add_test(tc, test_max_delete_as_a_count);
	tcase_add_test(tc, test_bad_max_delete_is_rejected);
	tcase_add_test(tc, test_max_size_takes_1024_based_suffixes);
	tcase_add_test(tc, test_post_sync_is_kept_as_written);
	tcase_add_test(tc, test_watch_and_interval);
	tcase_add_test(tc, test_max_age);
	tcase_add_test(tc, test_a_download_only_store_is_far_of_a_pull_channel_only);
	tcase_add_test(tc, test_folder_is_where_a_download_only_store_delivers);
	tcase_add_test(tc, test_a_download_only_store_never_deletes_near);
	tcase_add_test(tc, test_push_is_refused_for_a_download_only_store);
	tcase_add_test(tc, test_placeholders);
	tcase_add_test(tc, test_subscribed);
	tcase_add_test(tc, test_bad_max_size_is_rejected);
	tcase_add_test(tc, test_find_store_and_channel_by_name);

	tc = tcase(s, "files");
	tcase_add_test(tc, test_missing_file_cannot_be_read);
	tcase_add_test(tc, test_directory_cannot_be_read);
	tcase_add_test(tc, test_file_is_loaded_and_named_in_messages);
	tcase_add_test(tc, test_nul_byte_in_file_is_rejected);
	tcase_add_test(tc, test_password_in_a_readable_file_gets_a_warning);
	tcase_add_test(tc, test_password_in_a_private_file_gets_no_warning);
	tcase_add_test(tc, test_password_command_in_a_readable_file_gets_no_warning);
	tcase_add_test(tc, test_default_path_prefers_the_command_line);
	tcase_add_test(tc, test_default_path_then_uses_ferry_config);
	tcase_add_test(tc, test_default_path_then_uses_xdg_config_home);
	tcase_add_test(tc, test_default_path_falls_back_to_home);
	tcase_add_test(tc, test_example_config_is_valid);
	tcase_add_test(tc, test_example_config_switched_on_examples_are_valid);
	tcase_add_test(tc, test_maildir_role_names_default_to_none_given);
	tcase_add_test(tc, test_maildir_role_names_are_read_quoted_or_not);
	tcase_add_test(tc, test_maildir_role_name_with_a_stray_quote_is_rejected);
	tcase_add_test(tc, test_map_reads_pairs_quoted_or_not);
	tcase_add_test(tc, test_map_errors_name_what_is_wrong);
	tcase_add_test(tc, test_map_with_a_folder_in_two_pairs_is_rejected);
	tcase_add_test(tc, test_all_mail_is_yes_or_no);

	tc = tcase(s, "password");
	tcase_add_test(tc, test_literal_password_is_returned);
	tcase_add_test(tc, test_password_command_gives_its_first_line);
	tcase_add_test(tc, test_password_command_output_is_read_to_the_end);
	tcase_add_test(tc, test_password_command_failure_names_the_store_and_status);
	tcase_add_test(tc, test_password_command_killed_by_a_signal_fails);
	tcase_add_test(tc, test_password_command_with_empty_output_fails);
	tcase_add_test(tc, test_password_command_reads_nothing_from_stdin);
	tcase_add_test(tc, test_password_command_output_with_carriage_return_is_rejected);
	tcase_add_test(tc, test_password_command_that_cannot_run_fails);
	tcase_add_test(tc, test_literal_password_with_line_break_is_refused);

	tc = tcase(s, "pop3");
	tcase_add_test(tc, test_pop3_store_gets_defaults);
	tcase_add_test(tc, test_pop3_map_follows_xdg_state_home);
	tcase_add_test(tc, test_every_pop3_key_is_read);
	tcase_add_test(tc, test_pop3_ports_follow_tls);
	tcase_add_test(tc, test_pop3_bad_tls_and_auth_are_rejected);
	tcase_add_test(tc, test_pop3_keep_is_yes_no_days_or_weeks);
	tcase_add_test(tc, test_pop3_bad_values_name_their_key);
	tcase_add_test(tc, test_pop3_required_and_exclusive_keys);
	tcase_add_test(tc, test_pop3_password_as_for_imap);
	tcase_add_test(tc, test_pop3_shares_the_store_namespace);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
