#!/usr/bin/env bash
# The benchmark corpus: a deterministic set of folders and messages written straight into
# a Dovecot user's Maildir (maildir++ on disk, as tests/fixtures/dovecot.sh sets it up),
# the way a delivery agent would; Dovecot indexes them on the next access.
#
#	tests/bench/corpus.sh folders SIZE        the folder table: WEIGHT KIND NAME
#	tests/bench/corpus.sh seed SIZE USER...   (root; DOVECOT_CONF and DOVECOT_DIR of a
#	                                          running fixture instance in the environment)
# or sourced (after tests/fixtures/dovecot.sh): corpus_seed SIZE USER, corpus_count SIZE.
#
# Sizes: small = 2,000 messages in 10 folders, medium = 20,000 in 20, large = 100,000 in 40
# (about 29 KB a message on average: 60 MB, 585 MB, 2.7 GB); huge = 1,000,000 small messages
# (1.8 KB on average, 1.8 GB) in 10 folders, 88% of them in Archive, like a Gmail archive's
# "All Mail". CORPUS_MESSAGES in the environment sets another count for any size (e.g. a
# 200,000-message huge to try things faster). The messages come from
# corpusgen.c (built here with cc into a temporary directory): 97% are 2-20 KB, 3% carry a
# base64 attachment of 100 KB-2 MB; flags by folder kind (INBOX mostly read, the newest
# partly unread and left in new/; Sent and Trash read; Drafts \Draft; some \Flagged and
# \Answered), given by the Maildir file name suffix (:2,FRS...). Folder names include nested
# ones (Work/Projects/Alpha) and non-ASCII ones (Reçus, Privé/Santé, 日本語), created first
# with `doveadm mailbox create` and found on disk under their modified UTF-7 name
# (.Re&AOc-us). The same SIZE gives the same files (names, bytes, mtimes) for every user.

CORPUS_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# corpus_folders SIZE: prints "WEIGHT<TAB>KIND<TAB>NAME" per folder. The weights are shares
# of the messages. Archive holds enough messages in every size for 1,000 moves to
# Archive/2023 (run.sh's move scenario).
corpus_folders() {
	local size=$1
	if [[ $size == huge ]]; then
		# Nearly everything in one folder, as in a Gmail archive's "All Mail".
		printf '%s\t%s\t%s\n' \
			4 inbox INBOX \
			88 normal Archive \
			0.5 normal Archive/2023 \
			4 sent Sent \
			0.1 drafts Drafts \
			0.5 trash Trash \
			0.4 junk Junk \
			1 lists Lists/ferry-dev \
			1 normal Work/Projects \
			0.5 normal 'Reçus'
		return 0
	fi
	# 10 folders: the special-use ones, a nested pair, a list, a non-ASCII name.
	printf '%s\t%s\t%s\n' \
		10 inbox INBOX \
		56 normal Archive \
		4 normal Archive/2023 \
		8 sent Sent \
		0.5 drafts Drafts \
		3 trash Trash \
		2 junk Junk \
		5 normal Work/Projects \
		8 lists Lists/ferry-dev \
		3.5 normal 'Reçus'
	[[ $size == small ]] && return 0
	# 20 folders.
	printf '%s\t%s\t%s\n' \
		6 normal Archive/2022 \
		3 normal Work \
		3 normal Work/Projects/Alpha \
		2 normal Work/Projects/Beta \
		9 lists Lists/debian-devel \
		4 lists Lists/dovecot \
		1.5 normal Family \
		0.7 normal 'Privé/Santé' \
		0.5 normal '日本語' \
		1 normal 'Old Stuff'
	[[ $size == medium ]] && return 0
	# 40 folders.
	printf '%s\t%s\t%s\n' \
		5 normal Archive/2019 \
		5 normal Archive/2020 \
		5 normal Archive/2021 \
		3 normal Archive/2024 \
		6 lists Lists/linux-kernel \
		3 lists Lists/postgresql \
		2 lists Lists/rust-users \
		2 lists Lists/python-dev \
		1 lists Lists/golang-nuts \
		1.5 normal 'Work/Clients/Ünïcödé GmbH' \
		1.5 normal Work/Clients/Acme \
		0.5 normal Work/HR \
		2 normal Receipts \
		1 normal Travel \
		4 normal Newsletters \
		3 normal Notifications/GitHub \
		2 normal Notifications/CI \
		0.3 normal Photos \
		0.4 normal 'Ελληνικά' \
		0.8 normal 'Projects/ferry/Écritures'
}

