# SIGTERM stops `restore` and `verify` at once, even while the repository
# hangs: a frozen S3 server (SIGSTOP: connections are accepted, nothing is
# answered) would otherwise hold a request until its timeout, and a drill
# run by a scheduler with a deadline (a Kubernetes CronJob) would outlive it
# and leave its scratch copy behind.  Here the request timeout is 60 s; both
# commands must end well before that, fail, say why, and leave no restored
# copy that looks complete and no scratch directory.

use strict;
use warnings FATAL => 'all';

use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

use RevrxTest;

my $prefix = 'interrupt';
my $s3 = RevrxTest::S3->start;
my $node = RevrxTest::new_node('interrupt');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION revrx');
my $agent = RevrxTest::Agent->start($node, repo => $s3->repo_url($prefix), env => $s3->env);
$node->safe_psql('postgres', 'CREATE TABLE t AS SELECT g AS i FROM generate_series(1, 1000) g');
my $id = $node->safe_psql('postgres', "SELECT revrx_backup_now('interrupt', wait => true)");
like($id, qr/^\d{8}T\d{6}Z/, "backup $id taken");
$agent->stop;

my $env = { %{ $agent->env }, REVRX_TIMEOUT => 60, REVRX_RETRIES => 0 };

# Starts a command against the frozen repository, lets it block, sends
# SIGTERM, and returns (exit code, stderr, seconds from SIGTERM to exit).
sub interrupted_run
{
	my (@args) = @_;
	my ($out, $err) = ('', '');
	local %ENV = RevrxTest::clean_env(%$env);
	my $h = IPC::Run::start([ RevrxTest::agent_bin(), @args ],
		'<', \undef, '>', \$out, '2>', \$err);
	sleep 2;					# it is now waiting for an answer that never comes
	ok($h->pumpable, "$args[0]: still running against the frozen repository");
	my $t0 = time;
	$h->signal('TERM');
	my $ended = RevrxTest::wait_for(sub { $h->pump_nb; !$h->pumpable }, 20, "$args[0] to exit");
	my $took = time - $t0;
	$h->kill_kill unless $ended;
	$h->finish;
	return ($? >> 8, $err . $out, $took, $ended);
}

$s3->{handle}->signal('STOP');
note 'S3 server frozen';

# restore: fails at once, says it was interrupted
my $pgdata = PostgreSQL::Test::Utils::tempdir('restore') . '/pgdata';
my ($rc, $msg, $took, $ended) = interrupted_run('restore', '--pgdata', $pgdata);
ok($ended, sprintf('restore: ended %.1f s after SIGTERM, not at the 60 s request timeout', $took));
isnt($rc, 0, 'restore: fails');
like($msg, qr/interrupted/, 'restore: the message says it was interrupted') or diag($msg);
ok(!-e "$pgdata/global/pg_control", 'restore: nothing that looks like a complete data directory');

# verify: the drill's restore phase stops, and the scratch directory goes
my $scratch = PostgreSQL::Test::Utils::tempdir('scratch') . '/drill';
($rc, $msg, $took, $ended) = interrupted_run('verify', '--scratch', $scratch);
ok($ended, sprintf('verify: ended %.1f s after SIGTERM, not at the 60 s request timeout', $took));
isnt($rc, 0, 'verify: fails');
like($msg, qr/interrupted/, 'verify: the message says it was interrupted') or diag($msg);
ok(!-e $scratch, 'verify: the scratch directory is removed');

$s3->{handle}->signal('CONT');
note 'S3 server running again';

# and the same restore, not interrupted, works
($rc, my $out, my $err) = RevrxTest::run_agent($env, 'restore', '--pgdata', $pgdata, '--force');
is($rc, 0, 'once the repository answers, the restore succeeds') or diag($err);
ok(-e "$pgdata/global/pg_control", 'and the data directory is complete');

done_testing();
