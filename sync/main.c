/* ferry's command line: global options, then one command. Commands are thin
 * front ends; the work is in the modules they call. */
#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "store/log.h"
#include "sync/channel.h"
#include "sync/check.h"
#include "sync/child.h"
#include "sync/config.h"
#include "sync/fetch.h"
#include "sync/import.h"
#include "sync/list.h"
#include "sync/status.h"
#include "sync/verify.h"
#include "sync/watch.h"
#include "version.h"

struct globals {
	const char *config_path; /* -c */
};

struct command {
	const char *name;
	int (*run)(const struct globals *g, const struct command *cmd, int argc, char **argv);
	const char *usage;
	const char *summary;
	const char *help;
};

static int load_config(const struct globals *g, struct config *cfg)
{
	struct ferry_error err = {0};
	char *path = config_default_path(g->config_path, &err);

	if (!path) {
		log_error("%s", err.msg);
		return -1;
	}
	if (config_load(path, cfg, &err) != 0) {
		log_error("%s", err.msg);
		free(path);
		return -1;
	}
	free(path);
	return 0;
}

/* Checks CHANNEL or CHANNEL:FOLDER arguments against the config. */
static int check_channel_args(const struct config *cfg, int argc, char **argv, bool folders)
{
	for (int i = 0; i < argc; i++) {
		size_t len = strcspn(argv[i], ":");
		char name[256];

		if (argv[i][len] == ':' && !folders) {
			log_error("'%s': this command takes channel names, not CHANNEL:FOLDER",
				  argv[i]);
			return -1;
		}
		snprintf(name, sizeof(name), "%.*s", (int)len, argv[i]);
		if (!config_find_channel(cfg, name)) {
			log_error("%s: no channel '%s'", cfg->path, name);
			return -1;
		}
	}
	return 0;
}

/* Parses a command's own options; returns optind or -1 after a usage error. */
static int parse_options(const struct command *cmd, int argc, char **argv,
			 const struct option *longopts, void (*set)(int opt, void *ctx), void *ctx)
{
	int opt;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		if (opt == 'h') {
			printf("usage: ferry %s\n\n%s", cmd->usage, cmd->help);
			exit(0);
		}
		if (opt == '?') {
			log_error("%s: unknown option '%s' (usage: ferry %s)", cmd->name,
				  argv[optind - 1], cmd->usage);
			return -1;
		}
		set(opt, ctx);
	}
	return optind;
}

struct cli_sync_opts {
	bool dry_run, pull, push, force_delete;
};

/* Runs each named channel (CHANNEL or CHANNEL:FOLDER), or all of them. */
static enum ferry_status run_sync(const struct config *cfg, const struct cli_sync_opts *o, int argc,
				  char **argv)
{
	struct sync_opts opts = {.dry_run = o->dry_run,
				 .force_delete = o->force_delete,
				 .has_dir_override = o->pull || o->push,
				 .dir_override = o->pull ? SYNC_PULL : SYNC_PUSH};
	enum ferry_status worst = FERRY_OK;

	if (argc == 0) {
		for (size_t i = 0; i < cfg->nchannels && !child_stop_signal(); i++)
			worst =
			    ferry_status_worst(worst, channel_sync(&cfg->channels[i], NULL, &opts));
		if (child_stop_signal())
			return child_stop_status(child_stop_signal());
		if (cfg->nchannels == 0) {
			log_error("%s: no channels configured", cfg->path);
			return FERRY_USAGE;
		}
		return worst;
	}
	/* A stop signal stops the whole run, not only the channel it met. */
	for (int i = 0; i < argc && !child_stop_signal(); i++) {
		size_t len = strcspn(argv[i], ":");
		char name[256];

		snprintf(name, sizeof(name), "%.*s", (int)len, argv[i]);
		worst = ferry_status_worst(
		    worst, channel_sync(config_find_channel(cfg, name),
					argv[i][len] ? argv[i] + len + 1 : NULL, &opts));
	}
	return child_stop_signal() ? child_stop_status(child_stop_signal()) : worst;
}

enum { OPT_DRY_RUN = 256, OPT_PULL, OPT_PUSH, OPT_FORCE_DELETE };

static void set_sync_opt(int opt, void *ctx)
{
	struct cli_sync_opts *o = ctx;

	switch (opt) {
	case OPT_DRY_RUN:
		o->dry_run = true;
		break;
	case OPT_PULL:
		o->pull = true;
		break;
	case OPT_PUSH:
		o->push = true;
		break;
	case OPT_FORCE_DELETE:
		o->force_delete = true;
		break;
	}
}

