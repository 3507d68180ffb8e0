# Kill tests: the backup worker, the agent and the postmaster are each
# killed in the middle of a backup.  No partial backup is ever listed as
# restorable, the server's backup state is freed, and the next backup and
# its restore give back exactly the data.

use strict;
use warnings FATAL => 'all';

use File::Path qw(rmtree);
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

use RevrxTest;

my $repodir = PostgreSQL::Test::Utils::tempdir('repo');
# uncompressed, through a small spool: the backup takes a while, so the
# kills land in the middle of it
my $node = RevrxTest::new_node('kill', timeout => 30, compression => 'none',
	extra => "revrx.spool_max_size = '16MB'\nrestart_after_crash = on\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION revrx');
my $agent = RevrxTest::Agent->start($node, repo => "file://$repodir", env => { REVRX_PARALLEL => 1 });
$node->command_ok([ 'pgbench', '-i', '-q', '-s', '10', 'postgres' ], 'some data');

sub running_backup
{
	my $id = $node->safe_psql('postgres', "SELECT revrx_backup_now('victim')");
	# wait until it has shipped something, so it is really in the middle
	RevrxTest::wait_for(sub { glob("$repodir/backup/$id/data/base/*/*") }, 60, 'backup under way');
	return $id;
}

sub worker_pid
{
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'revrx'");
}

sub not_restorable
{
	my ($id, $what) = @_;
	my @ids = map { $_->{id} } @{ RevrxTest::backups($agent->env) };
	ok(!grep({ $_ eq $id } @ids), "$what: the interrupted backup $id is not listed as restorable");
}

# 1. the worker
my $id = running_backup();
my $pid = worker_pid();
ok($pid, "backup worker is pid $pid");
kill 'KILL', $pid;
$node->poll_query_until('postgres', 'SELECT true') or die 'server did not come back';
ok( RevrxTest::wait_for(sub { !-d RevrxTest::spool_dir($node) . "/backup/$id" }, 60,
		'cleanup of the aborted backup'),
	'worker killed: the half-done backup is cleaned out of the spool');
not_restorable($id, 'worker killed');
ok(RevrxTest::wait_for(sub { !-d "$repodir/backup/$id" }, 60, 'repository cleanup'),
	'worker killed: what was stored of it is removed from the repository');

# 2. the agent
$id = running_backup();
$agent->kill('KILL');
usleep(500_000);
not_restorable($id, 'agent killed');
$agent->restart;
ok($node->poll_query_until('postgres',
		"SELECT status = 'complete' FROM revrx_backups() WHERE id = '$id'"),
	'the backup completes once the agent is back');

# 3. the postmaster
$id = running_backup();
my $old_pid = $node->{_pid};
$node->kill9;
RevrxTest::wait_for(sub { !kill(0, $old_pid) }, 30, 'old postmaster gone');
not_restorable($id, 'postmaster killed');
# its children notice the postmaster's death on their own; until they are
# gone the old shared memory is in use and a new postmaster refuses to start
my $started = 0;
for (1 .. 20)
{
	last if ($started = $node->start(fail_ok => 1));
	sleep 1;
}
ok($started, 'server restarted after the postmaster was killed');
ok( RevrxTest::wait_for(sub { !-d RevrxTest::spool_dir($node) . "/backup/$id" }, 60,
		'cleanup of the aborted backup'),
	'the half-done backup is cleaned out of the spool');
not_restorable($id, 'after restart');

# the next backup and its restore are fine
my $good = $node->safe_psql('postgres', "SELECT revrx_backup_now('after the kills', true)");
ok($good, "backup $good after the kills");
$node->safe_psql('postgres', 'INSERT INTO pgbench_history VALUES (1, 1, 1, 1, now(), null)');
my $last = RevrxTest::switch_wal($node);
ok(RevrxTest::wait_archived($node, $last, 120), 'archived');
my $dump = RevrxTest::dump($node);
ok(!-d "$repodir/backup/$id", 'objects of the aborted backup were removed from the repository')
  or diag(join ' ', glob("$repodir/backup/$id/*"));

my ($restored, $rc, $out, $err) = RevrxTest::restore_node('restored', $agent->env, '--backup', $good);
is($rc, 0, 'restore of the backup after the kills') or diag($err);
command_ok([ 'pg_verifybackup', '-n', $restored->data_dir ], 'pg_verifybackup accepts it');
RevrxTest::prepare_restored($restored);
ok(RevrxTest::start_restored($restored, {}), 'restored cluster started');
ok(RevrxTest::dump($restored) eq $dump, 'and holds exactly the original data');

done_testing();
