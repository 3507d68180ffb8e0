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

use Compress::Zlib ();
use Digest::SHA ();
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

done_testing();