static void no_opt(int opt, void *ctx)
{
	(void)opt;
	(void)ctx;
}

static const struct option no_longopts[] = {{"help", no_argument, NULL, 'h'}, {0}};

static int cmd_sync(const struct globals *g, const struct command *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
	    {"pull", no_argument, NULL, OPT_PULL},
	    {"push", no_argument, NULL, OPT_PUSH},
	    {"force-delete", no_argument, NULL, OPT_FORCE_DELETE},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct cli_sync_opts o = {0};
	struct config cfg = {0};
	enum ferry_status status;
	int first = parse_options(cmd, argc, argv, longopts, set_sync_opt, &o);

	if (first < 0)
		return FERRY_USAGE;
	if (o.pull && o.push) {
		log_error(
		    "sync: --pull and --push exclude each other (leave both out for both ways)");
		return FERRY_USAGE;
	}
	if (load_config(g, &cfg) != 0)
		return FERRY_USAGE;
	if (check_channel_args(&cfg, argc - first, argv + first, true) != 0) {
		config_free(&cfg);
		return FERRY_USAGE;
	}
	status = run_sync(&cfg, &o, argc - first, argv + first);
	config_free(&cfg);
	return status;
}

enum { OPT_JSON = 256 };

static void set_json_opt(int opt, void *ctx)
{
	if (opt == OPT_JSON)
		*(bool *)ctx = true;
}

/* list and status: --json, at most one channel name, the config, then
 * run(cfg, the channel or NULL, json). */
static int cmd_channels(const struct globals *g, const struct command *cmd, int argc, char **argv,
			enum ferry_status (*run)(const struct config *, const char *, bool))
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, OPT_JSON},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct config cfg = {0};
	bool json = false;
	int first = parse_options(cmd, argc, argv, longopts, set_json_opt, &json);
	enum ferry_status status;

	if (first < 0)
		return FERRY_USAGE;
	if (argc - first > 1) {
		log_error("%s: too many arguments (usage: ferry %s)", cmd->name, cmd->usage);
		return FERRY_USAGE;
	}
	if (load_config(g, &cfg) != 0)
		return FERRY_USAGE;
	if (check_channel_args(&cfg, argc - first, argv + first, false) != 0) {
		config_free(&cfg);
		return FERRY_USAGE;
	}
	status = run(&cfg, argc > first ? argv[first] : NULL, json);
	config_free(&cfg);
	return status;
}

static int cmd_list(const struct globals *g, const struct command *cmd, int argc, char **argv)
{
	return cmd_channels(g, cmd, argc, argv, list_run);
}

static int cmd_status(const struct globals *g, const struct command *cmd, int argc, char **argv)
{
	return cmd_channels(g, cmd, argc, argv, status_run);
}

/* The start of a command that takes at most one argument: its options from
 * argv, then the configuration. Returns the index of the first argument left
 * in argv (argc if none), or -1 on a usage or configuration error (already
 * reported). */
static int one_arg_command(const struct globals *g, const struct command *cmd, int argc,
			   char **argv, const struct option *longopts,
			   void (*set)(int opt, void *ctx), void *ctx, struct config *cfg)
{
	int first = parse_options(cmd, argc, argv, longopts, set, ctx);

	if (first < 0)
		return -1;
	if (argc - first > 1) {
		log_error("%s: too many arguments (usage: ferry %s)", cmd->name, cmd->usage);
		return -1;
	}
	if (load_config(g, cfg) != 0)
		return -1;
	return first;
}

static int cmd_check(const struct globals *g, const struct command *cmd, int argc, char **argv)
{
	struct config cfg = {0};
	int first = one_arg_command(g, cmd, argc, argv, no_longopts, no_opt, NULL, &cfg);
	enum ferry_status status;

	if (first < 0)
		return FERRY_USAGE;
	status = check_run(&cfg, argc > first ? argv[first] : NULL);
	config_free(&cfg);
	return status;
}

