# S3 stops for 30 s during load.  While it is down nothing new is
# acknowledged to Postgres (every segment Postgres considers archived is in
# the bucket), revrx_status() shows the backlog and the error, and once S3
# is back everything is stored.

use strict;
use warnings FATAL => 'all';

use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

use RevrxTest;

my $prefix = 'outage';
my $s3 = RevrxTest::S3->start;
my $node = RevrxTest::new_node('s3_outage', timeout => 5);
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION revrx');
my $agent = RevrxTest::Agent->start($node, repo => $s3->repo_url($prefix),
	env => $s3->env(REVRX_RETRIES => 1, REVRX_TIMEOUT => 2));

$node->command_ok([ 'pgbench', '-i', '-q', '-s', '3', 'postgres' ], 'pgbench init');
my $first_last = RevrxTest::switch_wal($node);
ok(RevrxTest::wait_archived($node, $first_last, 60), 'archiving works before the outage');

# in the bucket?  (the server keeps objects as files we can look at)
sub stored
{
	my ($seg) = @_;
	return -f $s3->object_path($prefix, "wal/00000001/$seg.zst");
}

my $bench = RevrxTest::start_pgbench($node, '-n', '-c', '2', '-j', '2', '-R', '300', '-T', '55');
sleep 3;
$s3->stop;
my $stopped_at = time;
note 'S3 stopped';

my $acked_early = RevrxTest::last_archived($node);
my @violations;
my $saw_status = 0;
while (time - $stopped_at < 30)
{
	# make sure there is always something to archive
	RevrxTest::switch_wal($node);
	my $acked = RevrxTest::last_archived($node);
	push @violations, $acked if $acked ne '' && !stored($acked);
	my $st = RevrxTest::status($node);
	if (($st->{backlog_segments} // 0) > 0 && ($st->{last_error} // '') ne '')
	{
		$saw_status = 1;
		note "during outage: backlog $st->{backlog_segments} segments, last error: $st->{last_error}";
	}
	sleep 2;
}
my $acked_late = RevrxTest::last_archived($node);
is_deeply(\@violations, [], 'every acknowledged segment is in the bucket, also during the outage');
is($acked_late, $acked_early, "nothing new acknowledged while S3 was down (last archived stays $acked_late)");
ok($saw_status, 'revrx_status() showed the backlog and an error during the outage');
my $st = RevrxTest::status($node);
like($st->{last_error}, qr/connect|refused|could not|timed out/i, "the error says why: $st->{last_error}");
cmp_ok($st->{backlog_segments}, '>', 0, "backlog of $st->{backlog_segments} segments");
cmp_ok($st->{rpo_seconds}, '>=', 25,
	"revrx_status() shows the work at risk growing: rpo_seconds $st->{rpo_seconds}");
cmp_ok($node->safe_psql('postgres', 'SELECT failed_count FROM pg_stat_archiver'), '>', 0,
	'the archiver saw failed attempts');

$s3->start_again;
note 'S3 started again';
$bench->finish;
my $last = RevrxTest::switch_wal($node);
ok(RevrxTest::wait_archived($node, $last, 240), "everything archived after S3 came back (up to $last)");

my ($missing, $different) =
  RevrxTest::verify_archive($node, $agent->env, '000000010000000000000001', $last);
is($missing, 0, 'no segment missing');
is($different, 0, 'every segment byte-identical');
ok(RevrxTest::wait_for(sub { RevrxTest::status($node)->{backlog_segments} == 0 }, 30, 'backlog 0'),
	'backlog drained');
# with nothing written since the last switch, nothing is at risk
$node->safe_psql('postgres', 'CHECKPOINT');
# (the server itself writes a little WAL now and then: switch, let that
# segment be stored, look; again if something came in between)
ok( RevrxTest::wait_for(
		sub {
			my $seg = RevrxTest::switch_wal($node);
			RevrxTest::wait_archived($node, $seg, 30)
			  && (RevrxTest::status($node)->{rpo_seconds} // -1) == 0;
		},
		120, 'rpo 0'),
	'rpo_seconds is back to 0 once everything written is stored');

done_testing();
