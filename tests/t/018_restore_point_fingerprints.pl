# revrx_restore_point() and the table fingerprints taken after a backup.
#
# A restore point is written into WAL and recorded in the repository
# (restore_points/<name>.json) with its LSN; bad, reserved and duplicate
# names are refused, and PUBLIC cannot call it.  After a backup taken
# during pgbench load, the fingerprint worker stores
# backup/<id>/fingerprints.json; a copy restored to its restore point
# (revrx-fp-<id>) has exactly those row counts and hashes for every table,
# although pgbench kept writing while the fingerprints were taken.

use strict;
use warnings FATAL => 'all';

use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;

use RevrxTest;

my $repodir = PostgreSQL::Test::Utils::tempdir('repo');
my $node = RevrxTest::new_node('points', timeout => 30, compression => 'none');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION revrx');
my $agent = RevrxTest::Agent->start($node, repo => "file://$repodir");

# an object stored uncompressed: its content follows the 72-byte header
sub stored_json
{
	my ($key) = @_;
	my $path = "$repodir/$key";
	return undef unless -f $path;
	my $bytes = RevrxTest::slurp_bin($path);
	return decode_json(substr($bytes, 72));
}

# --- restore points (once the agent has bound the repository to the cluster)
my $first = RevrxTest::switch_wal($node);
ok(RevrxTest::wait_archived($node, $first, 60), "archiving runs ($first)");
my $lsn = $node->safe_psql('postgres', "SELECT revrx_restore_point('before-migration')");
like($lsn, qr{^[0-9A-F]+/[0-9A-F]+$}, "revrx_restore_point returns an LSN ($lsn)");
ok(RevrxTest::wait_for(sub { stored_json('restore_points/before-migration.json') }, 60, 'record'),
	'the restore point is recorded in the repository');
my $rp = stored_json('restore_points/before-migration.json');
is($rp->{name}, 'before-migration', 'with its name');
is($rp->{lsn}, $lsn, 'and the LSN the function returned');
is($rp->{timeline}, 1, 'and its timeline');
my $walname = $node->safe_psql('postgres', "SELECT pg_walfile_name('$lsn'::pg_lsn - 1)");
is($rp->{wal}, $walname, 'and the WAL segment holding it');

for my $bad ('', 'a/b', '../x', 'revrx-fp-1', 'x' x 64, 'sp ace')
{
	my ($rc, $out, $err) = $node->psql('postgres', "SELECT revrx_restore_point('$bad')");
	isnt($rc, 0, "name '$bad' refused");
	like($err, qr/restore point name/, '... saying what is wrong with the name');
}

$agent->stop;
$node->safe_psql('postgres', "SELECT revrx_restore_point('twice')");
my ($rc, $out, $err) = $node->psql('postgres', "SELECT revrx_restore_point('twice')");
isnt($rc, 0, 'a name still waiting in the spool cannot be used again');
like($err, qr/restore point "twice" already exists/, '... with a clear error');
$agent = RevrxTest::Agent->start($node, repo => "file://$repodir");
ok(RevrxTest::wait_for(sub { stored_json('restore_points/twice.json') }, 60, 'twice stored'),
	'the first one is stored once the agent runs');

$node->safe_psql('postgres', 'CREATE ROLE plain LOGIN');
($rc, $out, $err) = $node->psql('postgres', "SELECT revrx_restore_point('by-plain')",
	extra_params => [ '-U', 'plain' ]);
like($err, qr/permission denied for function revrx_restore_point/, 'PUBLIC may not create restore points');

# --- fingerprints, taken while pgbench writes
$node->command_ok([ 'pgbench', '-i', '-q', '-s', '2', 'postgres' ], 'pgbench init');
$node->safe_psql('postgres',
	"CREATE SCHEMA \"Odd Schema\"; CREATE TABLE \"Odd Schema\".\"t 1\"(a int, b text, c jsonb);"
	  . "INSERT INTO \"Odd Schema\".\"t 1\" SELECT g, 'row ' || g, '{\"k\": 1}' FROM generate_series(1, 1000) g;"
	  . "INSERT INTO \"Odd Schema\".\"t 1\" VALUES (NULL, NULL, NULL), (NULL, NULL, NULL);"
	  . "CREATE UNLOGGED TABLE scratch AS SELECT 1 AS x");
my $bench = RevrxTest::start_pgbench($node, '-n', '-c', '2', '-j', '2', '-T', '15');
my $id = $node->safe_psql('postgres', "SELECT revrx_backup_now('fingerprints', wait => true)");
ok(RevrxTest::wait_for(sub { stored_json("backup/$id/fingerprints.json") }, 120, 'fingerprints'),
	"fingerprints of backup $id stored");
