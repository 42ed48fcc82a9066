#!/usr/bin/perl
# A scripted, hostile POP3 server for ferry's tests (tests/integration/hostile_pop3.sh).
#
# It serves one maildrop of 3 small messages (UIDLs UIDL-00000001 to -3) and
# misbehaves as the scenario says, in ways no real server does: UIDL lines
# that are not "index unique-id", duplicate UIDLs, LIST and UIDL that
# disagree, lines that never end (greeting, LIST, UIDL, TOP, inside RETR),
# multi-line answers that never end (CAPA, LIST, UIDL, RETR), a RETR cut off
# before its final ".", much longer or shorter than its LIST size, followed
# by a line nobody asked for, or refused, data injected after STLS's +OK, a
# greeting without "+OK"; and two valid oddities: byte-stuffed "." lines, no
# UIDL. Message 2 is the one they spoil, unless the scenario's text says
# otherwise. `--list` prints the scenarios.
#
#   pop3.pl --scenario NAME [--port N] [--port-file FILE] [--log FILE]
#           [--connections N] [--max-time S]
#   pop3.pl --scenario NAME --stdio [--log FILE]
#   pop3.pl --scenario NAME --dump DIR
#
# TCP mode listens on 127.0.0.1 only, on port N (default: one the kernel
# picks), prints "PORT <n>" on stdout and writes the number to FILE
# (atomically) once it listens. It serves up to --connections connections
# (default 8) one after the other and exits by itself after --max-time seconds
# (default 30), whatever happens. --stdio serves one session on stdin/stdout
# (for `tunnel =`). Each command line the server receives is appended to the
# --log file, one line each (PASS and SASL lines with their secret left out),
# so that a test can tell which DELE it got. --dump writes each message of the
# scenario's maildrop to DIR/N.eml, as the server means it (CRLF, not
# byte-stuffed), and exits.
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
	'clean'              => 'a well-behaved server (the baseline and the follow-up runs)',
	'greeting-garbage'   => 'the greeting is not POP3 at all',
	'greeting-err'       => 'the greeting is "-ERR"',
	'endless-greeting'   => 'a greeting line that never ends',
	'uidl-bad-index'     => 'a UIDL line whose index is not a number ("two UIDL-00000002")',
	'uidl-missing'       => 'a UIDL line with an index and no unique-id ("2")',
	'uidl-spaces'        => 'a UIDL with spaces in it ("2 UIDL 0000 0002")',
	'uidl-control'       => 'a UIDL with control bytes in it (ESC, CSI, BEL, DEL)',
	'uidl-dup'           => 'messages 2 and 3 have the same UIDL',
	'uidl-fewer'         => 'LIST has 3 messages, UIDL only 1 and 2',
	'uidl-more'          => 'LIST has 3 messages, UIDL has a fourth (index 4)',
	'list-bad-size'      => 'a LIST line whose size is not a number ("2 twelve")',
	'list-huge-index'    => 'LIST has a fourth line, for message 4294967295',
	'capa-flood'         => 'CAPA answers capability lines for ever, never "."',
	'endless-list'       => 'a LIST line that never ends',
	'endless-uidl'       => 'a UIDL line that never ends',
	'endless-top'        => 'no UIDL (so TOP gives each message its key), and TOP\'s answer never ends',
	'endless-retr'       => 'inside RETR of message 2, a line that never ends',
	'list-flood'         => 'LIST answers "N 300" lines for ever, never "."',
	'uidl-flood'         => 'UIDL answers "N UIDL-N" lines for ever, never "."',
	'retr-flood'         => 'RETR of message 2 sends short lines for ever, never "."',
	'retr-no-dot'        => 'RETR of message 2 sends the message, then hangs up without "."',
	'retr-over-size'     => 'RETR of message 2 sends 64 MB (then "."), LIST says a few hundred bytes',
	'retr-short'         => 'RETR of message 2 sends its first 30 bytes (then "."), cut in its header',
	'retr-short-body'    => 'RETR of message 2 sends its header and part of its body (then ".")',
	'retr-extra'         => 'RETR of message 1 ends with "." and then a "+OK" line nobody asked for',
	'stls-inject'        => 'STLS answered with +OK plus "+OK injected" in the same write',
	'retr-err'           => 'RETR of message 2 is answered -ERR',
	'dots'               => 'message 2 has lines starting with "." (valid: byte-stuffed on the wire)',
	'no-uidl'            => 'no UIDL: not in CAPA, -ERR to UIDL (valid: the header-and-size fallback)',
);

