#!/usr/bin/perl
# A scripted, hostile IMAP server for ferry's tests (tests/integration/hostile.sh).
#
# It serves one small account (INBOX: uids 1 \Seen, 2 \Flagged, 3 unflagged;
# UIDVALIDITY 1234, UIDNEXT 4) and misbehaves as the scenario says: malformed
# responses, huge or lying literals, bad uids, unsafe folder names, a BYE or an
# EOF in the middle of a FETCH, a STARTTLS response with data injected after it
# (CVE-2020-15953), the unterminated PERMANENTFLAGS that crashes libetpan 1.9.4,
# untagged data before "+ idling", COMPRESS=DEFLATE followed by bytes that are
# no deflate stream (or by clear text in the same write), a refused COMPRESS,
# a message's body not delivered (NIL, under another uid, missing, cut short).
# `--list` prints the scenarios.
#
#   server.pl --scenario NAME [--port N] [--port-file FILE] [--log FILE]
#             [--abs PATH] [--connections N] [--max-time S]
#   server.pl --scenario NAME --stdio [--log FILE] [--abs PATH]
#
# TCP mode listens on 127.0.0.1 only, on port N (default: one the kernel picks),
# prints "PORT <n>" on stdout and writes the number to FILE (atomically) once it
# listens. It serves up to --connections connections (default 8) one after the
# other, each with the same scenario, and exits by itself after --max-time
# seconds (default 30), whatever happens. --stdio serves one session on
# stdin/stdout (for `tunnel =`), greeting with PREAUTH as a tunnel would. Each
# command line the server receives is appended to the --log file, one line
# each (a literal's bytes are logged as "{literal N bytes}"). --abs is the
# absolute path the unsafe-names scenario offers as a folder name (default
# /ferry-hostile-absolute).
#
# Core Perl only (the modules of Debian's perl-base).
use strict;
use warnings;

use Getopt::Long qw(GetOptions);
use IO::Handle;
use IO::Select;
use IO::Socket::INET;
use Socket qw(SHUT_WR);

my %scenarios = (
	'clean'                  => 'a well-behaved server (the baseline and the follow-up runs)',
	'greeting-garbage'       => 'the greeting is not IMAP at all',
	'greeting-bye'           => 'the greeting is a BYE',
	'malformed-list'         => 'a LIST response with an unbalanced parenthesis',
	'malformed-fetch'        => 'a listing FETCH response with RFC822.SIZE "twelve"',
	'huge-literal'           => 'LIST sends a folder name as a 2 MB literal',
	'huge-literal-body'      => 'the listing carries a 30 MB BODY[] literal nobody asked for',
	'uid-zero'               => 'the listing has a message with UID 0',
	'uid-dup'                => 'the listing names UID 2 twice',
	'uid-decreasing'         => 'listing and bodies come in decreasing uid order (valid)',
	'uid-above-uidnext'      => 'the listing has UID 7 while UIDNEXT is 4',
	'unasked-fetch'          => 'the body FETCH also sends UID 99, never asked for',
	'unsafe-names'           => 'folder names decoding to ../, an absolute path, control characters',
	'crlf-name'              => 'a folder name (a literal) containing CR LF and a command',
	'bye-mid-fetch'          => 'BYE and hang-up after the first message of a body FETCH',
	'starttls-inject'        => 'STARTTLS answered with OK plus "* OK injected" in the same write',
	'starttls-inject-late'   => 'STARTTLS answered with OK, then "* OK injected" 0.2 s later',
	'permanentflags'         => 'SELECT with an unterminated "* OK [PERMANENTFLAGS (" line',
	'literal-eof'            => 'hang-up 20 bytes into a 500-byte body literal',
	'literal-4g'             => 'a body literal announced as {4000000000}, then hang-up',
	'literal-4g-list'        => 'a LIST folder name literal announced as {4000000000}, then hang-up',
	'idle-untagged'          => 'IDLE answered with "* 4 EXISTS" before "+ idling"',
	'compress-garbage'       => 'COMPRESS answered with OK, then bytes that are not deflate',
	'compress-inject'        => 'COMPRESS answered with OK plus a clear-text line in the same write',
	'compress-no'            => 'COMPRESS=DEFLATE offered, COMPRESS answered with NO',
	'body-nil'               => 'the body FETCH answers uid 2 with BODY[] NIL, then OK',
	'body-other-uid'         => 'the body FETCH sends uid 2\'s body under UID 5, then OK',
	'body-missing'           => 'the body FETCH answers uid 2 with FLAGS but no body, then OK',
	'body-omitted'           => 'the body FETCH says nothing of uid 2, then OK',
	'body-short'             => 'uid 2\'s body is cut inside its header (30 bytes), then OK',
	'terminal-escapes'       => 'greeting, ALERT, folder names and a NO carry ESC/OSC/CSI sequences',
	'terminal-login-no'      => 'greeting and the NO to LOGIN carry ESC/OSC/CSI sequences',
	'folders-noselect'       => 'LIST has \\Noselect Parent (with a child) and Hollow, \\NonExistent Gone',
	'folders-select-bad'     => 'SELECT of Weird and the listing FETCH in FetchBad answered BAD',
	'folders-modseq-nil'     => 'CONDSTORE, and SELECT says [HIGHESTMODSEQ NIL]',
	'folders-spelled'        => 'namespace "INBOX/", LIST spells Inbox/Sub2 and INBOX/Other.Sub (".")',
	'endless-greeting'       => 'a greeting line that never ends',
	'endless-list'           => 'a LIST response line that never ends',
	'endless-fetch'          => 'a listing FETCH response line that never ends',
	'body-over-size'         => 'uid 1\'s body literal is 64 MB, its RFC822.SIZE a few hundred bytes',
	'huge-header-literal'    => 'the listing carries a 200 MB BODY[HEADER] literal nobody asked for',
	'exists-flood'           => 'SELECT answered with 1,000,000 "* N EXISTS" before its OK',
	'alert-preauth'          => '"* OK [ALERT] ..." before the real greeting, a PREAUTH (as Courier)',
	'no-then-ok'             => 'an untagged NO line before the real greeting, an OK',
	'alerts'                 => 'an [ALERT] greeting (valid on its own), another [ALERT] in SELECT',
	'endless-capability'     => 'a greeting without capabilities, and a CAPABILITY line that never ends',
	'fetch-flood'            => 'the listing comes after 1,000,000 unsolicited "* 1 FETCH (FLAGS (\\Seen))"',
	'oauth-endless-challenge' => 'AUTHENTICATE OAUTHBEARER answered with "+" challenges for ever',
);

