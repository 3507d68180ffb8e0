# Partial WAL, the cases a review of the first build found (issue 11):
#
# 1. The WAL exporter after revrx.partial_interval was off while the server
#    moved on: the segment it exported last is archived and removed by a
#    checkpoint.  Its last bytes are optional, so the exporter neither
#    fails on the missing file (an ERROR every round, and no partial of the
#    current segment until the flush reaches a second new segment) nor
#    points at a segment recycled long ago: partials of the current
#    segment reach the spool within seconds, and the log has no such ERROR.
#    Both the next segment (the case that failed) and several segments on.
#    While it is off (0), no partial is written.
# 3. wal-fetch and timelines (PostgreSQL's XLogFileReadAnyTLI falls back to
#    the parent timeline's segment when the child's is not found): a child
#    timeline's segment with no object and no partial while later WAL of
#    that timeline is stored stops recovery (exit 126) instead of "not
#    found"; a parent timeline's chain of partials is cut at the point
#    where a later timeline (its history file in the repository) branched
#    off inside the segment, zeros after it.
# 5. The bytes two ranges of a chain overlap must be the same: a later range
#    that disagrees with the WAL already written is refused (corrupt).
# 4. A range whose WAL page headers do not match its name (misfiled or
#    renamed: the page address or the timeline) is refused (corrupt).

use strict;
use warnings FATAL => 'all';

use File::Copy;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

use RevrxTest;

my $SEGSIZE = 16 * 1024 * 1024;
my $RANGE = qr/^([0-9A-F]{24})\.([0-9A-F]{16})\.([0-9A-F]{8})-([0-9A-F]{8})\.partial/;

# ------------------------------------------------- 1. the exporter, off and on

# No agent: archiving reports success once a segment is spooled, so a
# checkpoint may remove it; and nothing keeps old WAL in pg_wal.
my $node = RevrxTest::new_node(
	'exporter',
	ack => 'spool',
	extra => "revrx.partial_interval = '200ms'\nwal_keep_size = 0\nmin_wal_size = '32MB'\n"
	  . "revrx.spool_max_size = 4096\n");
$node->start;
my $spool = RevrxTest::spool_dir($node);
$node->safe_psql('postgres', 'CREATE TABLE w(i int)');

sub spooled_partials
{
	my ($seg) = @_;
	opendir my $d, "$spool/wal" or return ();
	my @p = grep { /$RANGE\.rvx$/ && (!defined $seg || /^\Q$seg\E\./) } readdir $d;
	closedir $d;
	my @sorted = sort @p;
	return @sorted;
}

sub current_segment
{
	return $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_current_wal_flush_lsn())');
}

sub set_interval
{
	my ($value) = @_;
	$node->safe_psql('postgres', "ALTER SYSTEM SET revrx.partial_interval = '$value'");
	$node->reload;
	# the exporter reads it at its next wake-up (the reload sets its latch)
	sleep 1;
	return;
}