my %opt = (
	port        => 0,
	connections => 8,
	'max-time'  => 30,
);
GetOptions(\%opt, 'scenario=s', 'port=i', 'port-file=s', 'log=s', 'stdio', 'dump=s',
	'connections=i', 'max-time=i', 'list')
    or die "usage: $0 --scenario NAME [--port N] [--port-file FILE] [--log FILE] [--stdio]\n";
if ($opt{list}) {
	printf "%-17s %s\n", $_, $scenarios{$_} for sort keys %scenarios;
	exit 0;
}
my $scenario = $opt{scenario} // die "$0: --scenario is required (--list shows them)\n";
die "$0: unknown scenario '$scenario' (--list shows them)\n" unless $scenarios{$scenario};

my $CRLF = "\r\n";

# ---- the maildrop -----------------------------------------------------------------------------

sub message_of {
	my ($n) = @_;
	my $body = "This is the body of message $n.${CRLF}";
	if ($n == 2 && $scenario eq 'dots') {
		# Every line starting with "." goes out with one more; a lone "." line
		# and one just before the terminating "." are the traps.
		$body = ".leading dot${CRLF}..two leading dots${CRLF}.${CRLF}"
		    . "...${CRLF}. space after${CRLF}middle${CRLF}.\r${CRLF}"
		    . "a line with . inside${CRLF}.${CRLF}";
	}
	return "From: Hostile Server <server\@hostile.test>${CRLF}"
	    . "To: Test <test\@hostile.test>${CRLF}"
	    . "Subject: message $n${CRLF}"
	    . "Message-ID: <pop$n\@hostile.test>${CRLF}"
	    . "Date: Mon, 01 Jan 2024 00:00:00 +0000${CRLF}${CRLF}"
	    . $body;
}

my @MSGS = (undef, map { message_of($_) } 1 .. 3);    # 1-based
my $COUNT = 3;

sub uidl_of { return sprintf('UIDL-%08d', $_[0]) }

if ($opt{dump}) {
	for my $n (1 .. $COUNT) {
		open(my $fh, '>', "$opt{dump}/$n.eml") or die "$0: $opt{dump}/$n.eml: $!\n";
		binmode $fh;
		print {$fh} $MSGS[$n];
		close($fh) or die "$0: $opt{dump}/$n.eml: $!\n";
	}
	exit 0;
}

# Whatever happens, the server goes away by itself.
$SIG{ALRM} = sub { exit 0 };
$SIG{PIPE} = 'IGNORE';
alarm($opt{'max-time'});

# ---- one session ------------------------------------------------------------------------------

my ($in, $out, $log);

sub logline {
	my ($s) = @_;
	return unless $log;
	print {$log} "$s\n";
	$log->flush;
}

# Writes everything, as far as the kernel takes it.
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

my $rbuf = '';