# corpus_count SIZE: the number of messages.
corpus_count() {
	local n
	case $1 in
	small) n=2000 ;;
	medium) n=20000 ;;
	large) n=100000 ;;
	huge) n=1000000 ;;
	*)
		echo "corpus: unknown size $1 (small, medium, large, huge)" >&2
		return 1
		;;
	esac
	echo "${CORPUS_MESSAGES:-$n}"
}

# corpus_disk_name NAME: the maildir++ directory of a folder: "." + levels in modified
# UTF-7 joined with "." (INBOX is the root itself: prints nothing).
corpus_disk_name() {
	local name=$1 out="" level enc
	[[ ${name^^} == INBOX ]] && return 0
	local IFS=/
	for level in $name; do
		enc=$(printf '%s' "$level" | iconv -f UTF-8 -t UTF-7-IMAP) || return 1
		out+=.$enc
	done
	printf '%s\n' "$out"
}

# corpus_build_gen DIR: compiles corpusgen into DIR (once) and prints its path.
corpus_build_gen() {
	local dir=$1
	if [[ ! -x $dir/corpusgen || $CORPUS_HERE/corpusgen.c -nt $dir/corpusgen ]]; then
		cc -O2 -std=c11 -o "$dir/corpusgen" "$CORPUS_HERE/corpusgen.c" -lm || return 1
	fi
	printf '%s\n' "$dir/corpusgen"
}

# corpus_seed SIZE USER [GENDIR]: creates the folders on USER's account and writes the
# corpus into its Maildir. Prints "COUNT BYTES NAME" per folder on stdout.
corpus_seed() {
	local size=$1 user=$2 gendir=${3:-} count root gen weight kind name disk spec="" out
	local seedno mix=""
	[[ $size == huge ]] && mix=small
	count=$(corpus_count "$size") || return 1
	case $size in small) seedno=1 ;; medium) seedno=2 ;; large) seedno=3 ;; huge) seedno=4 ;; esac
	: "${DOVECOT_DIR:?dovecot_start first}" "${DOVECOT_CONF:?dovecot_start first}"
	if [[ -z $gendir ]]; then
		gendir=$(mktemp -d "${TMPDIR:-/tmp}/ferry-corpusgen.XXXXXX") || return 1
	fi
	gen=$(corpus_build_gen "$gendir") || return 1
	root=$DOVECOT_DIR/mail/$user/Maildir
	# The account exists (and with it the root and INBOX) once doveadm touches it.
	"${DOVEADM_BIN:-/usr/bin/doveadm}" -c "$DOVECOT_CONF" mailbox status -u "$user" messages INBOX \
		>/dev/null || return 1
	while IFS=$'\t' read -r weight kind name; do
		if [[ ${name^^} != INBOX ]] &&
			! "${DOVEADM_BIN:-/usr/bin/doveadm}" -c "$DOVECOT_CONF" mailbox status -u "$user" \
				messages "$name" >/dev/null 2>&1; then
			"${DOVEADM_BIN:-/usr/bin/doveadm}" -c "$DOVECOT_CONF" mailbox create -u "$user" \
				"$name" || return 1
		fi
		disk=$(corpus_disk_name "$name") || return 1
		if [[ ! -d $root/$disk/cur ]]; then
			echo "corpus: $name: expected $root/$disk/cur after mailbox create" >&2
			return 1
		fi
		spec+="$weight"$'\t'"$kind"$'\t'"$root${disk:+/$disk}"$'\n'
	done < <(corpus_folders "$size")
	out=$(printf '%s' "$spec" | "$gen" gen "$count" "$seedno" ${mix:+"$mix"}) || return 1
	chown -R nobody:nogroup "$root" || return 1
	# COUNT BYTES DIR -> COUNT BYTES NAME, in the order of the table.
	paste <(printf '%s\n' "$out" | cut -f1,2) <(corpus_folders "$size" | cut -f3)
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	set -uo pipefail
	case ${1:-} in
	folders)
		corpus_count "${2:-}" >/dev/null || exit 2
		corpus_folders "$2"
		;;
	seed)
		[[ $# -ge 3 ]] || {
			echo "usage: $0 seed SIZE USER..." >&2
			exit 2
		}
		size=$2
		shift 2
		gendir=$(mktemp -d "${TMPDIR:-/tmp}/ferry-corpusgen.XXXXXX") || exit 1
		trap 'rm -rf -- "$gendir"' EXIT
		for user in "$@"; do
			corpus_seed "$size" "$user" "$gendir" || exit 1
		done
		;;
	*)
		echo "usage: $0 folders SIZE | seed SIZE USER...   (SIZE: small, medium, large, huge)" >&2
		exit 2
		;;
	esac
fi
