# Segments fetched ahead of recovery (agent/restore/wal_prefetch.h).
#
# After serving a segment into pg_wal, wal-fetch leaves a prefetcher that
# fetches the next REVRX_WAL_PREFETCH segments into pg_wal/revrx_prefetch,
# and the next wal-fetch takes its segment from there.  A restored server
# must recover every row through the queue and leave no queue behind once
# promoted.  Then, with the agent alone: the queue holds exactly the next
# segments, byte for byte what a fetch gives; a queue filled from another
# repository is not taken from; a damaged object is not queued (and the
# fetch when asked fails naming it); what a killed prefetcher left is
# neither waited for nor served; a request for a history file (recovery
# begins or ends) removes the queue; nothing is queued with prefetch off
# or for a destination outside pg_wal.  And a segment that cannot be
# fetched stops archive recovery (exit 126) instead of ending it early.

use strict;
use warnings FATAL => 'all';

use Fcntl qw(:flock);
use File::Path qw(make_path);
use PostgreSQL::Test::Utils;
use Test::More;

use RevrxTest;

my $repodir = PostgreSQL::Test::Utils::tempdir('repo');
my $env = { REVRX_REPO => "file://$repodir" };

my $node = RevrxTest::new_node('prefetch');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION revrx');
my $agent = RevrxTest::Agent->start($node, repo => "file://$repodir");
my $bid = $node->safe_psql('postgres', 'SELECT revrx_backup_now(NULL, true)');
like($bid, qr/^\d{8}T\d{6}Z/, "backup $bid");

# a dozen segments after the backup, each with rows of its own
$node->safe_psql('postgres', 'CREATE TABLE t(i int, filler text)');
my (@segs, @lsns);
for my $round (1 .. 12)
{
	$node->safe_psql('postgres',
		"INSERT INTO t SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 2000) g");
	push @lsns, $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
	push @segs, RevrxTest::switch_wal($node);
}
ok(RevrxTest::wait_archived($node, $segs[-1], 120), "archived up to $segs[-1]");
my $rows = $node->safe_psql('postgres', 'SELECT count(*) FROM t');
$agent->stop;
$node->stop('immediate');

