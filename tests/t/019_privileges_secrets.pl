# Least privilege and secrets.
#
# An operator role set up as docs/configuration.md says (EXECUTE on
# revrx_backup_now and revrx_restore_point, membership in pg_monitor) takes
# a backup and reads the status as a non-superuser; a monitoring role
# (pg_monitor) reads but cannot take backups; a plain user can do neither.
#
# A known S3 secret is used for archiving, a backup, a restore, its WAL
# replay and a failing request: it never appears in any process's command
# line (sampled all along), in the agent's or the servers' logs, in the
# commands' output, or in the restored data directory's configuration.

use strict;
use warnings FATAL => 'all';

use File::Find;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

use RevrxTest;

my $secret = 'revrx-Secret-7d3f1a9c-never-logged';
my $s3 = RevrxTest::S3->start(key => 'REVRXKEY19', secret => $secret);

# sample every process's command line until told to stop
my $hits = PostgreSQL::Test::Utils::tempdir('sampler') . '/hits';
my $parent = $$;
my $sampler = fork() // die "fork: $!";
if ($sampler == 0)
{
	my $samples = 0;
	while (getppid() == $parent)
	{
		for my $f (glob '/proc/[0-9]*/cmdline')
		{
			open my $fh, '<', $f or next;
			local $/;
			my $cmd = <$fh> // '';
			close $fh;
			if (index($cmd, $secret) >= 0)
			{
				open my $out, '>>', $hits or die;
				(my $shown = $cmd) =~ s/\0/ /g;
				print $out "$f: $shown\n";
				close $out;
			}
		}
		$samples++;
		if (-e "$hits.stop")
		{
			open my $out, '>', "$hits.samples" or die;
			print $out $samples;
			close $out;
			exit 0;
		}
		usleep(20_000);
	}
	exit 0;
}

# the sampler sees a secret on a command line (a test that cannot fail is no test)
system('sh', '-c', 'sleep 0.3', 'sampler-check', $secret);
ok(RevrxTest::wait_for(sub { -e $hits }, 10, 'sampler'), 'the sampler catches a secret on a command line');
unlink $hits;

my $node = RevrxTest::new_node('priv', timeout => 30);
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION revrx');
my $agent = RevrxTest::Agent->start($node, repo => $s3->repo_url('priv'), env => $s3->env);
my $first = RevrxTest::switch_wal($node);
ok(RevrxTest::wait_archived($node, $first, 60), 'archiving to S3 with the secret works');

# the agent's environment holds the secret: not readable through /proc, no core dump
my $agent_pid = $agent->{handle}{KIDS}[0]{PID};
ok($agent_pid && -e "/proc/$agent_pid", "the agent runs as pid $agent_pid");
ok(!open(my $envfh, '<', "/proc/$agent_pid/environ"),
	'its environment cannot be read through /proc, even by its own user (it is not dumpable)');

# --- roles, exactly as documented
$node->safe_psql('postgres', q{
	CREATE ROLE revrx_operator NOLOGIN;
	GRANT EXECUTE ON FUNCTION revrx_backup_now(text, boolean, boolean), revrx_restore_point(text) TO revrx_operator;
	GRANT pg_monitor TO revrx_operator;
	CREATE ROLE ops LOGIN IN ROLE revrx_operator;
	CREATE ROLE watcher LOGIN IN ROLE pg_monitor;
	CREATE ROLE plain LOGIN;
});
is($node->safe_psql('postgres', 'SELECT rolsuper FROM pg_roles WHERE rolname = \'ops\''), 'f',
	'the operator is not a superuser');

sub as
{
	my ($role, $sql) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', $sql, extra_params => [ '-U', $role ]);
	return ($rc, $out, $err);
}

my ($rc, $id, $err) = as('ops', "SELECT revrx_backup_now('by the operator', wait => true)");
is($rc, 0, 'the operator takes a backup and waits for it') or diag $err;
like($id, qr/^\d{8}T\d{6}Z/, "backup $id");
($rc, my $out) = as('ops', "SELECT status FROM revrx_backups() WHERE id = '$id'");
is($out, 'complete', 'and sees it complete');
($rc, $out) = as('ops', 'SELECT agent_running FROM revrx_status()');
is($out, 't', 'the operator reads the status');
($rc, $out, $err) = as('ops', "SELECT revrx_restore_point('ops-point') IS NOT NULL");
is($out, 't', 'and creates restore points');

($rc, $out) = as('watcher', 'SELECT agent_running FROM revrx_status()');
is($out, 't', 'the monitoring role reads the status');
($rc, $out) = as('watcher', "SELECT count(*) > 0 FROM revrx_backups()");
is($out, 't', 'and the backups');
($rc, $out, $err) = as('watcher', 'SELECT revrx_backup_now()');
like($err, qr/permission denied for function revrx_backup_now/, 'but cannot take a backup');

for my $call ('revrx_status()', 'revrx_backups()', 'revrx_verifications()', 'revrx_backup_now()',
	"revrx_restore_point('x')")
{
	($rc, $out, $err) = as('plain', "SELECT * FROM $call");
	like($err, qr/permission denied for function/, "a plain user cannot call $call");
}

# --- the secret, through a restore and its WAL replay, and a failure
my $last = RevrxTest::switch_wal($node);
ok(RevrxTest::wait_archived($node, $last, 60), "archived up to $last");
my ($copy, $rrc, $rout, $rerr) = RevrxTest::restore_node('priv_copy', $agent->env, '--backup', $id);
is($rrc, 0, 'restore with the secret in the environment') or diag $rerr;
RevrxTest::prepare_restored($copy);
$copy->append_conf('postgresql.conf', "archive_mode = off\nshared_preload_libraries = ''\n");
ok(RevrxTest::start_restored($copy, $agent->env), 'the copy replays WAL fetched from S3');
$copy->stop;
my ($lrc, $lout, $lerr) = RevrxTest::run_agent({ %{ $agent->env }, REVRX_REPO => 's3://no-such-bucket/x' },
	'list');
isnt($lrc, 0, 'a request that fails (no such bucket)');

open my $fh, '>', "$hits.stop" or die;
close $fh;
waitpid($sampler, 0);
my $samples = slurp_file("$hits.samples");
cmp_ok($samples, '>', 10, "process command lines were sampled $samples times");
ok(!-e $hits, 'the secret was in no command line') or diag slurp_file($hits);

my @leaks;
my @texts = ([ 'agent log', $agent->log ], [ 'server log', slurp_file($node->logfile) ],
	[ 'restored server log', slurp_file($copy->logfile) ], [ 'restore output', "$rout$rerr" ],
	[ 'failed list output', "$lout$lerr" ]);
find(sub { push @texts, [ $File::Find::name, slurp_file($_) ] if -f $_ && /\.conf$|^backup_label$/ },
	$copy->data_dir);
for my $t (@texts)
{
	push @leaks, $t->[0] if index($t->[1], $secret) >= 0;
}
is_deeply(\@leaks, [], 'the secret is in no log, output or restored configuration file');
like($lerr, qr/no-such-bucket|NoSuchBucket|not found/i, 'while the failure still says what went wrong');

done_testing();