my %opt = (
	port        => 0,
	connections => 8,
	'max-time'  => 30,
	abs         => '/ferry-hostile-absolute',
);
GetOptions(\%opt, 'scenario=s', 'port=i', 'port-file=s', 'log=s', 'stdio', 'abs=s',
	'connections=i', 'max-time=i', 'list')
    or die "usage: $0 --scenario NAME [--port N] [--port-file FILE] [--log FILE] [--stdio]\n";
if ($opt{list}) {
	printf "%-21s %s\n", $_, $scenarios{$_} for sort keys %scenarios;
	exit 0;
}
my $scenario = $opt{scenario} // die "$0: --scenario is required (--list shows them)\n";
die "$0: unknown scenario '$scenario' (--list shows them)\n" unless $scenarios{$scenario};

# Whatever happens, the server goes away by itself.
$SIG{ALRM} = sub { exit 0 };
$SIG{PIPE} = 'IGNORE';
alarm($opt{'max-time'});

my $CRLF    = "\r\n";
my $DATE    = '"01-Jan-2024 00:00:00 +0000"';
my $UIDNEXT = 4;
my %FLAGS   = (1 => '\Seen', 2 => '\Flagged', 3 => '');

sub body_of {
	my ($uid) = @_;
	return "From: Hostile Server <server\@hostile.test>${CRLF}"
	    . "To: Test <test\@hostile.test>${CRLF}"
	    . "Subject: message $uid${CRLF}"
	    . "Message-ID: <uid$uid\@hostile.test>${CRLF}"
	    . "Date: Mon, 01 Jan 2024 00:00:00 +0000${CRLF}${CRLF}"
	    . "This is the body of message uid $uid.${CRLF}";
}

sub header_of {
	my ($uid) = @_;
	my $msg = body_of($uid);
	return substr($msg, 0, index($msg, "$CRLF$CRLF") + 4);
}

sub literal { my ($s) = @_; return '{' . length($s) . "}$CRLF$s" }

# ---- one session ------------------------------------------------------------------------------

my ($in, $out, $log);

sub logline {
	my ($s) = @_;
	return unless $log;
	print {$log} "$s\n";
	$log->flush;
}

# Writes everything in one write(2) as far as the kernel takes it.
sub put {
	my ($s) = @_;
	while (length $s) {
		my $w = syswrite($out, $s);
		return 0 unless defined $w && $w > 0;
		substr($s, 0, $w, '');
	}
	return 1;
}