$bench->finish;
my $fp = stored_json("backup/$id/fingerprints.json");
is($fp->{backup_id}, $id, 'for this backup');
is($fp->{database}, 'postgres', 'of database postgres');
is($fp->{restore_point}, "revrx-fp-$id", 'at its restore point');
my %tables = map { ("$_->{schema}.$_->{table}" => $_) } @{ $fp->{tables} };
ok(exists $tables{'Odd Schema.t 1'} && !exists $tables{'public.scratch'},
	'permanent tables with odd names are in, unlogged ones out');
is($tables{'public.pgbench_accounts'}{rows}, 200000, 'row count of pgbench_accounts');
like($tables{'public.pgbench_accounts'}{hash}, qr/^[0-9a-f]{32}$/, 'a 32-hex-digit hash');
like(slurp_file($node->logfile), qr/revrx fingerprinted \d+ tables of database "postgres" for backup $id/,
	'the worker logged what it did');

# restore to the fingerprint restore point: every table matches exactly
my $last = RevrxTest::switch_wal($node);
ok(RevrxTest::wait_archived($node, $last, 120), "archived up to $last");
my ($copy, $rrc, $rout, $rerr) = RevrxTest::restore_node('points_copy', $agent->env, '--backup', $id,
	'--target-name', "revrx-fp-$id");
is($rrc, 0, 'restore of the backup to its fingerprint restore point') or diag $rerr;
RevrxTest::prepare_restored($copy);
$copy->append_conf('postgresql.conf', "shared_preload_libraries = ''\n");
ok(RevrxTest::start_restored($copy, $agent->env), 'the copy recovered to the restore point');

my ($tables_sql, $query_fmt) = RevrxTest::fingerprint_sql();
my %found;
for my $row (split /\n/, $copy->safe_psql('postgres', $tables_sql))
{
	my ($oid, $schema, $name, $qualified) = split /\|/, $row;
	my ($rows, $hash) = split /\|/, $copy->safe_psql('postgres', sprintf($query_fmt, $qualified));
	$found{"$schema.$name"} = { rows => $rows, hash => $hash };
}
is_deeply([ sort keys %found ], [ sort keys %tables ], 'the same tables');
my @differ = grep { $found{$_}{rows} != $tables{$_}{rows} || $found{$_}{hash} ne $tables{$_}{hash} }
  grep { $found{$_} } sort keys %tables;
is_deeply(\@differ, [], 'every table has exactly the fingerprint taken on the primary');
my $history = $tables{'public.pgbench_history'}{rows};
cmp_ok($history, '>', 0, "pgbench wrote during the backup ($history history rows at the point)");
isnt($node->safe_psql('postgres', 'SELECT count(*) FROM pgbench_history'), $history,
	'and after it: the primary moved on, the point did not');
$copy->stop;

# --- revrx_verifications() reads what the agent publishes, and nothing breaks it
my $vfile = RevrxTest::spool_dir($node) . '/status/verifications.json';
my $vquery = 'SELECT backup_id, passed, finished_at, recovery_seconds, failed_checks, report_key '
  . 'FROM revrx_verifications()';
sub put_file { my ($path, $text) = @_; open my $fh, '>', $path or die $!; print $fh $text; close $fh; }
put_file($vfile, encode_json({ format => 1, updated_at => time,
	verifications => [
		{ backup_id => $id, passed => JSON::PP::false, started_at => '2026-11-26T10:00:00Z',
		  finished_at => '2026-11-26T10:01:30Z', recovery_seconds => 42.5, total_seconds => 90,
		  failed_checks => [ 'amcheck', 'fingerprints' ], report_key => "backup/$id/verify/x.json" },
		{ backup_id => '../../etc', passed => JSON::PP::true },
		{ backup_id => $id, passed => JSON::PP::true, recovery_seconds => 'NaN' } ] }));
is($node->safe_psql('postgres', $vquery),
	"$id|f|2026-11-26 10:01:30+00|42.5|[\"amcheck\", \"fingerprints\"]|backup/$id/verify/x.json\n$id|t||||",
	'revrx_verifications() shows the drills the agent published, skipping a bad id');
is($node->safe_psql('postgres',
		"SELECT last_verification_time, last_verification_passed, last_good_verification_time IS NULL, "
		  . "last_backup_time IS NOT NULL, seconds_since_backup >= 0 FROM revrx_status()"),
	'2026-11-26 10:01:30+00|f|t|t|t',
	'revrx_status() shows the last drill (failed), no good one, and the age of the last backup');
for my $junk ('', '{"format": 2, "verifications": []}', '{"format": 1, "verifications": [1, [2], {"passed": 3}]}',
	'{"format": 1, "verifications": [{"backup_id": "x", "passed": true, "failed_checks": [1e999]}]', "\x00\xff")
{
	put_file($vfile, $junk);
	my ($vrc, $vout, $verr) = $node->psql('postgres', 'SELECT count(*) FROM revrx_verifications()');
	is("$vrc $vout", '0 0', 'a broken status/verifications.json gives no rows and no error');
}

done_testing();