# Turns exporting off while the server is in a segment the exporter
# exported part of, moves the flush $switches segments on (each archived,
# then removed by checkpoints), turns it on again: partials of the
# current segment must come, and no ERROR.
sub off_and_on
{
	my ($switches) = @_;
	$node->safe_psql('postgres', 'INSERT INTO w SELECT generate_series(1, 1000)');
	my $seg = current_segment();
	ok(RevrxTest::wait_for(sub { spooled_partials($seg) > 0 }, 30, "partials of $seg"),
		"$switches: the exporter exports $seg");
	set_interval('0');
	my $last;
	for (1 .. $switches)
	{
		$last = RevrxTest::switch_wal($node);
		$node->safe_psql('postgres', 'INSERT INTO w SELECT generate_series(1, 1000)');
	}
	RevrxTest::wait_archived($node, $last, 60);
	$node->safe_psql('postgres', 'CHECKPOINT');
	$node->safe_psql('postgres', 'CHECKPOINT');
	ok(!-e $node->data_dir . "/pg_wal/$seg", "$switches: $seg is archived and removed from pg_wal");
	my $cur = current_segment();
	isnt($cur, $seg, "$switches: the flush moved on to $cur");
	# off means off: WAL written meanwhile is in no partial (the exporter
	# would have written one within its 100 ms tick)
	sleep 1;
	is(scalar(spooled_partials($cur)), 0, "$switches: while revrx.partial_interval = 0, no partial of $cur");

	my $log_offset = -s $node->logfile;
	set_interval('200ms');
	$node->safe_psql('postgres', 'INSERT INTO w SELECT generate_series(1, 1000)');
	ok(RevrxTest::wait_for(sub { spooled_partials($cur) > 0 }, 15, "partials of $cur"),
		"$switches: once on again, $cur is exported: " . join(' ', spooled_partials($cur)));
	my $log = substr(slurp_file($node->logfile), $log_offset);
	unlike($log, qr/revrx wal exporter.*could not|could not open file "pg_wal/,
		"$switches: the exporter logged no error");
	return;
}

off_and_on(1);
off_and_on(3);
$node->stop;

# ------------------------------------------------- 3. wal-fetch and timelines

# Timeline 1 streams partials of its current segment into a posix
# repository: rows 1..10, then the point where timeline 2 will branch off,
# then rows 11..20 (the old primary's WAL after a failover, as far as the
# child is concerned).
my $repodir = PostgreSQL::Test::Utils::tempdir('repo');
my $env = { REVRX_REPO => "file://$repodir" };
my $tl = RevrxTest::new_node('tl1', timeout => 30, extra => "revrx.partial_interval = '200ms'\n");
$tl->start;
$tl->safe_psql('postgres', 'CREATE EXTENSION revrx; CREATE TABLE ids(id int)');
my $agent = RevrxTest::Agent->start($tl, repo => "file://$repodir");
my $bid = $tl->safe_psql('postgres', 'SELECT revrx_backup_now(NULL, true)');
like($bid, qr/^\d{8}T\d{6}Z/, "backup $bid");
$tl->safe_psql('postgres', 'INSERT INTO ids SELECT generate_series(1, 10)');
my $switch = $tl->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
my $seg = $tl->safe_psql('postgres', "SELECT pg_walfile_name('$switch')");
$tl->safe_psql('postgres', 'INSERT INTO ids SELECT generate_series(11, 20)');
my $flush = $tl->safe_psql('postgres', 'SELECT pg_current_wal_flush_lsn()');
is($tl->safe_psql('postgres', "SELECT pg_walfile_name('$flush')"), $seg,
	"rows 1..20 are in one segment, $seg");

sub lsn_offset
{
	my ($lsn) = @_;
	my ($hi, $lo) = split m{/}, $lsn;
	return (hex($hi) * 2**32 + hex($lo)) % $SEGSIZE;
}
my ($switch_off, $flush_off) = (lsn_offset($switch), lsn_offset($flush));

# the chain of the segment's ranges reaches the flush
sub chain_end
{
	opendir my $d, "$repodir/wal/00000001" or return 0;
	my @r = sort { $a->[0] <=> $b->[0] }
	  map { /$RANGE/ ? [ hex($3), hex($4) ] : () } grep { /^\Q$seg\E\./ } readdir $d;
	closedir $d;
	my $end = 0;
	for (@r) { $end = $_->[1] if $_->[0] <= $end && $_->[1] > $end; }
	return $end;
}
ok(RevrxTest::wait_for(sub { chain_end() >= $flush_off }, 60, "the partials of $seg"),
	sprintf('the partials of %s reach the flush at %X', $seg, $flush_off));
$agent->stop;
$tl->stop('immediate');

