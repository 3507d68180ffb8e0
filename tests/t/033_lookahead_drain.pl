# A WAL backlog drains through the spooler workers (extension/lookahead.c),
# which spool ready segments ahead of the archiver in their own processes,
# and killing any of the processes that write or ship in the middle of it
# loses or damages nothing.
#
# Three rounds, each: archiving paused (revrx.spool_dir = ''), a backlog of
# segments full of rows, archiving resumed, and while the backlog drains
# one process is killed with SIGKILL: the spooler worker, then the
# archiver, each at the moment it is writing a spool object (it has a
# NAME.rvx.tmp open, seen in /proc/PID/fd; either kill makes the postmaster
# restart the server), then revrx-agent while objects wait in the spool.
# Seeing the spooler worker with an object open is what proves that the
# look-ahead path runs; without it the test fails.  Right after each kill, every NAME.rvx in the spool must be a
# whole object (its size is what its header says): a torn write is never
# published.
#
# A backlog of revrx.archive_fast_backlog segments or more is spooled at
# zstd's fastest level until it drains, and at the usual level with the
# setting 0; the checks below cover objects of both levels.
#
# At the end, every segment from the first to the last is in the
# repository, its header's SHA-256 is the SHA-256 of the segment in pg_wal,
# `revrx-agent wal-fetch` (which checks size, CRC and SHA-256) returns
# exactly pg_wal's bytes, and a restore of the base backup taken before the
# first backlog, replayed to a restore point after the last one, holds the
# same rows as the server.

use strict;
use warnings FATAL => 'all';

use Digest::SHA;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

use RevrxTest;

my $repodir = PostgreSQL::Test::Utils::tempdir('repo');
my $env = { REVRX_REPO => "file://$repodir" };

my $node = RevrxTest::new_node('drain', timeout => 30,
	extra => "revrx.archive_lookahead_workers = 1\nrestart_after_crash = on\n"
	  . "revrx.archive_fast_backlog = 4\n");
$node->start;
my $spool = RevrxTest::spool_dir($node);
$node->safe_psql('postgres', 'CREATE EXTENSION revrx');
my $agent = RevrxTest::Agent->start($node, repo => "file://$repodir");

# pid of the node's process whose title matches $re, waiting for it after
# a restart (the spooler worker is not in pg_stat_activity: it has no
# database connection)
sub server_pid
{
	my ($re) = @_;
	my $pid;
	RevrxTest::wait_for(
		sub {
			# (a crash restart keeps the postmaster)
			my $pm = eval {
				(split /\n/, PostgreSQL::Test::Utils::slurp_file($node->data_dir . '/postmaster.pid'))[0];
			} // return 0;
			for my $dir (glob('/proc/[0-9]*'))
			{
				my $stat = eval { PostgreSQL::Test::Utils::slurp_file("$dir/stat") } // next;
				my $cmd = eval { PostgreSQL::Test::Utils::slurp_file("$dir/cmdline") } // next;
				my ($ppid) = $stat =~ /^\d+ \(.*\) \S (\d+)/;
				next unless defined $ppid && $ppid == $pm && $cmd =~ $re;
				($pid) = $dir =~ m{(\d+)$};
				return 1;
			}
			return 0;
		},
		60, "a process $re");
	return $pid;
}

ok(defined server_pid(qr/^postgres: (?:drain: )?revrx wal spooler 1\b/), 'the spooler worker runs');

$node->safe_psql('postgres', 'CREATE TABLE filler(i int, t text)');
my $first = RevrxTest::switch_wal($node);
my $backup = $node->safe_psql('postgres', 'SELECT revrx_backup_now(NULL, true)');
like($backup, qr/^\d{8}T\d{6}Z/, "base backup $backup before the backlogs");

# the file matching $re that process $pid has open, if any
sub open_file
{
	my ($pid, $re) = @_;
	opendir(my $dh, "/proc/$pid/fd") or return undef;
	for my $fd (readdir $dh)
	{
		my $target = readlink("/proc/$pid/fd/$fd") // next;
		return $target if $target =~ $re;
	}
	return undef;
}

