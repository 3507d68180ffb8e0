# Incremental backups: only the pages that changed since the parent.
#
# A full backup, a change of one row, an incremental (it stores the page
# that changed, not the database: the accounts table's delta holds a few
# pages and the whole backup a small fraction of the full one), more
# load, a second incremental on the first.  The last one restores (chain
# of three) into a directory pg_verifybackup accepts against its own
# manifest, and starts with exactly the source's data; PITR inside its
# range gives exactly the rows of that time.  Without the parent's file
# list (spool emptied), an incremental request takes a full backup and
# says why.

use strict;
use warnings FATAL => 'all';

use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;

use RevrxTest;

my $repodir = PostgreSQL::Test::Utils::tempdir('repo');
my $node = RevrxTest::new_node('incr', timeout => 30, compression => 'none');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION revrx');
my $agent = RevrxTest::Agent->start($node, repo => "file://$repodir");
my $env = $agent->env;

sub record { return RevrxTest::backup_record($repodir, @_); }

$node->command_ok([ 'pgbench', '-i', '-q', '-s', '5', 'postgres' ], 'pgbench init');
$node->safe_psql('postgres', 'CREATE TABLE marker(i int, t timestamptz DEFAULT clock_timestamp())');
my $accounts = $node->safe_psql('postgres', "SELECT pg_relation_filepath('pgbench_accounts')");

my $b1 = $node->safe_psql('postgres', "SELECT revrx_backup_now('full', wait => true)");
my $r1 = record($b1);
is($r1->{kind}, 'full', "backup $b1 is full");