static int cmd_watch(const struct globals *g, const struct command *cmd, int argc, char **argv)
{
	struct ferry_error err = {0};
	struct config cfg = {0};
	int first = parse_options(cmd, argc, argv, no_longopts, no_opt, NULL);
	char *path;
	int status;

	if (first < 0)
		return FERRY_USAGE;
	/* SIGHUP reads the same file again. */
	path = config_default_path(g->config_path, &err);
	if (!path) {
		log_error("%s", err.msg);
		return FERRY_USAGE;
	}
	if (config_load(path, &cfg, &err) != 0) {
		log_error("%s", err.msg);
		free(path);
		return FERRY_USAGE;
	}
	if (check_channel_args(&cfg, argc - first, argv + first, false) != 0) {
		config_free(&cfg);
		free(path);
		return FERRY_USAGE;
	}
	status = watch_run(path, &cfg, argv + first, (size_t)(argc - first));
	free(path);
	return status;
}

enum { OPT_BODIES = 256 };

static void set_verify_opt(int opt, void *ctx)
{
	if (opt == OPT_BODIES)
		*(bool *)ctx = true;
}

static int cmd_verify(const struct globals *g, const struct command *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"bodies", no_argument, NULL, OPT_BODIES},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct config cfg = {0};
	bool bodies = false;
	enum ferry_status status;
	int first = one_arg_command(g, cmd, argc, argv, longopts, set_verify_opt, &bodies, &cfg);

	if (first < 0)
		return FERRY_USAGE;
	if (check_channel_args(&cfg, argc - first, argv + first, true) != 0) {
		config_free(&cfg);
		return FERRY_USAGE;
	}
	status = verify_run(&cfg, argc > first ? argv[first] : NULL, bodies);
	config_free(&cfg);
	return status;
}

enum { OPT_ALL = 256 };

static void set_fetch_opt(int opt, void *ctx)
{
	if (opt == OPT_ALL)
		*(bool *)ctx = true;
}

/* A uid as the placeholder's note spells it: a decimal 1..2^32-1. */
static bool parse_uid(const char *s, uint32_t *out)
{
	unsigned long long v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > UINT32_MAX)
			return false;
		v = v * 10 + (unsigned)(*s - '0');
	}
	if (v == 0 || v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

static int cmd_fetch(const struct globals *g, const struct command *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"all", no_argument, NULL, OPT_ALL},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct config cfg = {0};
	bool all = false;
	int first = parse_options(cmd, argc, argv, longopts, set_fetch_opt, &all);
	const char *target, *colon;
	uint32_t *uids;
	size_t n = 0;
	char name[256];
	enum ferry_status status;

	if (first < 0)
		return FERRY_USAGE;
	target = first < argc ? argv[first] : "";
	colon = strchr(target, ':');
	if (!colon || colon == target || !colon[1]) {
		log_error("%s: name the folder as CHANNEL:FOLDER (usage: ferry %s)", cmd->name,
			  cmd->usage);
		return FERRY_USAGE;
	}
	if (all == (argc - first > 1)) {
		log_error("%s: give the uids to fetch or --all, %s (usage: ferry %s)", cmd->name,
			  all ? "not both" : "one of them", cmd->usage);
		return FERRY_USAGE;
	}
	uids = malloc((size_t)argc * sizeof(*uids));
	if (!uids) {
		log_error("out of memory");
		return FERRY_USAGE;
	}
	for (int i = first + 1; i < argc; i++) {
		if (!parse_uid(argv[i], &uids[n++])) {
			log_error("%s: '%s' is not a uid (the number the placeholder's note gives)",
				  cmd->name, argv[i]);
			free(uids);
			return FERRY_USAGE;
		}
	}
	snprintf(name, sizeof(name), "%.*s", (int)(colon - target), target);
	if (load_config(g, &cfg) != 0 || check_channel_args(&cfg, 1, (char **)&target, true) != 0) {
		config_free(&cfg);
		free(uids);
		return FERRY_USAGE;
	}
	status = fetch_run(config_find_channel(&cfg, name), colon + 1, uids, n, all);
	config_free(&cfg);
	free(uids);
	return status;
}

