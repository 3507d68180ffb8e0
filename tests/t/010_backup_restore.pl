# The core disaster-recovery loop, for a local repository and for S3:
# a base backup taken during pgbench load, more load afterwards, then the
# cluster and its spool are destroyed; restore from the repository alone
# into a new directory passes pg_verifybackup before start, and once
# started (replaying the archive to its end) holds exactly the data the
# original had when its last WAL was archived.  The file repository's
# backup compresses with zstd helper threads (revrx.backup_compress_workers,
# default 2), the S3 one's without (0): each restore is checked byte for
# byte (pg_verifybackup against the SHA-256 the exporter took of what it
# read, pgbench_accounts being a 60 MB relation file), and the exporter's
# log line must say it compressed with the threads it was given.

use strict;
use warnings FATAL => 'all';

use File::Path qw(rmtree);
use PostgreSQL::Test::Utils;
use Test::More;

use RevrxTest;

my $s3 = RevrxTest::S3->start;

my @repos = (
	[ 'file', 'file://' . PostgreSQL::Test::Utils::tempdir('repo'), {}, undef ],
	[ 's3', $s3->repo_url('backup-test'), $s3->env, 0 ],
);

for my $r (@repos)
{
	my ($kind, $repo, $env, $threads) = @$r;
	note "repository: $kind ($repo)";

	my $node = RevrxTest::new_node("backup_$kind", timeout => 30,
		extra => defined $threads ? "revrx.backup_compress_workers = $threads\n" : '');
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION revrx');
	my $agent = RevrxTest::Agent->start($node, repo => $repo, env => $env);

	$node->command_ok([ 'pgbench', '-i', '-q', '-s', '5', 'postgres' ], "$kind: pgbench init");
	$node->safe_psql('postgres', 'CREATE TABLE marker(t text); INSERT INTO marker VALUES (\'before backup\')');
	my $bench = RevrxTest::start_pgbench($node, '-n', '-c', '2', '-j', '2', '-T', '8');
	my $id = $node->safe_psql('postgres', "SELECT revrx_backup_now('during load', wait => true)");
	like($id, qr/^\d{8}T\d{6}Z/, "$kind: backup $id taken during load");
	$bench->finish;
	my $expect_threads = $threads // 2;
	like(slurp_file($node->logfile),
		qr/revrx backup \Q$id\E exported: .*\n.*DETAIL:.*hashing and compressing \(zstd, $expect_threads compression threads\)/,
		"$kind: the exporter compressed with $expect_threads zstd threads");

	my $b = $node->safe_psql('postgres',
		"SELECT status || ' ' || label || ' ' || (stop_lsn > start_lsn) || ' ' || (original_bytes > 50000000) FROM revrx_backups() WHERE id = '$id'");
	is($b, 'complete during load true true', "$kind: revrx_backups() shows the complete backup");
	my $listed = RevrxTest::backups($agent->env);
	is(scalar(grep { $_->{id} eq $id } @$listed), 1, "$kind: revrx-agent list shows it");

	# more load after the backup, then archive everything
	$node->command_ok([ 'pgbench', '-n', '-c', '2', '-T', '4', 'postgres' ], "$kind: load after the backup");
	$node->safe_psql('postgres', "INSERT INTO marker VALUES ('after backup')");
	my $last = RevrxTest::switch_wal($node);
	ok(RevrxTest::wait_archived($node, $last, 120), "$kind: archived up to $last");
	my $dump = RevrxTest::dump($node);

	# disaster: the cluster and its spool are gone
	$agent->stop;
	$node->stop('immediate');
	rmtree($node->data_dir);
	rmtree(RevrxTest::spool_dir($node));
	ok(!-e $node->data_dir, "$kind: original data directory destroyed");

	my ($restored, $rc, $out, $err) = RevrxTest::restore_node("restored_$kind", $agent->env);
	is($rc, 0, "$kind: restore succeeded") or diag($err);
	ok(-f $restored->data_dir . '/global/pg_control', "$kind: pg_control restored");
	ok(-f $restored->data_dir . '/recovery.signal', "$kind: recovery configured");
	like(slurp_file($restored->data_dir . '/postgresql.auto.conf'),
		qr/restore_command = .*revrx-agent wal-fetch %f %p/, "$kind: restore_command uses wal-fetch");
	unlike(slurp_file($restored->data_dir . '/postgresql.auto.conf'), qr/S3RVER/,
		"$kind: no credentials written into the configuration");
	command_ok([ 'pg_verifybackup', '-n', $restored->data_dir ],
		"$kind: pg_verifybackup accepts the restored directory");

	RevrxTest::prepare_restored($restored);
	ok(RevrxTest::start_restored($restored, $env), "$kind: restored cluster recovered and promoted");
	is($restored->safe_psql('postgres', 'SELECT string_agg(t, \',\' ORDER BY t) FROM marker'),
		'after backup,before backup', "$kind: rows written after the backup were replayed from the archive");
	my $dump2 = RevrxTest::dump($restored);
	ok($dump2 eq $dump, "$kind: pg_dumpall of the restored cluster equals the original's");
	if ($dump2 ne $dump)
	{
		my @a = split /\n/, $dump;
		my @b = split /\n/, $dump2;
		for my $i (0 .. ($#a > $#b ? $#a : $#b))
		{
			no warnings 'uninitialized';
			if ($a[$i] ne $b[$i]) { diag("first difference at line $i:\n< $a[$i]\n> $b[$i]"); last; }
		}
	}
	$restored->stop;
}

done_testing();
