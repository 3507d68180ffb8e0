# The agent is killed with SIGKILL at random moments during load, at least
# ten times, and started again: no segment is lost, no conflict is
# reported (re-shipping after a kill is idempotent), and archiving catches
# up with everything Postgres produced.

use strict;
use warnings FATAL => 'all';

use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

use RevrxTest;

my $s3 = RevrxTest::S3->start;
my $node = RevrxTest::new_node('agent_kill', timeout => 5);
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION revrx');
my $agent = RevrxTest::Agent->start($node, repo => $s3->repo_url('kill'), env => $s3->env);

$node->command_ok([ 'pgbench', '-i', '-q', '-s', '3', 'postgres' ], 'pgbench init');
my $bench = RevrxTest::start_pgbench($node, '-n', '-c', '4', '-j', '2', '-T', '30');

srand(20261126);
my $kills = 0;
while ($bench->pumpable && $kills < 14)
{
	usleep(300_000 + int(rand(1_700_000)));
	$agent->kill('KILL');
	$kills++;
	usleep(int(rand(800_000)));
	$agent->restart;
}
$bench->finish;
cmp_ok($kills, '>=', 10, "agent was SIGKILLed $kills times during the load");

my $last = RevrxTest::switch_wal($node);
ok(RevrxTest::wait_archived($node, $last, 180), "archiving caught up to $last");

my ($missing, $different) =
  RevrxTest::verify_archive($node, $agent->env, '000000010000000000000001', $last);
is($missing, 0, 'no segment lost');
is($different, 0, 'every segment byte-identical to the original');

my $log = $agent->log;
unlike($log, qr/different content|conflict/i, 'no duplicate conflict after restarts');
ok(RevrxTest::wait_for(sub { my @left = glob(RevrxTest::spool_dir($node) . '/wal/*.rvx'); !@left }, 30, 'empty spool'),
	'nothing left in the spool');
is(RevrxTest::status($node)->{backlog_segments}, 0, 'revrx_status() shows no backlog');

done_testing();