# files of 8 MB and more (pgbench_accounts, 60 MB) are exported after the
# smaller ones, pg_control and the label files at the end as always
{
	my @order = map { $_->{path} } @{ $r1->{files} };
	my ($first_large) = grep { $r1->{files}[$_]{size} >= 8 * 1024 * 1024 } 0 .. $#order;
	ok(defined $first_large, 'the full backup has a file of 8 MB or more');
	my @small_after = grep {
		$r1->{files}[$_]{size} < 8 * 1024 * 1024
		  && $order[$_] !~ m{^(global/pg_control|backup_label|tablespace_map)$}
	} $first_large .. $#order;
	is(scalar(@small_after), 0, 'every smaller file was exported before the first large one')
	  or diag("after $order[$first_large]: @order[@small_after]");
	is($order[$#order], 'backup_label', 'backup_label last');
	is($order[$#order - 1], 'global/pg_control', 'global/pg_control after the large files');
}

# --- one row changes
$node->safe_psql('postgres', 'UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = 4242');
my $b2 = $node->safe_psql('postgres', "SELECT revrx_backup_now('incr 1', true, incremental => true)");
my $r2 = record($b2);
is($r2->{kind}, 'incremental', "backup $b2 is incremental");
is($r2->{parent}, $b1, '... to the full backup');
is($node->safe_psql('postgres', "SELECT kind || ' ' || parent FROM revrx_backups() WHERE id = '$b2'"),
	"incremental $b1", 'revrx_backups() shows its kind and parent');

my $e1 = RevrxTest::file_entry($r1, $accounts);
my $e2 = RevrxTest::file_entry($r2, $accounts);
ok(!$e1->{delta} && $e2->{delta}, "$accounts is whole in the full backup, a delta in the incremental");
cmp_ok($e2->{stored}, '<', 10 * 8192, "the delta of the changed table holds a few pages ($e2->{stored} bytes)");
cmp_ok($e1->{stored}, '>', 100 * $e2->{stored}, "where the full backup stored $e1->{stored} bytes");
my $unchanged = RevrxTest::file_entry($r2, $node->safe_psql('postgres', "SELECT pg_relation_filepath('pgbench_branches')"));
ok($unchanged->{delta}, 'an unchanged table is a delta too');
cmp_ok($unchanged->{stored}, '<', 200, "... of no page ($unchanged->{stored} bytes)");
my $ratio = $r2->{stored_bytes} / $r1->{stored_bytes};
cmp_ok($ratio, '<', 0.2, sprintf('the incremental stores %.3f of the full backup\'s bytes', $ratio));

# --- more load, a second incremental on the first
$node->command_ok([ 'pgbench', '-n', '-c', '2', '-T', '4', 'postgres' ], 'more load');
$node->safe_psql('postgres', 'INSERT INTO marker(i) SELECT g FROM generate_series(1, 10) g');
my $b3 = $node->safe_psql('postgres', "SELECT revrx_backup_now(NULL, true, true)");
my $r3 = record($b3);
is($r3->{parent}, $b2, "backup $b3 builds on $b2");
my %listed = map { ($_->{id} => $_) } @{ RevrxTest::backups($env) };
is($listed{$b3}{kind} . ' ' . $listed{$b3}{parent}, "incremental $b2",
	'revrx-agent list shows it as incremental, with its parent');
is($listed{$b3}{chain_stored_bytes},
	$listed{$b1}{stored_bytes} + $listed{$b2}{stored_bytes} + $listed{$b3}{stored_bytes},
	'and the stored size of its whole chain');

# rows with known times, inside the last backup's range
sleep 1;
$node->safe_psql('postgres', 'INSERT INTO marker(i) VALUES (11)');
my $target = $node->safe_psql('postgres',
	q{SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')});
sleep 1;
$node->safe_psql('postgres', 'INSERT INTO marker(i) VALUES (12)');
my $last = RevrxTest::switch_wal($node);
ok(RevrxTest::wait_archived($node, $last, 120), "archived up to $last");
my $dump = RevrxTest::dump($node);

# --- restore the chain of three: everything
my ($copy, $rc, $out, $err) = RevrxTest::restore_node('incr_copy', $env, '--backup', $b3);
is($rc, 0, "restore of $b3 (three backups)") or diag $err;
like($err, qr/builds on 2 older backup/, 'restore says it follows the chain');
my ($vrc, $vout, $verr) = ('', '', '');
IPC::Run::run([ 'pg_verifybackup', '-n', $copy->data_dir ], '>', \$vout, '2>', \$verr);
is($?, 0, 'pg_verifybackup accepts the rebuilt directory against the incremental\'s manifest')
  or diag "$vout$verr";
RevrxTest::prepare_restored($copy);
$copy->append_conf('postgresql.conf', "shared_preload_libraries = ''\n");
ok(RevrxTest::start_restored($copy, $env), 'it starts and replays the archive');
ok(RevrxTest::dump($copy) eq $dump, 'with exactly the data of the source');
$copy->stop;

# --- PITR inside the last incremental's range
my ($pitr, $prc, $pout, $perr) = RevrxTest::restore_node('incr_pitr', $env, '--target-time', $target);
is($prc, 0, 'PITR restore to a time after the last incremental') or diag $perr;
like($perr, qr/\Q$b3\E/, '... starting from it');
RevrxTest::prepare_restored($pitr);
$pitr->append_conf('postgresql.conf', "shared_preload_libraries = ''\n");
ok(RevrxTest::start_restored($pitr, $env), 'it recovers to the target');
is($pitr->safe_psql('postgres', 'SELECT string_agg(i::text, \',\' ORDER BY i) FROM marker'),
	'1,2,3,4,5,6,7,8,9,10,11', 'exactly the rows written before the target');
$pitr->stop;

# --- without the parent's file list, an incremental request is a full backup
my $state = RevrxTest::spool_dir($node) . '/state';
unlink glob("$state/*.files");
my $b4 = $node->safe_psql('postgres', "SELECT revrx_backup_now(NULL, true, true)");
is(record($b4)->{kind}, 'full', 'without the parent\'s file list the backup is full');
like(slurp_file($node->logfile), qr/revrx backup \Q$b4\E is a full backup, not an incremental one: this server has no list of the files of backup/,
	'and the log says why');

done_testing();
