# A server that dies in the middle of writing a long WAL record, restored
# from the repository alone.
#
# The partial WAL exporter ships only flushed WAL, and the flush point
# moves through a long record page by page (the WAL writer) and segment by
# segment (each finished segment is fsynced), so the last range in the
# repository can end inside a record whose rest was never written.  The
# restored server must then end recovery at the record before it, not
# refuse to start or stop earlier: wal-fetch serves the chain of ranges
# zero-padded, the WAL reader finds the record's continuation missing, and
# the new timeline begins where the long record began.  Every commit
# before the long record must be there.
#
# To stop the server in that state on purpose, the backend writing a
# 600 MB logical decoding message (one record of 38 segments) is stopped
# with SIGSTOP two segments into it (and let run a few milliseconds more
# until the flush point rests inside a segment), and the postmaster is
# killed with SIGKILL once the repository holds every flushed byte.

use strict;
use warnings FATAL => 'all';

use File::Path qw(rmtree);
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

use RevrxTest;

my $SEGSIZE = 16 * 1024 * 1024;
my $MESSAGE_BYTES = 600 * 1024 * 1024;

my $repodir = PostgreSQL::Test::Utils::tempdir('repo');
my $env = { REVRX_REPO => "file://$repodir" };

# the WAL writer flushes every 10 ms, so it does not sleep through the test
# once it has nothing to do (it hibernates for 25 delays)
my $node = RevrxTest::new_node('midrec', timeout => 3600, extra => "wal_writer_delay = 10ms\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION revrx');
my $agent = RevrxTest::Agent->start($node, repo => "file://$repodir", env => $env);
$node->safe_psql('postgres', 'CREATE TABLE ids(id int PRIMARY KEY)');
my $bid = $node->safe_psql('postgres', 'SELECT revrx_backup_now(NULL, true)');
like($bid, qr/^\d{8}T\d{6}Z/, "backup $bid");

# commits before the long record, each its own transaction
$node->safe_psql('postgres', "INSERT INTO ids VALUES ($_)") for 1 .. 50;
my $before = $node->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');

# the long record, from a session whose backend can be stopped
my $writer = $node->background_psql('postgres', on_error_stop => 0);
my $pid = $writer->query_safe('SELECT pg_backend_pid()');
$writer->query_until(qr/emitting/,
	"\\echo emitting\nSELECT pg_logical_emit_message(false, 'revrx', repeat('x', $MESSAGE_BYTES));\n");

my $lsn_bytes = sub {
	my ($lsn) = @_;
	my ($hi, $lo) = split m{/}, $lsn;
	return hex($hi) * 2**32 + hex($lo);
};
my $start = $lsn_bytes->($before);
my $flush_now = sub { $node->safe_psql('postgres', 'SELECT pg_current_wal_flush_lsn()') };

# Two segments into the record, stop the backend.  It writes WAL pages out
# itself as the WAL buffers fill (holding WALWriteLock while it does, and
# fsyncing each finished segment), and the WAL writer flushes the pages it
# wrote, page by page, whenever it gets the lock.  Stopped while it holds
# the lock, the flush point rests at a segment's end: let it run a few
# milliseconds more and stop it again, until the flush point rests inside
# a segment.
#
# The flush point read here is the shared one, which XLogWrite publishes
# only when it returns.  A backend stopped inside XLogWrite may already have
# written, fsynced and marked ready for archiving the segment that the
# shared flush point still lies in (it finishes each segment on its way),
# and the archiver then stores that segment whole: a segment with an
# archive status file is finished whatever the flush point says.
my $segment_finished = sub {
	my ($lsn) = @_;
	my $name = $node->safe_psql('postgres', "SELECT pg_walfile_name('$lsn')");
	my $status = $node->data_dir . "/pg_wal/archive_status/$name";
	return -e "$status.ready" || -e "$status.done";
};
my ($flush_lsn, $flush, $inside) = ('', 0, 0);
RevrxTest::wait_for(sub { $lsn_bytes->($flush_now->()) >= $start + 2 * $SEGSIZE },
	120, 'the long record to fill two segments');
for my $try (1 .. 100)
{
	kill 'STOP', $pid;
	my ($last, $same_since) = ('', time);
	RevrxTest::wait_for(
		sub {
			my $now = $flush_now->();
			($last, $same_since) = ($now, time) if $now ne $last;
			return time - $same_since >= 0.5;
		},
		30, 'the flush point to rest');
	($flush_lsn, $flush) = ($last, $lsn_bytes->($last));
	if ($flush % $SEGSIZE != 0 && !$segment_finished->($flush_lsn))
	{
		$inside = 1;
		note "the flush point rests at $flush_lsn after $try stops";
		last;
	}
	kill 'CONT', $pid;
	usleep(2_000 + int(rand(5_000)));
}
ok($inside, "the backend writing the long record is stopped with the flush point inside a segment: $flush_lsn");
cmp_ok($flush, '<', $start + $MESSAGE_BYTES, "the flush point $flush_lsn is inside the long record");
my $seg = $node->safe_psql('postgres', "SELECT pg_walfile_name('$flush_lsn')");
my $offset = $flush % $SEGSIZE;
my $first = $node->safe_psql('postgres', "SELECT pg_walfile_name('$before')");

my $fetched = PostgreSQL::Test::Utils::tempdir('fetched');
my $local = RevrxTest::slurp_bin($node->data_dir . "/pg_wal/$seg");
ok( RevrxTest::wait_for(
		sub {
			my ($rc) = RevrxTest::run_agent($env, 'wal-fetch', $seg, "$fetched/$seg");
			return $rc == 0
			  && substr(RevrxTest::slurp_bin("$fetched/$seg"), 0, $offset) eq substr($local, 0, $offset);
		},
		60, "the repository to hold $seg up to the flush point"),
	"the repository holds $seg up to offset $offset, as ranges");
my @before_seg = RevrxTest::segments_between($first, $seg);
pop @before_seg;
my ($missing, $different) = RevrxTest::verify_archive($node, $env, $before_seg[0], $before_seg[-1]);
is("$missing/$different", '0/0', "the segments the long record filled are stored complete: @before_seg");

# the disaster
$node->kill9;
kill 'KILL', $pid;
eval { $writer->quit; 1 };
$agent->kill('KILL');
rmtree($node->data_dir);
rmtree(RevrxTest::spool_dir($node));

my ($r, $rc, $out, $err) = RevrxTest::restore_node('midrec_restored', $env);
is($rc, 0, 'restore from the repository alone') or diag($err);
RevrxTest::prepare_restored($r);
ok(RevrxTest::start_restored($r, $env), 'the restored cluster ended recovery inside the long record and was promoted');
is($r->safe_psql('postgres', 'SELECT count(*), min(id), max(id) FROM ids'), '50|1|50',
	'every commit before the long record is there');
$r->safe_psql('postgres', 'INSERT INTO ids VALUES (51)');
is($r->safe_psql('postgres', 'SELECT count(*) FROM ids'), '51', 'and the restored cluster takes writes');
like(PostgreSQL::Test::Utils::slurp_file($r->logfile), qr/from \d+ partial/,
	"recovery used ${seg}'s ranges");

# Archive recovery ends on a new timeline, which PostgreSQL starts at the
# end of the last complete record (WAL is copied to it only that far): the
# long record's start, after every commit before it.
$r->safe_psql('postgres', 'CHECKPOINT');
my $tli = $r->safe_psql('postgres', 'SELECT timeline_id FROM pg_control_checkpoint()');
cmp_ok($tli, '>', 1, "the restored cluster is on a new timeline ($tli)");
my $history = PostgreSQL::Test::Utils::slurp_file($r->data_dir . sprintf('/pg_wal/%08X.history', $tli));
my ($switch) = $history =~ m{^\s*1\s+([0-9A-F]+/[0-9A-F]+)}m;
ok( defined $switch
	  && $lsn_bytes->($switch) >= $start
	  && $lsn_bytes->($switch) < $start + $SEGSIZE,
	"timeline $tli branched at the long record's start ("
	  . ($switch // 'none') . "; the record began after $before), not inside it or before it");

$r->stop;
done_testing();