# ---- a restored server recovers through the queue
my ($r, $rc, $out, $err) = RevrxTest::restore_node('prefetch_restored', $env);
is($rc, 0, 'restore') or diag($err);
RevrxTest::prepare_restored($r);
{
	local $ENV{REVRX_LOG_LEVEL} = 'debug';
	local $ENV{REVRX_WAL_PREFETCH} = '4';
	ok(RevrxTest::start_restored($r, $env), 'the restored cluster recovered and was promoted');
}
is($r->safe_psql('postgres', 'SELECT count(*) FROM t'), $rows, "every row is there ($rows)");
my $log = PostgreSQL::Test::Utils::slurp_file($r->logfile);
my $taken = () = $log =~ /from the segments fetched ahead/g;
cmp_ok($taken, '>=', 8, "recovery took $taken of its segments from the queue");
unlike($log, qr/prefetch of "/, 'no prefetch failed');
unlike($log, qr/removed "pg_wal\/revrx_prefetch"|left "pg_wal\/revrx_prefetch"/,
	'the end of recovery removed the queue, not the revrx worker after it');
ok(RevrxTest::wait_for(sub { !-e $r->data_dir . '/pg_wal/revrx_prefetch' }, 30,
		'the queue to go'),
	'no queue is left once the server was promoted');
$r->stop;

# is a prefetcher at work on the queue in dir?
sub prefetching
{
	my ($dir) = @_;
	open my $fh, '<', "$dir/lock" or return 0;
	my $free = flock($fh, LOCK_SH | LOCK_NB);
	close $fh;
	return !$free;
}

# Starts the restored node r by hand (it stops by itself, which the node
# object does not expect) and waits until it has, its log matching until.
sub start_until_stopped
{
	my ($r, $what, $until) = @_;
	PostgreSQL::Test::Utils::system_log('pg_ctl', '-D', $r->data_dir, '-l', $r->logfile, '-W', 'start');
	return RevrxTest::wait_for(
		sub {
			-e $r->logfile
			  && !-e $r->data_dir . '/postmaster.pid'
			  && PostgreSQL::Test::Utils::slurp_file($r->logfile) =~ $until;
		},
		60, $what);
}

# Damages the object at path (two bytes of its compressed content); returns
# its sound bytes, to put back with RevrxTest::write_bin().
sub damage
{
	my ($path) = @_;
	my $sound = RevrxTest::slurp_bin($path);
	open my $fh, '+<:raw', $path or die "$path: $!";
	seek $fh, 80, 0;
	print $fh 'XX';
	close $fh;
	return $sound;
}


# ---- a recovery that ends without promotion leaves the queue to the server
($r, $rc, $out, $err) = RevrxTest::restore_node('prefetch_shutdown', $env,
	'--target-lsn', $lsns[3], '--target-action', 'shutdown');
is($rc, 0, "restore to $lsns[3], then shut down") or diag($err);
RevrxTest::prepare_restored($r);
{
	local $ENV{REVRX_WAL_PREFETCH} = '4';
	ok(start_until_stopped($r, 'recovery to reach the target and shut down', qr/database system is shut down/),
		'recovery stopped at the target and shut down');
}
my $left = $r->data_dir . '/pg_wal/revrx_prefetch';
RevrxTest::wait_for(sub { !prefetching($left) }, 60, 'the prefetcher to finish');
my @outlived = -d $left ? do { opendir my $d, $left or die $!; grep { /^[0-9A-F]{24}$/ } readdir $d } : ();
ok(@outlived > 0, "the queue outlived the recovery that stopped at the target (@outlived)");
unlink($r->data_dir . '/recovery.signal') or die $!;
$r->start;
ok(RevrxTest::wait_for(sub { !-e $left }, 60, 'the queue to go'),
	'started without recovery, the revrx worker removed the queue');
like(PostgreSQL::Test::Utils::slurp_file($r->logfile), qr/removed "pg_wal\/revrx_prefetch"/,
	'and said so');
$r->stop;

# ---- a damaged segment in the middle stops archive recovery, not ends it
# there: PostgreSQL takes exit statuses up to 125 for "not available" and
# would promote without the WAL after it
my $mid = "$repodir/wal/00000001/$segs[5].zst";
my $mid_sound = damage($mid);
($r, $rc, $out, $err) = RevrxTest::restore_node('prefetch_stopped', $env);
is($rc, 0, 'restore with a damaged segment in the archive') or diag($err);
RevrxTest::prepare_restored($r);
ok(start_until_stopped($r, 'recovery to stop', qr/database system is shut down/),
	'the server stopped at the damaged segment');
$log = PostgreSQL::Test::Utils::slurp_file($r->logfile);
like($log, qr/could not fetch "$segs[5]"/, 'naming it');
like($log, qr/archive recovery cannot go on without this file/, 'saying recovery stops there');
unlike($log, qr/selected new timeline ID|archive recovery complete/, 'and it was not promoted');
RevrxTest::write_bin($mid, $mid_sound);

# the same for a setting wrong in the server's environment: no file at all
{
	local $ENV{REVRX_WAL_PREFETCH} = 'lots';
	ok( start_until_stopped($r, 'recovery to stop again',
			qr/invalid value for REVRX_WAL_PREFETCH(?:.|\n)*database system is shut down/),
		'a bad setting in the server\'s environment stops recovery as well');
	unlike(PostgreSQL::Test::Utils::slurp_file($r->logfile), qr/selected new timeline ID|archive recovery complete/,
		'without promoting');
}
ok(RevrxTest::start_restored($r, $env), 'once the object is sound, starting the server again resumes recovery');
is($r->safe_psql('postgres', 'SELECT count(*) FROM t'), $rows, "with every row ($rows)");
$r->stop;

# ---- the agent alone
my $base = PostgreSQL::Test::Utils::tempdir('fetched');
my %want;
for my $seg (@segs)
{
	my ($frc) = RevrxTest::run_agent($env, 'wal-fetch', $seg, "$base/$seg");
	is($frc, 0, "$seg fetched outside pg_wal") if $seg eq $segs[0];
	$want{$seg} = RevrxTest::slurp_bin("$base/$seg");
}
ok(!-e "$base/revrx_prefetch", 'no queue for a destination outside pg_wal');

my $pgwal = "$base/data/pg_wal";
make_path($pgwal);
my $queue = "$pgwal/revrx_prefetch";
my %ahead = (%$env, REVRX_WAL_PREFETCH => '3', REVRX_LOG_LEVEL => 'debug');

# (with debug logging the prefetcher keeps stderr, so run_agent returns
# once it is done too)
my $fetch = sub {
	my ($seg, %extra) = @_;
	my @r = RevrxTest::run_agent({ %ahead, %extra }, 'wal-fetch', $seg, "$pgwal/RECOVERYXLOG");
	RevrxTest::wait_for(sub { !prefetching($queue) }, 60, 'the prefetcher to finish');
	return @r;
};
my $queued = sub {
	opendir my $d, $queue or return '';
	return join ' ', sort grep { !/^\./ } readdir $d;
};

($rc, $out, $err) = $fetch->($segs[0], REVRX_WAL_PREFETCH => '0');
is($rc, 0, 'fetched with prefetch off');
ok(!-e $queue, 'nothing queued with REVRX_WAL_PREFETCH=0');

# no room: a segment is queued only if REVRX_WAL_PREFETCH_KEEP_FREE_MB stay free after it
my ($free_mb) = (`df -Pm '$pgwal'` =~ /\n\S+\s+\d+\s+\d+\s+(\d+)/);
SKIP:
{
	skip 'more than 1 TB free here', 3 if !defined $free_mb || $free_mb + 64 > 1048576;
	my $keep = $free_mb + 64;
	($rc, $out, $err) = $fetch->($segs[0], REVRX_WAL_PREFETCH_KEEP_FREE_MB => $keep);
	is($rc, 0, "fetched with $free_mb MB free, $keep to keep");
	is($queued->(), 'lock served source', '... and nothing fetched ahead');
	like($err, qr/"$segs[1]" is not fetched ahead: \d+ MB free in pg_wal's file system, REVRX_WAL_PREFETCH_KEEP_FREE_MB is $keep/,
		'... which the debug log says, and why');
}

($rc) = $fetch->($segs[0]);
is($rc, 0, "$segs[0] fetched into pg_wal");
is($queued->(), "@segs[1..3] lock served source", 'the queue holds the next 3 segments');
ok(!grep({ RevrxTest::slurp_bin("$queue/$_") ne $want{$_} } @segs[1..3]),
	'each byte for byte what a fetch gives');

($rc, $out, $err) = $fetch->($segs[1]);
is($rc, 0, "$segs[1] fetched");
like($err, qr/restored "$segs[1]" from the segments fetched ahead/, 'from the queue');
is(RevrxTest::slurp_bin("$pgwal/RECOVERYXLOG"), $want{ $segs[1] }, "$segs[1] is right");
is($queued->(), "@segs[2..4] lock served source", "taken from the queue, which moved on to $segs[4]");

# another repository's queue
PostgreSQL::Test::Utils::append_to_file("$queue/source.new", "file:///elsewhere");
rename("$queue/source.new", "$queue/source") or die $!;
open my $fh, '>', "$queue/$segs[2]" or die $!;
print $fh "\0" x length($want{ $segs[2] });
close $fh;
($rc, $out, $err) = $fetch->($segs[2]);
is($rc, 0, "$segs[2] fetched with a queue from elsewhere");
unlike($err, qr/from the segments fetched ahead/, 'not from the queue');
is(RevrxTest::slurp_bin("$pgwal/RECOVERYXLOG"), $want{ $segs[2] },
	"$segs[2] came from the repository, not from the other queue");
is($queued->(), "@segs[3..5] lock served source", 'the other queue was replaced');
is(PostgreSQL::Test::Utils::slurp_file("$queue/source"), "file://$repodir", 'and names this repository');

# a damaged object is not queued, and stops the prefetcher
my $victim = "$repodir/wal/00000001/$segs[7].zst";
my $sound = damage($victim);
($rc) = $fetch->($segs[5]);
is($rc, 0, "$segs[5] fetched");
is($queued->(), "$segs[6] lock served source", "the damaged $segs[7] was not queued, nor anything after it");
($rc, $out, $err) = $fetch->($segs[7]);
is($rc, 7, "$segs[7] itself fails as corrupt when asked");
like($err, qr/\Q$segs[7]\E/, 'naming it');
RevrxTest::write_bin($victim, $sound);

# what a killed prefetcher leaves: its mark and its unfinished file
for my $left ("$segs[8].fetching", "$segs[8].revrx.tmp")
{
	open my $lh, '>', "$queue/$left" or die $!;
	print $lh 'unfinished';
	close $lh;
}
my $t0 = time;
($rc, $out, $err) = $fetch->($segs[8]);
is($rc, 0, "$segs[8] fetched past a dead prefetcher's leftovers");
unlike($err, qr/from the segments fetched ahead/, 'by itself');
cmp_ok(time - $t0, '<', 20, 'without waiting for the dead prefetcher (REVRX_TIMEOUT is 30 s)');
is(RevrxTest::slurp_bin("$pgwal/RECOVERYXLOG"), $want{ $segs[8] }, "$segs[8] is right");
unlike($queued->(), qr/fetching|tmp/, 'the leftovers are gone');

# recovery ends: PostgreSQL asks for the next timeline's history
($rc) = RevrxTest::run_agent(\%ahead, 'wal-fetch', '00000002.history', "$pgwal/RECOVERYHISTORY");
is($rc, 1, 'a history file the repository does not hold');
ok(!-e $queue, 'the request removed the queue');

done_testing();