/* No configuration is read: the point is to write one. */
static int cmd_import(const struct globals *g, const struct command *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"output", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *out = NULL;
	int opt;

	(void)g;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+ho:", longopts, NULL)) != -1) {
		if (opt == 'h') {
			printf("usage: ferry %s\n\n%s", cmd->usage, cmd->help);
			return 0;
		}
		if (opt == 'o') {
			out = optarg;
			continue;
		}
		log_error("%s: %s '%s' (usage: ferry %s)", cmd->name,
			  optopt == 'o' ? "option needs a file:" : "unknown option",
			  argv[optind - 1], cmd->usage);
		return FERRY_USAGE;
	}
	if (optind >= argc ||
	    (strcmp(argv[optind], "mbsync") != 0 && strcmp(argv[optind], "offlineimap") != 0)) {
		log_error("%s: name the tool: mbsync or offlineimap (usage: ferry %s)", cmd->name,
			  cmd->usage);
		return FERRY_USAGE;
	}
	if (argc - optind > 2) {
		log_error("%s: too many arguments (usage: ferry %s)", cmd->name, cmd->usage);
		return FERRY_USAGE;
	}
	return import_run(argv[optind], argc - optind == 2 ? argv[optind + 1] : NULL, out);
}

static int cmd_help(const struct globals *g, const struct command *cmd, int argc, char **argv);

