#!/usr/bin/perl
# A small IMAP client for the tests' server side, the same for every server: core Perl only.
#
#   imapc.pl --port N --user U --pass P COMMAND...   plain TCP to 127.0.0.1:N, then LOGIN
#   imapc.pl --tunnel 'SHELL COMMAND' COMMAND...     a pre-authenticated server on a command's
#                                                    stdin/stdout (as ferry's `tunnel =`)
#
# Each COMMAND is sent as one tagged command and its answer awaited. A COMMAND ending in "{N}"
# followed by an argument "@FILE" sends FILE's bytes as that literal (synchronising: the server
# is waited for, so servers without LITERAL+ work too). Prints every line the server sent
# (literals raw); exits 1 at the first NO or BAD, 2 on a dead or silent (20 s) connection.
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use IPC::Open2;

my ($port, $user, $pass, $tunnel);
while (@ARGV && $ARGV[0] =~ /^--/) {
	my $opt = shift @ARGV;
	last if $opt eq '--';
	my $val = shift @ARGV;
	defined $val or die "imapc.pl: $opt needs a value\n";
	if ($opt eq '--port') { $port = $val }
	elsif ($opt eq '--user') { $user = $val }
	elsif ($opt eq '--pass') { $pass = $val }
	elsif ($opt eq '--tunnel') { $tunnel = $val }
	else { die "imapc.pl: unknown option $opt\n" }
}
my @cmds = @ARGV;

my ($in, $out, $child);
if (defined $tunnel) {
	$child = open2($in, $out, '/bin/sh', '-c', $tunnel);
} else {
	defined $port && defined $user && defined $pass
		or die "imapc.pl: give --tunnel CMD or --port, --user and --pass\n";
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 10)
		or do { print STDERR "imapc.pl: connect to 127.0.0.1:$port: $!\n"; exit 2 };
	($in, $out) = ($s, $s);
}
binmode $in;
binmode $out;
binmode STDOUT;
$out->autoflush(1);
$SIG{PIPE} = 'IGNORE';

my $sel = IO::Select->new($in);
my $buf = '';

sub finish {
	my $rc = shift;
	if (defined $child) {
		close $out;
		close $in;
		waitpid $child, 0;
	}
	exit $rc;
}

sub fill {
	$sel->can_read(20) or do { print STDERR "imapc.pl: no answer in 20 s\n"; finish(2) };
	my $n = sysread($in, $buf, 65536, length $buf);
	$n or do { print STDERR "imapc.pl: connection closed\n"; finish(2) };
}

# One response line, with the literals it announces.
sub line {
	fill() while $buf !~ /\r\n/;
	$buf =~ s/^(.*?\r\n)//s;
	my $l = $1;
	while ($l =~ /\{(\d+)\}\r\n\z/) {
		my $n = $1;
		fill() while length($buf) < $n;
		$l .= substr($buf, 0, $n, '');
		fill() while $buf !~ /\r\n/;
		$buf =~ s/^(.*?\r\n)//s;
		$l .= $1;
	}
	return $l;
}

sub answer {
	my $tag = shift;
	while (1) {
		my $l = line();
		print $l;
		return $1 if $l =~ /^\Q$tag\E (OK|NO|BAD)/;
	}
}

my $greeting = line();
if (defined $tunnel) {
	# Untagged OK lines may come before PREAUTH (Courier's [ALERT] when file notification
	# fails): printed, then skipped.
	while ($greeting =~ /^\* OK /) {
		print $greeting;
		$greeting = line();
	}
	$greeting =~ /^\* PREAUTH/ or do { print STDERR "imapc.pl: no PREAUTH: $greeting"; finish(2) };
} else {
	my $q = sub { my $v = shift; $v =~ s/(["\\])/\\$1/g; "\"$v\"" };
	print $out 'L LOGIN ' . $q->($user) . ' ' . $q->($pass) . "\r\n";
	answer('L') eq 'OK' or finish(1);
}
my $n = 0;
while (@cmds) {
	my $c = shift @cmds;
	my $tag = 'C' . ++$n;
	if ($c =~ /\{\d+\}\z/ && @cmds && $cmds[0] =~ /^@(.*)/s) {
		shift @cmds;
		open(my $f, '<:raw', $1) or do { print STDERR "imapc.pl: $1: $!\n"; finish(2) };
		local $/;
		my $data = <$f>;
		$c =~ s/\{\d+\}\z/'{' . length($data) . '}'/e;
		print $out "$tag $c\r\n";
		while (1) {
			my $l = line();
			last if $l =~ /^\+/;
			print $l;
			finish(1) if $l =~ /^\Q$tag\E /;
		}
		print $out "$data\r\n";
	} else {
		print $out "$tag $c\r\n";
	}
	answer($tag) eq 'OK' or finish(1);
}
print $out "Z LOGOUT\r\n";
answer('Z');
finish(0);