sub say_lines { put(join('', map { "$_$CRLF" } @_)) }

# Our own buffered reader, so that sysread and line reads never disagree.
my $rbuf = '';

sub fill {
	my $r = sysread($in, $rbuf, 65536, length $rbuf);
	return defined $r && $r > 0;
}

sub read_line {
	for (;;) {
		my $i = index($rbuf, "\n");
		if ($i >= 0) {
			my $line = substr($rbuf, 0, $i + 1, '');
			$line =~ s/\r?\n\z//;
			return $line;
		}
		return undef unless fill();
	}
}

sub read_bytes {
	my ($n) = @_;
	while (length($rbuf) < $n) {
		return undef unless fill();
	}
	return substr($rbuf, 0, $n, '');
}

# A command line, with any client literals ({n} or {n+}) read in; the log gets
# the line with the literal's bytes left out.
sub read_command {
	my $line = read_line() // return undef;
	my $shown = $line;
	while ($line =~ /\{(\d+)(\+?)\}\z/) {
		my ($n, $plus) = ($1, $2);
		put("+ go ahead$CRLF") unless $plus;
		my $data = read_bytes($n) // return undef;
		my $rest = read_line() // return undef;
		$line .= "$CRLF$data$rest";
		$shown .= "{literal $n bytes}$rest";
	}
	logline($shown);
	return $line;
}

# Ends the session: our side closes for writing; the client's EOF (or a few
# seconds) ends the wait, so that no unread data turns the close into a reset.
sub hang_up {
	shutdown($out, SHUT_WR) if !$opt{stdio};
	close(STDOUT) if $opt{stdio};
	my $sel = IO::Select->new($in);
	my $until = time + 5;
	while (time < $until) {
		last unless $sel->can_read($until - time);
		my $junk;
		my $r = sysread($in, $junk, 65536);
		last unless $r;
	}
	return 'hangup';
}

sub capabilities {
	return 'IMAP4rev1 AUTH=OAUTHBEARER' if $scenario =~ /^oauth-/;
	return folders_capabilities() if $scenario =~ /^folders-/;
	return 'IMAP4rev1 STARTTLS LOGINDISABLED' if $scenario =~ /^starttls-inject/;
	return 'IMAP4rev1 UIDPLUS IDLE COMPRESS=DEFLATE' if $scenario =~ /^compress-/;
	return 'IMAP4rev1 UIDPLUS IDLE';
}

# The uids of a sequence set ("1:3", "2,5:6", "1:*"), within 1..max.
sub uids_of {
	my ($set, $max) = @_;
	my %u;
	for my $part (split /,/, $set) {
		my ($lo, $hi) = split /:/, $part, 2;
		$hi //= $lo;
		$_ = $_ eq '*' ? $max : $_ for $lo, $hi;
		next if $lo !~ /^\d+$/ || $hi !~ /^\d+$/;
		($lo, $hi) = ($hi, $lo) if $lo > $hi;
		$hi = $max if $hi > $max;
		$u{$_} = 1 for $lo .. $hi;
	}
	return sort { $a <=> $b } grep { exists $FLAGS{$_} } keys %u;
}

sub listing_line {
	my ($seq, $uid, $flags) = @_;
	$flags //= $FLAGS{$uid} // '';
	my $size = length body_of($uid);
	return "* $seq FETCH (UID $uid FLAGS ($flags) RFC822.SIZE $size INTERNALDATE $DATE)";
}