# the moments to kill: the process writes a spool object (it has the
# object's temporary file open); objects wait in the spool to be shipped
my $writing = sub { open_file($_[0], qr{/wal/[^/]+\.rvx\.tmp$}) };
my $shipping = sub { my @objects = glob("$spool/wal/0*[0-9A-F].rvx"); return $objects[0]; };

# number of spool objects whose size is not the one their header says
sub torn_objects
{
	my $torn = 0;
	for my $f (glob("$spool/wal/*.rvx"))
	{
		open(my $fh, '<:raw', $f) or next;    # shipped and removed meanwhile
		my $size = -s $fh;
		my $hdr = '';
		read($fh, $hdr, 72);
		close $fh;
		my $ok = length($hdr) == 72 && substr($hdr, 0, 4) eq 'RVXO'
		  && $size == 72 + unpack('Q>', substr($hdr, 24, 8));
		next if $ok;
		diag("torn spool object $f ($size bytes)");
		$torn++;
	}
	return $torn;
}

my $round = 0;

# Pauses archiving, writes a backlog of segments, resumes archiving and
# kills the victim (a sub returning its pid) at the moment $moment (a sub
# given the pid) returns a file; then $after_kill, if given, restarts it.
# Returns the file, or undef if that moment never came before the backlog
# drained.
sub drain_and_kill
{
	my ($what, $victim_pid, $moment, $after_kill) = @_;
	$round++;
	$node->safe_psql('postgres', "ALTER SYSTEM SET revrx.spool_dir = ''");
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	usleep(500_000);    # the archiver rereads its configuration
	# 10 segments of rows, one per segment, each segment switched
	for my $s (1 .. 10)
	{
		$node->safe_psql('postgres',
			"INSERT INTO filler SELECT g, md5(g::text || '$round.$s') || md5(g::text) "
			  . "FROM generate_series(1, 100000) g; SELECT pg_switch_wal()");
	}
	my $last = RevrxTest::switch_wal($node);
	$node->safe_psql('postgres', 'CHECKPOINT');    # a short crash recovery after the kill
	my $pid = $victim_pid->();

	$node->safe_psql('postgres', 'ALTER SYSTEM RESET revrx.spool_dir');
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	my $seen;
	my $deadline = time + 120;
	while (time < $deadline)
	{
		$seen = $moment->($pid);
		last if defined $seen;
		last if !-d "/proc/$pid";
		# drained without the moment coming: nothing more to wait for
		last unless my @ready = glob($node->data_dir . '/pg_wal/archive_status/*.ready');
		usleep(1_000);
	}
	if (defined $seen)
	{
		kill 'KILL', $pid;
		note("round $round: killed the $what (pid $pid) at $seen");
		is(torn_objects(), 0, "$what killed: every object in the spool is whole");
		$after_kill->() if $after_kill;
	}
	# after a server crash: wait for the restart, then for the drain
	RevrxTest::wait_for(sub { (eval { $node->safe_psql('postgres', 'SELECT 1') } // '') eq '1' },
		120, 'the server to accept connections');
	ok(RevrxTest::wait_archived($node, $last, 180), "round $round: the backlog up to $last drained");
	return $seen;
}

# the server log written while $code runs
sub log_during
{
	my ($code) = @_;
	my $from = -s $node->logfile;
	$code->();
	return substr(slurp_file($node->logfile), $from);
}

sub set_and_reload
{
	my ($setting) = @_;
	$node->safe_psql('postgres', "ALTER SYSTEM SET $setting");
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
}

# Round 1 also shows that a backlog of revrx.archive_fast_backlog (4 here)
# segments is spooled at zstd's fastest level, and that the level goes
# back once it has drained (each spooled segment's level is a DEBUG1 line).
set_and_reload("log_min_messages = 'debug1'");
my $log = log_during(sub {
	ok(defined drain_and_kill('spooler worker', sub { server_pid(qr/^postgres: (?:drain: )?revrx wal spooler/) }, $writing),
		'the spooler worker was seen writing a spool object ahead of the archiver, and killed');
	# a segment after the drain, archived at the usual level
	RevrxTest::wait_archived($node, RevrxTest::switch_wal($node), 60);
});
set_and_reload('log_min_messages TO DEFAULT');
like($log, qr/revrx is compressing WAL at the fastest level: ([4-9]|\d\d+) segments wait to be archived/,
	'a backlog of 4 or more segments switches to the fastest level');
like($log, qr/revrx spooled "[0-9A-F]{24}" ahead: \d+ bytes as \d+ \(zstd level 1\)/,
	'segments of the backlog are spooled ahead at zstd level 1');
like($log, qr/revrx is compressing WAL at revrx.compression_level again/,
	'the level goes back when the backlog has drained');
like($log, qr/revrx spooled "[0-9A-F]{24}"(?: ahead)?: \d+ bytes as \d+ \(zstd level 3\)/,
	'and later segments are spooled at the usual level 3');

ok(defined drain_and_kill('archiver', sub { server_pid(qr/^postgres: (?:drain: )?archiver/) }, $writing),
	'the archiver was seen writing a spool object, and killed');

set_and_reload('revrx.archive_fast_backlog = 0');
set_and_reload("log_min_messages = 'debug1'");
$log = log_during(sub {
	ok(defined drain_and_kill('agent', sub { $agent->pid }, $shipping,
			sub { $agent->kill('KILL'); usleep(300_000); $agent->restart; }),
		'revrx-agent was killed while objects waited in the spool');
});
set_and_reload('log_min_messages TO DEFAULT');
like($log, qr/revrx spooled "[0-9A-F]{24}" ahead: \d+ bytes as \d+ \(zstd level 3\)/,
	'with revrx.archive_fast_backlog = 0 the backlog is spooled ahead at the usual level');
unlike($log, qr/at the fastest level|\(zstd level 1\)/, 'and no segment at the fastest level');

# the restore point after the last backlog, and the state to compare with
$node->safe_psql('postgres', "SELECT revrx_restore_point('drained')");
my $last = RevrxTest::switch_wal($node);
ok(RevrxTest::wait_archived($node, $last, 180), "archived up to $last");
ok(RevrxTest::wait_for(sub { my @rp = glob("$repodir/restore_points/drained.json*") }, 60, 'the restore point record'),
	'the restore point is recorded');

# every segment: stored, with pg_wal's SHA-256 in its header
my ($absent, $wrong_sha) = (0, 0);
for my $seg (RevrxTest::segments_between($first, $last))
{
	my ($obj) = glob("$repodir/wal/" . substr($seg, 0, 8) . "/$seg.zst");
	if (!defined $obj || !-f $obj)
	{
		diag("$seg is not in the repository");
		$absent++;
		next;
	}
	my $hdr = substr(RevrxTest::slurp_bin($obj), 0, 72);
	my $want = Digest::SHA->new(256)->addfile($node->data_dir . "/pg_wal/$seg", 'b')->digest;
	if (substr($hdr, 32, 32) ne $want)
	{
		diag("$seg: the stored object's SHA-256 is not pg_wal's");
		$wrong_sha++;
	}
}
is($absent, 0, 'every segment is in the repository');
is($wrong_sha, 0, "every stored object's SHA-256 is that of the segment in pg_wal");

my ($missing, $different) = RevrxTest::verify_archive($node, $agent->env, $first, $last);
is($missing, 0, 'wal-fetch verifies and returns every segment');
is($different, 0, "every fetched segment is byte-identical to pg_wal's");

unlike($agent->log, qr/different content|conflict/i, 'no conflict in the repository');
ok(RevrxTest::wait_for(sub { !(my @left = glob("$spool/wal/*.rvx")) }, 60, 'an empty spool'),
	'nothing left in the spool');

# PITR over the drained segments
my $want = $node->safe_psql('postgres', 'SELECT count(*), sum(hashtext(t)) FROM filler');
my ($r, $rc, $out, $err) = RevrxTest::restore_node('restored', $env, '--target-name', 'drained');
is($rc, 0, 'restore to the restore point after the backlogs') or diag($err);
like($err, qr/restored backup \Q$backup\E /, 'from the backup taken before them');
RevrxTest::prepare_restored($r);
ok(RevrxTest::start_restored($r, $env), 'recovered through every drained segment and promoted');
is($r->safe_psql('postgres', 'SELECT count(*), sum(hashtext(t)) FROM filler'), $want,
	'the restored server holds the same rows');
$r->stop;

$agent->stop;
$node->stop;
done_testing();
