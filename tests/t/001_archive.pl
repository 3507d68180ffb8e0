# Continuous archiving under pgbench load, to a local directory and to S3:
# every segment from the first to the last switched one reaches the
# repository, and wal-fetch gives back exactly the bytes Postgres wrote.
# Also: each compression (zstd, gzip, lz4, none) round-trips, and
# revrx_status() reports what happened; an lz4 object's payload is what
# the lz4 tool reads, and a base backup taken with lz4 restores to a
# restore point recorded with lz4.

use strict;
use warnings FATAL => 'all';

use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;

use RevrxTest;

my $s3 = RevrxTest::S3->start;

my @repos = (
	[ 'file', 'file://' . PostgreSQL::Test::Utils::tempdir('repo'), {} ],
	[ 's3', $s3->repo_url('archive-test'), $s3->env ],
);

for my $r (@repos)
{
	my ($kind, $repo, $env) = @$r;
	note "repository: $kind ($repo)";

	my $node = RevrxTest::new_node("archive_$kind");
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION revrx');
	my $agent = RevrxTest::Agent->start($node, repo => $repo, env => $env);

	# load: enough to fill several segments, with switches in between
	$node->command_ok([ 'pgbench', '-i', '-q', '-s', '3', 'postgres' ], "$kind: pgbench init");
	$node->command_ok([ 'pgbench', '-n', '-c', '4', '-j', '2', '-T', '8', 'postgres' ],
		"$kind: pgbench load");
	my @compressions = ('zstd', 'gzip', 'lz4', 'none');
	for my $c (@compressions)
	{
		$node->safe_psql('postgres', "ALTER SYSTEM SET revrx.compression = '$c'; SELECT pg_reload_conf();");
		$node->command_ok([ 'pgbench', '-n', '-c', '2', '-T', '2', 'postgres' ], "$kind: load with $c");
		RevrxTest::switch_wal($node);
	}
	my $last = RevrxTest::switch_wal($node);
	ok(RevrxTest::wait_archived($node, $last, 180), "$kind: archived up to $last");

	# every segment is stored and comes back byte for byte
	my @segments = RevrxTest::segments_between('000000010000000000000001', $last);
	cmp_ok(scalar(@segments), '>=', 6, "$kind: load produced " . scalar(@segments) . " segments");
	my ($missing, $different) = RevrxTest::verify_archive($node, $agent->env, $segments[0], $last);
	my $fetchdir = PostgreSQL::Test::Utils::tempdir("fetch_$kind");
	is($missing, 0, "$kind: no segment missing from the repository");
	is($different, 0, "$kind: every fetched segment is byte-identical to the original");

	# each compression left its kind of object
	if ($kind eq 'file')
	{
		(my $dir = $repo) =~ s{^file://}{};
		my @objs = glob("$dir/wal/00000001/*");
		ok((grep { /\.zst$/ } @objs), 'zstd objects stored');
		ok((grep { /\.gz$/ } @objs), 'gzip objects stored');
		ok((grep { /\.lz4$/ } @objs), 'lz4 objects stored');
		ok((grep { m{/[0-9A-F]{24}$} } @objs), 'uncompressed objects stored');
		ok(-f "$dir/repo.json", 'repository records its cluster in repo.json');
		like(RevrxTest::slurp_bin("$dir/repo.json"),
			qr/"system_identifier": "\d+"/, 'repo.json names the system identifier');
	}

	# status as the DBA sees it
	ok(RevrxTest::wait_for(sub { RevrxTest::status($node)->{last_stored_wal} // '' ge $last }, 30,
		'agent status'), "$kind: revrx_status() shows the last stored segment");
	my $st = RevrxTest::status($node);
	cmp_ok($st->{last_archived_wal}, 'ge', $last, "$kind: last_archived_wal is $st->{last_archived_wal}");
	is($st->{agent_running}, JSON::PP::true(), "$kind: agent is seen running");
	is($st->{backlog_segments}, 0, "$kind: no backlog left");
	is($node->safe_psql('postgres', 'SELECT failed_count FROM pg_stat_archiver'), '0',
		"$kind: the archiver never had to retry");

	if ($kind eq 'file')
	{
		(my $dir = $repo) =~ s{^file://}{};

		# behind the 72-byte header, a plain LZ4 frame
		my ($obj) = grep { m{/[0-9A-F]{24}\.lz4$} } glob("$dir/wal/00000001/*");
		my ($seg) = $obj =~ m{/([0-9A-F]{24})\.lz4$};
		my $frame = substr(RevrxTest::slurp_bin($obj), 72);
		my ($plain, $lz4err) = ('', '');
		IPC::Run::run([ 'lz4', '-dc' ], '<', \$frame, '>', \$plain, '2>', \$lz4err);
		is($?, 0, "lz4 -d reads the payload of $seg.lz4") or diag($lz4err);
		ok($plain eq RevrxTest::slurp_bin($node->data_dir . "/pg_wal/$seg"),
			"and gives back pg_wal/$seg");

		# a base backup with lz4: stored as .lz4 objects, and it restores to
		# a restore point (restore_points/<name>.json.lz4) in .lz4 WAL
		$node->safe_psql('postgres',
			"ALTER SYSTEM SET revrx.compression = 'lz4'; SELECT pg_reload_conf();");
		$node->safe_psql('postgres', "CREATE TABLE lz4_marker(t text); INSERT INTO lz4_marker VALUES ('before')");
		my $id = $node->safe_psql('postgres', "SELECT revrx_backup_now('lz4', wait => true)");
		like($id, qr/^\d{8}T\d{6}Z/, "lz4: backup $id taken");
		ok(-f "$dir/backup/$id/backup.json.lz4", 'lz4: the backup record is backup.json.lz4');
		my @data = glob("$dir/backup/$id/data/base/*/*");
		ok(@data && !grep({ !/\.lz4$/ } @data), 'lz4: every data file is an .lz4 object');
		$node->safe_psql('postgres', "INSERT INTO lz4_marker VALUES ('after')");
		$node->safe_psql('postgres', "SELECT revrx_restore_point('lz4rp')");
		$node->safe_psql('postgres', "INSERT INTO lz4_marker VALUES ('too late')");
		my $end = RevrxTest::switch_wal($node);
		ok(RevrxTest::wait_archived($node, $end, 60), "lz4: archived up to $end");
		ok(RevrxTest::wait_for(sub { -f "$dir/restore_points/lz4rp.json.lz4" }, 60, 'lz4rp'),
			'lz4: the restore point is restore_points/lz4rp.json.lz4');

		my ($restored, $rc, $out, $err) = RevrxTest::restore_node('restored_lz4', $agent->env,
			'--target-name', 'lz4rp');
		is($rc, 0, 'lz4: restore succeeded') or diag($err);
		like($err, qr/restored backup \Q$id\E /, "lz4: backup $id was restored");
		RevrxTest::prepare_restored($restored);
		ok(RevrxTest::start_restored($restored, $env), 'lz4: restored cluster recovered and promoted');
		is($restored->safe_psql('postgres', "SELECT string_agg(t, ',' ORDER BY t) FROM lz4_marker"),
			'after,before', 'lz4: the backup and the WAL up to the restore point were replayed');
		$restored->stop;
	}

	# a segment that was never archived is "not found", quickly
	my ($rc, $out, $err) = RevrxTest::run_agent($agent->env, 'wal-fetch',
		'0000000100000000000000FF', "$fetchdir/nope");
	is($rc, 1, "$kind: wal-fetch of a missing segment exits 1");
	ok(!-e "$fetchdir/nope", "$kind: and writes nothing");
	($rc, $out, $err) = RevrxTest::run_agent($agent->env, 'wal-fetch', '00000005.history', "$fetchdir/h");
	is($rc, 1, "$kind: wal-fetch of a missing history file exits 1");

	$agent->stop;
	$node->stop;
}

done_testing();