sub do_list {
	my ($tag, $args) = @_;
	if ($args =~ /^"" ""$/) {
		return say_lines('* LIST (\Noselect) "/" ""', "$tag OK LIST done");
	}
	my @l = ('* LIST (\HasNoChildren) "/" INBOX');
	if ($scenario eq 'malformed-list') {
		@l = ('* LIST (\HasNoChildren "/" INBOX');
	} elsif ($scenario eq 'huge-literal') {
		put('* LIST (\HasNoChildren) "/" ' . literal('H' x 2_000_000) . $CRLF);
	} elsif ($scenario eq 'literal-4g-list') {
		put('* LIST (\HasNoChildren) "/" {4000000000}' . $CRLF . ('H' x 4096));
		return hang_up();
	} elsif ($scenario eq 'unsafe-names') {
		my $abs = $opt{abs};
		$abs =~ s/(["\\])/\\$1/g;
		push @l, '* LIST (\HasNoChildren) "/" "../escape"',
		    '* LIST (\HasNoChildren) "/" "a/../../../outside"',
		    "* LIST (\\HasNoChildren) \"/\" \"$abs\"",
		    '* LIST (\HasNoChildren) "/" &AC4ALg-/mutf7dots',
		    '* LIST (\HasNoChildren) "/" "ctl' . "\x01" . 'name"',
		    '* LIST (\HasNoChildren) "/" "esc' . "\x1b" . '[31mred"',
		    '* LIST (\HasNoChildren) "/" "del' . "\x7f" . 'name"',
		    '* LIST (\HasNoChildren) "." "..dots"',
		    '* LIST (\HasNoChildren) "/" Good';
	} elsif ($scenario eq 'endless-list') {
		return endless('* LIST (\\HasNoChildren) "/" "INBOX', 'L');
	} elsif ($scenario eq 'crlf-name') {
		say_lines(@l);
		put('* LIST (\HasNoChildren) "/" '
			    . literal("evil${CRLF}X1 DELETE INBOX")
			    . $CRLF);
		put('* LIST (\HasNoChildren) "/" ' . literal("bare\nX2 DELETE INBOX") . $CRLF);
		@l = ('* LIST (\HasNoChildren) "/" Good');
	}
	return say_lines(@l, "$tag OK LIST done");
}

sub do_select {
	my ($tag) = @_;
	my @l = (
		"* 3 EXISTS",
		'* 0 RECENT',
		'* FLAGS (\Answered \Flagged \Deleted \Seen \Draft)',
	);
	if ($scenario eq 'exists-flood') {
		put("* 3 EXISTS$CRLF" x 1_000_000) or return 'hangup';
	} elsif ($scenario eq 'alerts') {
		push @l, "* OK [ALERT] select alert: quota \x1b[31mexceeded\x07";
	}
	if ($scenario eq 'permanentflags') {
		push @l, '* OK [PERMANENTFLAGS (';
	} else {
		push @l, '* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft \*)] ok';
	}
	push @l, '* OK [UIDVALIDITY 1234] ok', "* OK [UIDNEXT $UIDNEXT] ok",
	    "$tag OK [READ-WRITE] SELECT done";
	return say_lines(@l);
}

# UID FETCH <set> (UID FLAGS RFC822.SIZE INTERNALDATE): the listing.
sub do_listing {
	my ($tag, @uids) = @_;
	my @l;
	if ($scenario eq 'malformed-fetch') {
		@l = map { listing_line($_, $_) } @uids;
		$l[0] =~ s/RFC822\.SIZE \d+/RFC822.SIZE twelve/;
	} elsif ($scenario eq 'uid-zero') {
		@l = (listing_line(1, 0, ''), map { listing_line($_, $_) } @uids);
	} elsif ($scenario eq 'uid-dup') {
		@l = map { listing_line($_, $_) } @uids;
		push @l, listing_line(3, 2, '\Deleted');
	} elsif ($scenario eq 'uid-decreasing') {
		@l = map { listing_line($_, $_) } reverse @uids;
	} elsif ($scenario eq 'uid-above-uidnext') {
		@l = ((map { listing_line($_, $_) } @uids), listing_line(4, 7, ''));
	} elsif ($scenario eq 'fetch-flood') {
		put("* 1 FETCH (FLAGS (\\Seen))$CRLF" x 1_000_000) or return 'hangup';
		@l = map { listing_line($_, $_) } @uids;
	} elsif ($scenario eq 'endless-fetch') {
		return endless('* 1 FETCH (UID 1 FLAGS (\\Seen', ' $kw');
	} elsif ($scenario eq 'huge-header-literal') {
		say_lines(map { listing_line($_, $_) } @uids);
		put("* 1 FETCH (UID 1 BODY[HEADER] {200000000}$CRLF") or return 'hangup';
		my $chunk = 'H' x 1_000_000;
		for (1 .. 200) {
			put($chunk) or return 'hangup';
		}
		put(")$CRLF");
		@l = ();
	} elsif ($scenario eq 'huge-literal-body') {
		@l = map { listing_line($_, $_) } @uids;
		say_lines(@l);
		put('* 1 FETCH (UID 1 BODY[] ' . literal('B' x 30_000_000) . ")$CRLF");
		@l = ();
	} else {
		@l = map { listing_line($_, $_) } @uids;
	}
	return say_lines(@l, "$tag OK FETCH done");
}

sub body_response {
	my ($seq, $uid, $what, $data) = @_;
	return "* $seq FETCH (UID $uid $what " . literal($data) . ")$CRLF";
}

# The body FETCH's answer for uid 2 in the body-* scenarios: a message the
# server does not deliver, with a tagged OK all the same (the listing still
# announces its full RFC822.SIZE). undef: as usual.
sub undelivered_response {
	my ($uid, $what) = @_;
	return undef unless $uid == 2 && $scenario =~ /^body-/;
	my $body = body_of($uid);
	return "* 2 FETCH (UID 2 $what NIL)$CRLF" if $scenario eq 'body-nil';
	return body_response(2, 5, $what, $body) if $scenario eq 'body-other-uid';
	return "* 2 FETCH (UID 2 FLAGS ($FLAGS{2}))$CRLF" if $scenario eq 'body-missing';
	return '' if $scenario eq 'body-omitted';
	return body_response(2, 2, $what, substr($body, 0, 30)) if $scenario eq 'body-short';
	return undef;
}

# UID FETCH <set> (UID BODY.PEEK[HEADER]) or (UID BODY.PEEK[]).
sub do_bodies {
	my ($tag, $header, @uids) = @_;
	my $what = $header ? 'BODY[HEADER]' : 'BODY[]';
	my $of = $header ? \&header_of : \&body_of;
	if (!$header) {
		if ($scenario eq 'uid-decreasing') {
			@uids = reverse @uids;
		} elsif ($scenario eq 'bye-mid-fetch' && @uids) {
			put(body_response($uids[0], $uids[0], $what, $of->($uids[0])));
			say_lines('* BYE server shutting down in the middle of a FETCH');
			return hang_up();
		} elsif ($scenario eq 'literal-eof' && @uids) {
			put(body_response($uids[0], $uids[0], $what, $of->($uids[0])));
			my $next = $uids[1] // $uids[0];
			put("* $next FETCH (UID $next $what {500}$CRLF" . substr($of->($next), 0, 20));
			return hang_up();
		} elsif ($scenario eq 'body-over-size' && @uids) {
			put("* $uids[0] FETCH (UID $uids[0] $what {64000000}$CRLF") or return 'hangup';
			my $chunk = "Subject: big$CRLF" . ('B' x 63984) . $CRLF;
			for (1 .. 1000) {
				put($chunk) or return 'hangup';
			}
			return put(")$CRLF$tag OK FETCH done$CRLF");
		} elsif ($scenario eq 'literal-4g' && @uids) {
			put("* $uids[0] FETCH (UID $uids[0] $what {4000000000}$CRLF"
				    . $of->($uids[0]));
			return hang_up();
		}
	}
	my $r = '';
	for my $i (0 .. $#uids) {
		my $bad = $header ? undef : undelivered_response($uids[$i], $what);
		if (defined $bad) {
			$r .= $bad;
			next;
		}
		$r .= body_response($uids[$i], $uids[$i], $what, $of->($uids[$i]));
		if ($scenario eq 'unasked-fetch' && !$header && $i == 0) {
			$r .= body_response(9, 99, $what, body_of(99));
		}
	}
	return put($r . "$tag OK FETCH done$CRLF");
}

sub do_uid {
	my ($tag, $args) = @_;
	my ($sub, $rest) = split / /, $args, 2;
	$rest //= '';
	if (uc $sub eq 'FETCH') {
		my ($set, $items) = split / /, $rest, 2;
		$items //= '';
		my @uids = uids_of($set, $UIDNEXT - 1);
		if ($items =~ /BODY(?:\.PEEK)?\[HEADER\]/i) {
			return do_bodies($tag, 1, @uids);
		} elsif ($items =~ /BODY(?:\.PEEK)?\[\]/i) {
			return do_bodies($tag, 0, @uids);
		}
		return do_listing($tag, @uids);
	}
	return say_lines("$tag OK UID $sub done");
}

sub do_idle {
	my ($tag) = @_;
	if ($scenario eq 'idle-untagged') {
		put("* 4 EXISTS$CRLF+ idling$CRLF");
	} else {
		put("+ idling$CRLF");
	}
	my $line = read_line() // return 'hangup';
	logline($line);
	return say_lines("$tag OK IDLE terminated");
}

# ---- terminal-escapes, terminal-login-no: text a terminal would obey -------------------------

# Sets the window title (OSC 0 ... BEL), then clears the screen (CSI 2 J), then
# twice more with the C1 CSI: as UTF-8 (U+009B) and as the raw byte 0x9b.
my $PWNED = "\e]0;pwned\a\e[2J\xc2\x9b2J\x9b2J";

# The commands these scenarios answer their own way; undef for the others.
sub terminal_command {
	my ($tag, $cmd, $args) = @_;
	if ($cmd eq 'LOGIN' || $cmd eq 'AUTHENTICATE') {
		return say_lines("$tag NO [AUTHENTICATIONFAILED] $PWNED no entry")
		    if $scenario eq 'terminal-login-no';
		return say_lines("* OK [ALERT] $PWNED read this",
			"$tag OK [CAPABILITY " . capabilities() . '] logged in');
	}
	if ($cmd eq 'LIST' && $args !~ /^"" ""$/) {
		# Raw ESC in a quoted name; ESC, and the C1 CSI U+009B, in
		# modified UTF-7 (&ABs- is ESC, &AJs- is U+009B).
		return say_lines('* LIST (\HasNoChildren) "/" INBOX',
			"* LIST (\\HasNoChildren) \"/\" \"osc$PWNED\"",
			'* LIST (\HasNoChildren) "/" utf7&ABs-]0;pwned',
			'* LIST (\HasNoChildren) "/" c1&AJs-2J',
			'* LIST (\HasNoChildren) "/" Refused', "$tag OK LIST done");
	}
	if (($cmd eq 'SELECT' || $cmd eq 'EXAMINE') && $args =~ /Refused/) {
		return say_lines("$tag NO $PWNED cannot select");
	}
	return undef;
}

sub session {
	$rbuf = '';
	if ($scenario eq 'greeting-garbage') {
		put("HELLO this is not an IMAP server at all$CRLF");
		return hang_up();
	}
	if ($scenario eq 'greeting-bye') {
		say_lines('* BYE [UNAVAILABLE] go away, hostile test server');
		return hang_up();
	}
	my $g = guard_greeting();
	return $g if defined $g && $g eq 'hangup';
	# A tunnel is logged in already (PREAUTH), as `ssh host imap` would be.
	say_lines('* ' . ($opt{stdio} ? 'PREAUTH' : 'OK') . ' [CAPABILITY ' . capabilities()
		    . '] ' . ($scenario =~ /^terminal-/ ? "$PWNED " : '') . 'hostile test server ready')
		    unless defined $g;
	while (defined(my $line = read_command())) {
		my ($tag, $cmd, $args) = split / /, $line, 3;
		$cmd  = uc($cmd // '');
		$args //= '';
		my $r;
		if ($scenario =~ /^terminal-/ && defined($r = terminal_command($tag, $cmd, $args))) {
			return 'hangup' if !$r || $r eq 'hangup';
			next;
		}
		if ($scenario =~ /^folders-/ && defined($r = folders_command($tag, $cmd, $args))) {
			return 'hangup' if !$r || $r eq 'hangup';
			next;
		}
		if ($scenario =~ /^oauth-/ && defined($r = oauth_command($tag, $cmd, $args))) {
			return 'hangup' if !$r || $r eq 'hangup';
			next;
		}
		if ($cmd eq 'CAPABILITY') {
			$r = say_lines('* CAPABILITY ' . capabilities(), "$tag OK CAPABILITY done");
		} elsif ($cmd eq 'LOGIN' || $cmd eq 'AUTHENTICATE') {
			$r = say_lines("$tag OK [CAPABILITY " . capabilities() . "] logged in");
		} elsif ($cmd eq 'STARTTLS') {
			if ($scenario eq 'starttls-inject') {
				# One write: the OK and the injected line arrive together.
				put("$tag OK Begin TLS negotiation now$CRLF* OK injected$CRLF");
				return hang_up();
			}
			if ($scenario eq 'starttls-inject-late') {
				# The client is in its handshake by now: the line reaches OpenSSL.
				put("$tag OK Begin TLS negotiation now$CRLF");
				select(undef, undef, undef, 0.2);
				put("* OK injected late$CRLF");
				return hang_up();
			}
			$r = say_lines("$tag BAD no TLS here");
		} elsif ($cmd eq 'COMPRESS') {
			if ($scenario eq 'compress-inject') {
				put("$tag OK DEFLATE active$CRLF* OK injected in clear text$CRLF");
				return hang_up();
			}
			if ($scenario eq 'compress-garbage') {
				put("$tag OK DEFLATE active$CRLF");
				# The client's next command comes deflated: whatever it is, the
				# answer is no deflate stream at all (0xff: a reserved block type).
				fill();
				logline('{deflated bytes}');
				put("\xff\xfe\xfd this is not deflate$CRLF" x 4);
				return hang_up();
			}
			$r = say_lines("$tag NO not now");
		} elsif ($cmd eq 'LIST' || $cmd eq 'LSUB') {
			$r = do_list($tag, $args);
		} elsif ($cmd eq 'SELECT' || $cmd eq 'EXAMINE') {
			$r = do_select($tag);
		} elsif ($cmd eq 'UID') {
			$r = do_uid($tag, $args);
		} elsif ($cmd eq 'IDLE') {
			$r = do_idle($tag);
		} elsif ($cmd eq 'LOGOUT') {
			say_lines('* BYE logging out', "$tag OK LOGOUT done");
			return hang_up();
		} elsif ($cmd eq 'APPEND') {
			$r = say_lines("$tag OK [APPENDUID 1234 $UIDNEXT] APPEND done");
		} elsif ($cmd =~ /^(NOOP|CREATE|DELETE|SUBSCRIBE|EXPUNGE|CHECK|CLOSE|STATUS)$/) {
			$r = say_lines("$tag OK $cmd done");
		} else {
			$r = say_lines("$tag BAD unknown command");
		}
		return 'hangup' if !$r || $r eq 'hangup';
	}
	return 'eof';
}

# ---- the folders-* scenarios: folders a server names oddly or cannot use -----------------------

my $folders_selected = '';

sub folders_capabilities {
	return 'IMAP4rev1 UIDPLUS IDLE CONDSTORE' if $scenario eq 'folders-modseq-nil';
	return 'IMAP4rev1 UIDPLUS IDLE NAMESPACE' if $scenario eq 'folders-spelled';
	return 'IMAP4rev1 UIDPLUS IDLE';
}

# The LIST "" "*" entries, and the names SELECT takes (exactly as listed).
sub folders_listed {
	if ($scenario eq 'folders-noselect') {
		return ('(\Noselect \HasChildren) "/" Parent', '(\HasNoChildren) "/" Parent/Child',
			'(\NonExistent) "/" Gone', '(\Noselect) "/" Hollow');
	} elsif ($scenario eq 'folders-select-bad') {
		return ('(\HasNoChildren) "/" Good', '(\HasNoChildren) "/" Weird',
			'(\HasNoChildren) "/" FetchBad');
	} elsif ($scenario eq 'folders-spelled') {
		return ('(\HasNoChildren) "/" Inbox/Sub2', '(\HasNoChildren) "." INBOX/Other.Sub');
	}
	return ();
}

my %folders_created;

sub folders_selectable {
	my %ok = (INBOX => 1, %folders_created);
	for (folders_listed()) {
		my ($attrs, $name) = /^\(([^)]*)\) "." (.*)$/;
		$ok{$name} = 1 unless $attrs =~ /\\(Noselect|NonExistent)/;
	}
	return %ok;
}

sub folders_unquote {
	my ($s) = @_;
	return $s unless $s =~ /^"(.*)"$/;
	($s = $1) =~ s/\\(.)/$1/g;
	return $s;
}

# Answers what the folders-* scenarios change; undef: as usual.
sub folders_command {
	my ($tag, $cmd, $args) = @_;
	if ($cmd eq 'CAPABILITY') {
		return say_lines('* CAPABILITY ' . capabilities(), "$tag OK CAPABILITY done");
	} elsif ($cmd eq 'NAMESPACE' && $scenario eq 'folders-spelled') {
		return say_lines('* NAMESPACE (("INBOX/" "/")) NIL NIL', "$tag OK NAMESPACE done");
	} elsif ($cmd eq 'LIST' && $args !~ /^"" ""$/) {
		return say_lines('* LIST (\HasChildren) "/" INBOX',
			(map { "* LIST $_" } folders_listed()), "$tag OK LIST done");
	} elsif ($cmd eq 'SELECT' || $cmd eq 'EXAMINE') {
		my ($name) = $args =~ /^("(?:[^"\\]|\\.)*"|\S+)/;
		$name = folders_unquote($name // '');
		my %ok = folders_selectable();
		$folders_selected = '';
		return say_lines("$tag BAD [CLIENTBUG] weird mailbox name")
		    if $scenario eq 'folders-select-bad' && $name eq 'Weird';
		return say_lines("$tag NO [NONEXISTENT] no such mailbox (or not selectable)")
		    unless $ok{$name};
		$folders_selected = $name;
		return do_select($tag) unless $scenario eq 'folders-modseq-nil';
		return say_lines('* 3 EXISTS', '* 0 RECENT',
			'* FLAGS (\Answered \Flagged \Deleted \Seen \Draft)',
			'* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft \*)] ok',
			'* OK [UIDVALIDITY 1234] ok', "* OK [UIDNEXT $UIDNEXT] ok",
			'* OK [HIGHESTMODSEQ NIL] no modseq here', "$tag OK [READ-WRITE] SELECT done");
	} elsif ($cmd eq 'CREATE') {
		my $name = folders_unquote($args);
		return say_lines("$tag NO [ALREADYEXISTS] $name exists")
		    if grep { /"." \Q$name\E$/ } folders_listed();
		$folders_created{$name} = 1;
		return undef;
	} elsif ($cmd eq 'UID' && $args =~ /^FETCH /i && $folders_selected eq 'FetchBad'
		&& $args !~ /BODY/i) {
		return say_lines("$tag BAD unknown FETCH item");
	} elsif ($cmd eq 'STATUS' && $scenario eq 'folders-modseq-nil') {
		my $name = folders_unquote((split / /, $args, 2)[0]);
		return say_lines("* STATUS $name (MESSAGES 3 UIDNEXT $UIDNEXT UIDVALIDITY 1234 "
			    . 'HIGHESTMODSEQ NIL)', "$tag OK STATUS done");
	}
	return undef;
}

# ---- the guard scenarios: endless input, and what comes before the greeting -------------------

# endless PREFIX UNIT: PREFIX, then UNIT over and over in 64 KiB writes, never a CRLF, until the
# client goes away (or --max-time).
sub endless {
	my ($prefix, $unit) = @_;
	put($prefix) or return 'hangup';
	my $chunk = $unit x int(65536 / length $unit);
	for (;;) {
		put($chunk) or return 'hangup';
	}
}

# The greeting of the guard scenarios: undef when the usual one is to be sent (after what was
# sent here), 'hangup', or 1 when this sent the greeting.
sub guard_greeting {
	if ($scenario eq 'endless-greeting') {
		return endless('* OK [CAPABILITY IMAP4rev1] ', 'G');
	}
	if ($scenario eq 'endless-capability') {
		say_lines('* OK hostile test server ready');
		read_command() // return 'hangup';
		return endless('* CAPABILITY IMAP4rev1', ' X-ENDLESS');
	}
	if ($scenario eq 'alert-preauth') {
		# Courier-IMAP when its file-notification setup fails.
		say_lines('* OK [ALERT] Filesystem notification initialization error -- '
			    . 'contact your mail administrator');
		say_lines('* PREAUTH [CAPABILITY ' . capabilities() . '] hostile test server ready');
		return 1;
	}
	if ($scenario eq 'no-then-ok') {
		say_lines('* NO [ALERT] the index is being rebuilt');
		return undef;
	}
	if ($scenario eq 'alerts') {
		# No capabilities in it: the client asks, and logs in afterwards.
		say_lines("* OK [ALERT] greeting alert: maintenance at \x1b]0;midnight\x07");
		return 1;
	}
	return undef;
}

# ---- main -------------------------------------------------------------------------------------

if ($opt{log}) {
	open($log, '>>', $opt{log}) or die "$0: $opt{log}: $!\n";
}

# ---- oauth-endless-challenge: a SASL exchange that never ends -------------------------------

# Every client line gets another error challenge ({"status":"invalid_token"}); the
# log shows what the client sent, so a test can count its answers.
sub oauth_command {
	my ($tag, $cmd, $args) = @_;
	return undef unless $cmd eq 'AUTHENTICATE';
	put("+ $CRLF");
	for (1 .. 50) {
		my $line = read_line() // return 'hangup';
		logline("sasl: $line");
		put("+ eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIn0=$CRLF") or return 'hangup';
	}
	return hang_up();
}

if ($opt{stdio}) {
	binmode STDIN;
	binmode STDOUT;
	($in, $out) = (\*STDIN, \*STDOUT);
	session();
	exit 0;
}

my $listener = IO::Socket::INET->new(
	LocalAddr => '127.0.0.1',
	LocalPort => $opt{port},
	Proto     => 'tcp',
	Listen    => 16,
	ReuseAddr => 1,
) or die "$0: cannot listen on 127.0.0.1:$opt{port}: $!\n";
my $port = $listener->sockport;
if ($opt{'port-file'}) {
	my $tmp = "$opt{'port-file'}.tmp$$";
	open(my $fh, '>', $tmp) or die "$0: $tmp: $!\n";
	print {$fh} "$port\n";
	close($fh) or die "$0: $tmp: $!\n";
	rename($tmp, $opt{'port-file'}) or die "$0: $opt{'port-file'}: $!\n";
}
STDOUT->autoflush(1);
print "PORT $port\n";

for (1 .. $opt{connections}) {
	my $conn = $listener->accept or last;
	binmode $conn;
	($in, $out) = ($conn, $conn);
	logline("# connection $_");
	session();
	close($conn);
}
exit 0;