sub read_line {
	for (;;) {
		my $i = index($rbuf, "\n");
		if ($i >= 0) {
			my $line = substr($rbuf, 0, $i + 1, '');
			$line =~ s/\r?\n\z//;
			return $line;
		}
		my $r = sysread($in, $rbuf, 65536, length $rbuf);
		return undef unless defined $r && $r > 0;
	}
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

# PREFIX, then UNIT over and over in 64 KiB writes, never a CRLF, until the
# client goes away (or --max-time).
sub endless {
	my ($prefix, $unit) = @_;
	put($prefix) or return 'hangup';
	my $chunk = $unit x int(65536 / length $unit);
	for (;;) {
		put($chunk) or return 'hangup';
	}
}

# Lines made by LINE_OF(i) for i = 1, 2, ... for ever, never the final ".".
sub flood {
	my ($line_of) = @_;
	for (my $i = 1;; $i += 1000) {
		put(join('', map { $line_of->($_) . $CRLF } $i .. $i + 999)) or return 'hangup';
	}
}

sub stuffed {
	my ($s) = @_;
	$s =~ s/^\./../mg;
	return $s;
}

# Marked by DELE in this session. Every session sees the whole maildrop
# again (as if no DELE ever took), so that message numbers are the same in
# every session and the log's "DELE n" always names message n.
my %deleted;

sub exists_msg {
	my ($n) = @_;
	return defined $n && $n =~ /^\d+$/ && $n >= 1 && $n <= $COUNT && !$deleted{$n};
}

sub capa {
	my @c = ('USER', 'TOP', 'RESP-CODES', 'PIPELINING');
	push @c, 'UIDL' unless $scenario =~ /^(no-uidl|endless-top)$/;
	push @c, 'STLS' if $scenario eq 'stls-inject';
	return @c;
}

sub do_list {
	my ($arg) = @_;
	if (defined $arg && length $arg) {
		return say_lines('-ERR no such message') unless exists_msg($arg);
		return say_lines("+OK $arg " . length $MSGS[$arg]);
	}
	return flood(sub { "$_[0] 300" }) if $scenario eq 'list-flood' && put("+OK flood$CRLF");
	my @l = map { "$_ " . length $MSGS[$_] } grep { !$deleted{$_} } 1 .. $COUNT;
	if ($scenario eq 'list-bad-size') {
		s/^2 \d+$/2 twelve/ for @l;
	} elsif ($scenario eq 'list-huge-index') {
		push @l, '4294967295 300';
	} elsif ($scenario eq 'endless-list') {
		put("+OK scan listing follows$CRLF$l[0]$CRLF") or return 'hangup';
		return endless('2 ', '9');
	}
	return say_lines('+OK scan listing follows', @l, '.');
}

sub do_uidl {
	my ($arg) = @_;
	return say_lines('-ERR command not supported') if $scenario =~ /^(no-uidl|endless-top)$/;
	if (defined $arg && length $arg) {
		return say_lines('-ERR no such message') unless exists_msg($arg);
		return say_lines("+OK $arg " . uidl_of($arg));
	}
	return flood(sub { "$_[0] " . uidl_of($_[0]) })
	    if $scenario eq 'uidl-flood' && put("+OK flood$CRLF");
	my %line = map { $_ => "$_ " . uidl_of($_) } 1 .. $COUNT;
	if ($scenario eq 'uidl-bad-index') {
		$line{2} = 'two ' . uidl_of(2);
	} elsif ($scenario eq 'uidl-missing') {
		$line{2} = '2';
	} elsif ($scenario eq 'uidl-spaces') {
		$line{2} = '2 UIDL 0000 0002';
	} elsif ($scenario eq 'uidl-control') {
		$line{2} = "2 UIDL\e]0;pwned\a\e[2J\x7f2";
	} elsif ($scenario eq 'uidl-dup') {
		$line{3} = '3 ' . uidl_of(2);
	} elsif ($scenario eq 'uidl-fewer') {
		delete $line{3};
	} elsif ($scenario eq 'uidl-more') {
		$line{4} = '4 ' . uidl_of(4);
	} elsif ($scenario eq 'endless-uidl') {
		put("+OK unique-id listing follows$CRLF$line{1}$CRLF") or return 'hangup';
		return endless('2 UIDL-', '7');
	}
	my @l = map { $line{$_} } grep { !$deleted{$_} } sort { $a <=> $b } keys %line;
	return say_lines('+OK unique-id listing follows', @l, '.');
}

sub do_top {
	my ($n, $k) = @_;
	return say_lines('-ERR no such message') unless exists_msg($n);
	return say_lines('-ERR bad line count') unless defined $k && $k =~ /^\d+$/;
	return endless("+OK top of message follows${CRLF}From: ", 'F') if $scenario eq 'endless-top';
	my $m = $MSGS[$n];
	my $hdr_end = index($m, "$CRLF$CRLF") + 4;
	my @body = split /(?<=\n)/, substr($m, $hdr_end);
	my $top = substr($m, 0, $hdr_end) . join('', @body[0 .. ($k < @body ? $k : scalar @body) - 1]);
	return put("+OK top of message follows$CRLF" . stuffed($top) . ".$CRLF");
}

sub do_retr {
	my ($n) = @_;
	return say_lines('-ERR no such message') unless exists_msg($n);
	my $m = $MSGS[$n];
	my $ok = '+OK ' . length($m) . ' octets';
	if ($n == 2) {
		if ($scenario eq 'retr-err') {
			return say_lines('-ERR [IN-USE] message 2 is locked by another session');
		} elsif ($scenario eq 'endless-retr') {
			return endless("$ok${CRLF}Subject: message 2${CRLF}X-Endless: ", 'E');
		} elsif ($scenario eq 'retr-flood') {
			put("$ok${CRLF}Subject: message 2${CRLF}${CRLF}") or return 'hangup';
			return flood(sub { "flood line $_[0]" });
		} elsif ($scenario eq 'retr-no-dot') {
			put("$ok$CRLF" . stuffed($m));
			return hang_up();
		} elsif ($scenario eq 'retr-short') {
			return put("$ok$CRLF" . substr($m, 0, 30) . "$CRLF.$CRLF");
		} elsif ($scenario eq 'retr-short-body') {
			my $cut = index($m, "$CRLF$CRLF") + 4 + 14;
			return put("$ok$CRLF" . substr($m, 0, $cut) . "$CRLF.$CRLF");
		} elsif ($scenario eq 'retr-over-size') {
			put("$ok${CRLF}Subject: message 2 (big)${CRLF}${CRLF}") or return 'hangup';
			my $chunk = ('B' x 998 . $CRLF) x 64;
			for (1 .. 1000) {
				put($chunk) or return 'hangup';
			}
			return put(".$CRLF");
		}
	}
	# One write: the stray line arrives with the answer, as the next one's status.
	return put("$ok$CRLF" . stuffed($m) . ".$CRLF+OK$CRLF")
	    if $n == 1 && $scenario eq 'retr-extra';
	return put("$ok$CRLF" . stuffed($m) . ".$CRLF");
}

# AUTH PLAIN, with the initial response on the line or after a "+ ".
sub do_auth {
	my ($args) = @_;
	my ($mech, $initial) = split / /, $args // '', 2;
	return say_lines('+OK', 'PLAIN', '.') unless defined $mech && length $mech;
	return say_lines('-ERR unsupported mechanism') unless uc $mech eq 'PLAIN';
	if (!defined $initial) {
		put("+ $CRLF") or return 'hangup';
		read_line() // return 'hangup';
		logline('{sasl response}');
	}
	return say_lines('+OK logged in');
}

sub session {
	$rbuf = '';
	%deleted = ();
	if ($scenario eq 'greeting-garbage') {
		put("HELLO this is not a POP3 server at all$CRLF");
		return hang_up();
	}
	if ($scenario eq 'greeting-err') {
		say_lines('-ERR [SYS/TEMP] go away, hostile test server');
		return hang_up();
	}
	if ($scenario eq 'endless-greeting') {
		return endless('+OK ', 'G');
	}
	say_lines('+OK hostile POP3 server ready <1896.697170952@hostile.test>');
	while (defined(my $line = read_line())) {
		my ($cmd, $args) = split / /, $line, 2;
		$cmd = uc($cmd // '');
		logline($cmd eq 'PASS' ? 'PASS {password}' : $cmd eq 'AUTH' && defined $args
			    && $args =~ / / ? 'AUTH {initial response}' : $line);
		my ($a1, $a2) = split / /, $args // '', 2;
		my $r;
		if ($cmd eq 'CAPA' && $scenario eq 'capa-flood') {
			put("+OK capability list follows$CRLF") or return 'hangup';
			return flood(sub { "X-FLOOD-$_[0]" });
		} elsif ($cmd eq 'CAPA') {
			$r = say_lines('+OK capability list follows', capa(), '.');
		} elsif ($cmd eq 'USER') {
			$r = say_lines('+OK send PASS');
		} elsif ($cmd eq 'PASS' || $cmd eq 'APOP') {
			$r = say_lines('+OK logged in');
		} elsif ($cmd eq 'AUTH') {
			$r = do_auth($args);
		} elsif ($cmd eq 'STAT') {
			my @n = grep { !$deleted{$_} } 1 .. $COUNT;
			my $total = 0;
			$total += length $MSGS[$_] for @n;
			$r = say_lines('+OK ' . scalar(@n) . " $total");
		} elsif ($cmd eq 'LIST') {
			$r = do_list($a1);
		} elsif ($cmd eq 'UIDL') {
			$r = do_uidl($a1);
		} elsif ($cmd eq 'TOP') {
			$r = do_top($a1, $a2);
		} elsif ($cmd eq 'RETR') {
			$r = do_retr($a1);
		} elsif ($cmd eq 'DELE') {
			if (exists_msg($a1)) {
				$deleted{$a1} = 1;
				$r = say_lines("+OK message $a1 deleted");
			} else {
				$r = say_lines('-ERR no such message');
			}
		} elsif ($cmd eq 'RSET') {
			%deleted = ();
			$r = say_lines('+OK');
		} elsif ($cmd eq 'NOOP') {
			$r = say_lines('+OK');
		} elsif ($cmd eq 'QUIT') {
			say_lines('+OK bye');
			return hang_up();
		} elsif ($cmd eq 'STLS' && $scenario eq 'stls-inject') {
			# One write: what follows the +OK reaches the client before any
			# handshake (as CVE-2020-15953 for IMAP).
			put("+OK Begin TLS negotiation now$CRLF+OK injected$CRLF");
			return hang_up();
		} elsif ($cmd eq 'STLS') {
			$r = say_lines('-ERR no TLS here');
		} else {
			$r = say_lines('-ERR unknown command');
		}
		return 'hangup' if !$r || $r eq 'hangup';
	}
	return 'eof';
}

# ---- main -------------------------------------------------------------------------------------

if ($opt{log}) {
	open($log, '>>', $opt{log}) or die "$0: $opt{log}: $!\n";
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