my ($sysid) = PostgreSQL::Test::Utils::slurp_file("$repodir/repo.json") =~ /"system_identifier":\s*"(\d+)"/;
my $fdir = PostgreSQL::Test::Utils::tempdir('fetch');
my ($rc, $out, $err) = RevrxTest::run_agent($env, 'wal-fetch', $seg, "$fdir/whole");
is($rc, 0, "wal-fetch $seg serves its chain") or diag($err);
my $whole = RevrxTest::slurp_bin("$fdir/whole");

# A timeline-2 segment with no object and no partial: "not found" only
# while timeline 2 has no later WAL; with later WAL it is a gap (126), or
# with --accept-gap "not found" again.
my $seg2 = '00000002' . substr($seg, 8);
my $later2 = '00000002' . substr($seg, 8, 8) . sprintf('%08X', hex(substr($seg, 16, 8)) + 1);
($rc, $out, $err) = RevrxTest::run_agent($env, 'wal-fetch', $seg2, "$fdir/t2");
is($rc, 1, "wal-fetch $seg2: not found while timeline 2 holds nothing") or diag($err);
mkdir "$repodir/wal/00000002";
RevrxTest::write_object("$repodir/wal/00000002/$later2", "\0" x 8192, $sysid);
($rc, $out, $err) = RevrxTest::run_agent($env, 'wal-fetch', $seg2, "$fdir/t2");
is($rc, 126, "wal-fetch $seg2 stops recovery while $later2 is stored");
like($err, qr/\Q$seg2\E" is missing .*later WAL of its timeline exists.*\Q$later2\E/s,
	'naming the missing segment and the later WAL');
ok(!-e "$fdir/t2", 'and writes nothing');
($rc, $out, $err) = RevrxTest::run_agent($env, 'wal-fetch', '--accept-gap', $seg2, "$fdir/t2");
is($rc, 1, "with --accept-gap, $seg2 is not found (nothing to serve before the gap)");
unlink "$repodir/wal/00000002/$later2";

# Timeline 2 branched off timeline 1 at $switch, inside $seg (its history
# file is in the repository, nothing else of it): timeline 1's chain is
# served up to the switch point, zeros after it.
RevrxTest::write_object("$repodir/wal/00000002/00000002.history",
	"1\t$switch\tno recovery target specified\n", $sysid);
($rc, $out, $err) = RevrxTest::run_agent($env, 'wal-fetch', $seg, "$fdir/cut");
is($rc, 0, "wal-fetch $seg with timeline 2 branching off at $switch") or diag($err);
like($err, qr/up to \Q$switch\E, where timeline 00000002 branched off/, 'says where it cut');
my $cut = RevrxTest::slurp_bin("$fdir/cut");
is(length($cut), $SEGSIZE, 'a whole segment');
ok(substr($cut, 0, $switch_off) eq substr($whole, 0, $switch_off),
	sprintf('the WAL before the switch point (%X) is the chain\'s', $switch_off));
ok(substr($cut, $switch_off) eq "\0" x ($SEGSIZE - $switch_off), 'and zeros after it');
ok(substr($whole, $switch_off, $flush_off - $switch_off) ne "\0" x ($flush_off - $switch_off),
	'(where the chain holds timeline 1\'s later WAL)');

# A real recovery follows timeline 2 (recovery_target_timeline = latest):
# its own segment is not stored, so PostgreSQL falls back to timeline 1's,
# and replays only the shared history: rows 1..10, none of 11..20.
my ($r, $rrc, $rout, $rerr) = RevrxTest::restore_node('tl_branch', $env);
is($rrc, 0, 'restore from the repository') or diag($rerr);
RevrxTest::prepare_restored($r);
ok(RevrxTest::start_restored($r, $env), 'the restored cluster finished recovery');
is($r->safe_psql('postgres', 'SELECT count(*) || \' \' || max(id) FROM ids'), '10 10',
	'recovery along timeline 2 has rows 1..10 and nothing of timeline 1 after the switch');
$r->stop;

done_testing();