static const struct command commands[] = {
    {"sync", cmd_sync, "sync [--dry-run] [--pull|--push] [--force-delete] [CHANNEL[:FOLDER]...]",
     "sync channels both ways",
     "Synchronises each channel (all of them if none is named) in both directions:\n"
     "new messages, flags, deletions and folders. CHANNEL:FOLDER limits a run to one\n"
     "folder.\n\n"
     "  --dry-run       print the plan the real run would execute; change nothing\n"
     "  --pull          copy far -> near only, this run\n"
     "  --push          copy near -> far only, this run\n"
     "  --force-delete  carry out deletions beyond max_delete, this run\n"},
    {"list", cmd_list, "list [--json] [CHANNEL]", "folders on both sides and how they pair",
     "Lists the folders of both stores of each channel and how they pair up.\n\n"
     "  --json  one JSON object per channel and line (schema in ferry(1))\n"},
    {"status", cmd_status, "status [--json] [CHANNEL]", "last sync, pending local changes, counts",
     "Shows when each channel last synced, what changed locally since, folders a\n"
     "killed run did not finish, what max_delete held back, folders waiting to be\n"
     "created or removed, and conflicts. Offline: reads the state and any Maildir.\n\n"
     "  --json  one JSON object per channel and line (schema in ferry(1))\n"},
    {"check", cmd_check, "check [STORE]", "check config, connection, TLS, login",
     "Validates the config, then for each store (or the one named) connects, verifies\n"
     "the TLS certificate (system store, ca_file, or fingerprint pin; host name\n"
     "checked), logs in and prints the server's capabilities. Maildir stores: checks\n"
     "the root directory. Exit status 3 when a store cannot be reached or refuses login.\n"},
    {"watch", cmd_watch, "watch [CHANNEL...]", "stay connected, sync on change (IDLE)",
     "Syncs each channel (all of them if none is named), then stays connected and\n"
     "syncs a channel again whenever either side changes: IDLE on the server\n"
     "folders of its `watch` key (INBOX), inotify on the whole Maildir (1 s after\n"
     "the last change), and every `interval` (15m). SIGHUP reads the configuration\n"
     "again; SIGTERM and SIGINT end it once the running batch is saved (exit 143,\n"
     "130).\n"},
    {"verify", cmd_verify, "verify [--bodies] [CHANNEL[:FOLDER]]",
     "compare both sides against the state; change nothing",
     "Reads both sides of every folder pair of the channel (all channels if none is\n"
     "named) and its state, and reports every message missing, extra or different\n"
     "on either side: a count per folder, the first differences by uid and Subject,\n"
     "and a summary. Messages not copied by policy (max_size, delete, sync) are\n"
     "counted as such. Nothing is changed; the channel's lock is held meanwhile.\n"
     "Exit status 0 only when both sides are in step, 1 otherwise.\n\n"
     "  --bodies  also read every message on both sides and compare SHA-256\n"
     "            (without it, a message is its header hash and size)\n"},
    {"fetch", cmd_fetch, "fetch CHANNEL:FOLDER [UID...|--all]",
     "replace placeholders by their messages",
     "With `placeholders` on the channel, a far message larger than max_size arrives\n"
     "as a placeholder: its header and a note. fetch downloads the messages of the\n"
     "placeholders named by their far uid (the number the note gives, the server's\n"
     "uid), or of every placeholder of the folder, and puts each in place of its\n"
     "placeholder: the same file name, uid and flags.\n\n"
     "  --all  every placeholder of the folder\n"},
    {"import", cmd_import, "import [-o OUT] mbsync|offlineimap [FILE]",
     "convert an mbsync or offlineimap configuration",
     "Prints the ferry configuration equivalent to FILE (default ~/.mbsyncrc or\n"
     "~/.offlineimaprc), or writes it to OUT (created 0600, never overwritten).\n"
     "Every setting that could not be mapped is listed on stderr, with the line and\n"
     "the reason, and as a comment at the top of the result. Exit status 1: ferry\n"
     "would refuse the result as it stands (a password to add, say).\n\n"
     "  -o, --output OUT  write to OUT instead of standard output\n"},
    {"help", cmd_help, "help [COMMAND]", "this help, or a command's", "Prints help.\n"},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void print_usage(FILE *f)
{
	fprintf(f, "usage: ferry [-c FILE] [-q|-v] COMMAND [ARGS]\n"
		   "       ferry --version | ferry help [COMMAND]\n\n"
		   "ferry keeps two mail stores (IMAP, Maildir) in step in both directions.\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nOptions:\n"
		   "  -c, --config FILE  config file (default $FERRY_CONFIG, then\n"
		   "                     $XDG_CONFIG_HOME/ferry/config)\n"
		   "  -q, --quiet        print errors only\n"
		   "  -v, --verbose      trace the protocol (passwords and tokens redacted)\n"
		   "  -V, --version      print the version\n\n"
		   "Exit status: 0 synced; 1 some folders or messages failed; 2 usage or config\n"
		   "error; 3 cannot connect, TLS failure or login refused; 4 channel locked.\n"
		   "See ferry(1).\n");
}

static int cmd_help(const struct globals *g, const struct command *self, int argc, char **argv)
{
	const struct command *cmd;

	(void)g;
	(void)self;
	if (argc < 2) {
		print_usage(stdout);
		return 0;
	}
	cmd = find_command(argv[1]);
	if (!cmd) {
		log_error("help: no command '%s'", argv[1]);
		return FERRY_USAGE;
	}
	printf("usage: ferry %s\n\n%s", cmd->usage, cmd->help);
	return 0;
}

/* Every ferry process may hold a password or token: the config's, or one a
 * password_command printed. A core file would keep it on disk, and a dumpable
 * process lets any program of the same user read its memory (ptrace,
 * /proc/PID/mem). Set before anything is read; forked children inherit both. */
static void keep_secrets_in_memory(void)
{
	struct rlimit none = {0, 0};

	if (setrlimit(RLIMIT_CORE, &none) != 0)
		log_warn("cannot switch core dumps off (setrlimit): %s", strerror(errno));
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		log_warn("cannot make this process non-dumpable (prctl): %s", strerror(errno));
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'}, {"quiet", no_argument, NULL, 'q'},
	    {"verbose", no_argument, NULL, 'v'},      {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},	      {0},
	};
	struct globals g = {0};
	const struct command *cmd;
	int opt;

	keep_secrets_in_memory();
	/* The user's character set, for the display width of names in columns;
	 * only LC_CTYPE: messages and numbers stay as they are. */
	setlocale(LC_CTYPE, "");
	/* A peer that closes first must give EPIPE, not kill us (libetpan.md). */
	signal(SIGPIPE, SIG_IGN);
	/* A file size limit (RLIMIT_FSIZE) must give EFBIG, reported, not kill us. */
	signal(SIGXFSZ, SIG_IGN);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:c:qvVh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			g.config_path = optarg;
			break;
		case 'q':
			log_set_level(LOG_QUIET);
			break;
		case 'v':
			log_set_level(LOG_VERBOSE);
			break;
		case 'V':
#ifdef FERRY_TEST_HOOKS
			printf("ferry %s (test hooks)\n", FERRY_VERSION);
#else
			printf("ferry %s\n", FERRY_VERSION);
#endif
			return 0;
		case 'h':
			print_usage(stdout);
			return 0;
		case ':':
			log_error("option '%s' needs an argument", argv[optind - 1]);
			return FERRY_USAGE;
		default:
			log_error("unknown option '%s'", argv[optind - 1]);
			print_usage(stderr);
			return FERRY_USAGE;
		}
	}
	if (optind >= argc) {
		print_usage(stderr);
		return FERRY_USAGE;
	}
	cmd = find_command(argv[optind]);
	if (!cmd) {
		log_error("unknown command '%s' (see 'ferry help')", argv[optind]);
		return FERRY_USAGE;
	}
	return cmd->run(&g, cmd, argc - optind, argv + optind);
}
