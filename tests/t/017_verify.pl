# The restore drill, `revrx-agent verify`: a good backup passes with a
# timing for every phase, the report is stored in the repository and
# published by `revrx-agent run` in status/verifications.json; each
# injected fault turns the drill red with a message naming the cause:
#   (a) a flipped byte in a stored data object,
#   (b) a WAL segment missing inside the range the drill target needs,
#   (c) a btree index with broken key order (cluster without checksums),
#   (d) a failing user check (pg_regress --checks DIR),
#   (e) a table that differs from the backup's fingerprints.
# After every drill the scratch directory and the drill server are gone,
# and the production spool and the repository's WAL got nothing from it.
#
# The backup's fingerprints object (backup/<id>/fingerprints.json) is the
# one the server takes after the backup (extension/fingerprint.c).

use strict;
use warnings FATAL => 'all';

use Compress::Zlib;
use File::Copy qw(move);
use File::Path qw(rmtree);
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;

use RevrxTest;

my $checks_dir = "$RevrxTest::src/tests/t/verify_checks";

# The backup's fingerprints, as the server took them after the backup and
# the agent stored them (backup/<id>/fingerprints.json).  Returns the
# document.
sub backup_fingerprints
{
	my ($node, $repodir, $id) = @_;
	my $found;
	RevrxTest::wait_for(sub { ($found) = glob("$repodir/backup/$id/fingerprints.json*"); $found },
		60, 'the server\'s fingerprints in the repository');
	die "backup $id got no fingerprints" unless $found;
	my $obj = RevrxTest::slurp_bin($found);
	my $payload = substr($obj, 72);
	my $comp = ord(substr($obj, 6, 1));
	if ($comp == 2)
	{
		my $tmp = "$PostgreSQL::Test::Utils::tmp_check/fp.zst";
		RevrxTest::write_bin($tmp, $payload);
		$payload = `zstd -dc '$tmp'`;
	}
	elsif ($comp == 1)
	{
		$payload = Compress::Zlib::memGunzip($payload);
	}
	return decode_json($payload);
}

my $run = 0;

# Runs a drill; returns (exit code, report, stdout, stderr, scratch dir).
sub drill
{
	my ($env, %o) = @_;
	my $scratch = PostgreSQL::Test::Utils::tempdir('scratch') . '/drill' . ++$run;
	my $report = "$PostgreSQL::Test::Utils::tmp_check/report$run.json";
	my ($rc, $out, $err) = RevrxTest::run_agent({ %$env, %{ $o{env} // {} } }, 'verify',
		'--scratch', $scratch, '--report', $report, @{ $o{args} // [] });
	my $doc = -f $report ? decode_json(slurp_file($report)) : {};
	note "verify exit $rc\n$out";
	diag($err) if $rc != ($o{expect_rc} // 0);
	return ($rc, $doc, $out, $err, $scratch);
}

sub check_named
{
	my ($doc, $name) = @_;
	my ($c) = grep { $_->{name} eq $name } @{ $doc->{checks} // [] };
	return $c // {};
}

# Nothing of the drill is left behind: no scratch, no server on it.
sub nothing_left
{
	my ($scratch, $what) = @_;
	ok(!-e $scratch, "$what: scratch directory removed");
	my $ps = `ps -eo args`;
	ok($ps !~ /\Q$scratch\E/, "$what: no drill server left running");
	return;
}

# ---------------------------------------------------------------- a good backup

my $repodir = PostgreSQL::Test::Utils::tempdir('repo');
my $node = RevrxTest::new_node('verify', timeout => 30);
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION revrx');
# a long catalog period: the drill must still show up within seconds
my $agent = RevrxTest::Agent->start($node, repo => "file://$repodir",
	env => { REVRX_CATALOG_REFRESH_S => 3600 });
my $env = { REVRX_REPO => "file://$repodir" };

$node->safe_psql('postgres', q{
	CREATE TABLE t(id int PRIMARY KEY, v text);
	INSERT INTO t SELECT i, md5(i::text) FROM generate_series(1, 1000) i;
	CREATE TABLE marker(v text);
	INSERT INTO marker VALUES ('intact');
});
my $id = $node->safe_psql('postgres', "SELECT revrx_backup_now('drill', wait => true)");
like($id, qr/^\d{8}T\d{6}Z/, "backup $id taken");
my $fp_doc = backup_fingerprints($node, $repodir, $id);
my $ntables = scalar @{ $fp_doc->{tables} };
ok($ntables >= 2, "backup $id has fingerprints of $ntables tables at $fp_doc->{lsn}");
# the segment holding the fingerprint restore point: the drill needs it
my $fp_segment = $node->safe_psql('postgres', "SELECT pg_walfile_name('$fp_doc->{lsn}')");
# written after the restore point: not in the drill's copy
for my $range ([ 1001, 1500 ], [ 1501, 2000 ])
{
	$node->safe_psql('postgres',
		"INSERT INTO t SELECT i, md5(i::text) FROM generate_series($range->[0], $range->[1]) i");
	RevrxTest::switch_wal($node);
}
my $last = RevrxTest::switch_wal($node);
ok(RevrxTest::wait_archived($node, $last, 120), "WAL archived up to $last");

my $spool = RevrxTest::spool_dir($node);
my ($rc, $doc, $out, $err, $scratch) = drill($env, args => [ '--checks', $checks_dir ]);
is($rc, 0, 'good backup: the drill passes');
is($doc->{passed}, JSON::PP::true, 'good backup: report says passed');
is($doc->{backup_id}, $id, 'good backup: the newest backup was drilled');
for my $phase (qw(restore pg_verifybackup recovery checks))
{
	ok(defined $doc->{phases}{$phase}{seconds}, "good backup: phase $phase is timed");
}
ok($doc->{phases}{restore}{bytes} > 1_000_000, 'good backup: bytes restored are reported');
ok($doc->{wal_replayed_bytes} > 0, 'good backup: WAL replayed is reported');
ok(defined $doc->{replay_mb_per_s}, 'good backup: replay rate is reported');
ok($doc->{total_seconds} >= $doc->{phases}{restore}{seconds} + $doc->{phases}{recovery}{seconds} - 0.01,
	'good backup: total = restore + recovery');
like($doc->{target}, qr/revrx-fp-\Q$id\E/, 'good backup: recovered to the fingerprint restore point');
for my $c (qw(restore pg_verifybackup recovery fingerprints amcheck row_counts user_checks pg_checksums))
{
	my $check = check_named($doc, $c);
	ok($check->{passed} && !$check->{skipped} && defined $check->{seconds}, "good backup: check $c passed")
	  or diag(explain $check);
}
like(check_named($doc, 'fingerprints')->{message}, qr/^$ntables tables/, 'good backup: every table fingerprinted');
# the row after the restore point is not in the copy: the target was exact
my ($t_rows) = grep { $_->{database} eq 'postgres' } @{ check_named($doc, 'row_counts')->{details}{databases} };
is($t_rows->{table_rows}{'public.t'}, 1000, 'good backup: recovery stopped exactly at the restore point');
like($out, qr/PASSED/, 'good backup: summary on stdout');
ok($doc->{report_key} && -f "$repodir/$doc->{report_key}", "good backup: report stored in the repository ($doc->{report_key})");
like($doc->{report_key} // '', qr{^backup/\Q$id\E/verify/\d{8}T\d{6}Z\.json\.zst$}, 'good backup: report key');
nothing_left($scratch, 'good backup');

# the catalog still lists the backup, once; the daemon publishes the drill
my @listed = grep { $_->{id} eq $id } @{ RevrxTest::backups($env) };
is(scalar(@listed), 1, 'extra keys below backup/<id>/ do not confuse the catalog');
my $vfile = "$spool/status/verifications.json";
ok( RevrxTest::wait_for(
		sub { -f $vfile && slurp_file($vfile) =~ /\Q$doc->{report_key}\E/ }, 30,
		'status/verifications.json'),
	'revrx-agent run publishes the drill in status/verifications.json within seconds');
my $pub = -f $vfile ? decode_json(slurp_file($vfile)) : {};
my $v0 = $pub->{verifications}[0] // {};
is($v0->{backup_id}, $id, 'published: backup id');
is($v0->{passed}, JSON::PP::true, 'published: passed');
ok(defined $v0->{recovery_seconds} && defined $v0->{total_seconds}, 'published: timings');
is($node->safe_psql('postgres',
		"SELECT passed, total_seconds >= recovery_seconds, total_seconds > 0 FROM revrx_verifications() "
		  . "WHERE report_key = '$doc->{report_key}'"),
	't|t|t', 'revrx_verifications() on the primary shows the drill, passed, with its recovery time');
is($node->safe_psql('postgres', 'SELECT last_verification_passed FROM revrx_status()'), 't',
	'and revrx_status() says the last drill passed');

# ---------------------------------------------------------------- (e)+(d) changed data

($rc, $doc, $out, $err, $scratch) = drill($env, expect_rc => 7,
	args => [ '--checks', $checks_dir ],
	env => { REVRX_TEST_VERIFY_HOOK_SQL => "UPDATE public.marker SET v = 'broken'" });
is($rc, 7, 'changed row: the drill fails with exit code 7');
is($doc->{passed}, JSON::PP::false, 'changed row: report says failed');
my $fp = check_named($doc, 'fingerprints');
ok(!$fp->{passed}, 'changed row: fingerprints check failed');
like($fp->{message}, qr/public\.marker \(rows 1 expected, 1 found; hash \w+ expected, \w+ found\)/,
	'changed row: the message names the table, rows and hashes');
unlike($fp->{message}, qr/public\.t\b/, 'changed row: unchanged tables match');
my $uc = check_named($doc, 'user_checks');
ok(!$uc->{passed}, 'failing user check: user_checks failed');
like($uc->{message}, qr/data.*FAILED|failed/s, 'failing user check: pg_regress says which failed');
like($uc->{message}, qr/\+ broken/, 'failing user check: the regression diff is in the report');
is_deeply([ sort @{ $doc->{failed_checks} } ], [ 'fingerprints', 'user_checks' ],
	'changed row: only these checks failed');
nothing_left($scratch, 'changed row');

# ---------------------------------------------------------------- interrupted

# SIGTERM while the drill server runs (the test hook holds it there for a
# few seconds): the server is stopped and the scratch directory removed.
{
	my $scratch = PostgreSQL::Test::Utils::tempdir('scratch') . '/interrupted';
	my ($iout, $ierr) = ('', '');
	local %ENV = RevrxTest::clean_env(%$env, REVRX_TEST_VERIFY_HOOK_SQL => 'SELECT pg_sleep(4)');
	my $h = IPC::Run::start([ RevrxTest::agent_bin(), 'verify', '--scratch', $scratch ],
		'<', \undef, '>', \$iout, '2>', \$ierr);
	ok(RevrxTest::wait_for(sub { $h->pump_nb; -f "$scratch/pgdata/postmaster.pid" && $ierr =~ /HOOK_SQL is set/ }, 60,
			'the drill server'), 'interrupted: the drill server runs');
	$h->signal('TERM');
	$h->finish;
	is($? >> 8, 7, 'interrupted: the drill fails with exit code 7');
	like($iout, qr/FAILED:.*interrupted/, 'interrupted: the summary says so');
	nothing_left($scratch, 'interrupted');
}

# ---------------------------------------------------------------- (a) a flipped byte

my ($victim) = sort { -s $b <=> -s $a } glob("$repodir/backup/$id/data/base/5/*");
my $victim_key = substr($victim, length($repodir) + 1);
my $orig = RevrxTest::slurp_bin($victim);
my $bad = $orig;
substr($bad, 100, 1) = chr(ord(substr($bad, 100, 1)) ^ 0x01);
RevrxTest::write_bin($victim, $bad);
($rc, $doc, $out, $err, $scratch) = drill($env, expect_rc => 7);
is($rc, 7, 'flipped byte: the drill fails with exit code 7');
my $rs = check_named($doc, 'restore');
ok(!$rs->{passed}, 'flipped byte: restore failed');
like($rs->{message}, qr/\Q$victim_key\E/, 'flipped byte: the message names the object');
ok(!check_named($doc, 'recovery')->{name}, 'flipped byte: no recovery was attempted');
ok(-f "$repodir/$doc->{report_key}", 'flipped byte: the failed drill is stored too');
nothing_left($scratch, 'flipped byte');
RevrxTest::write_bin($victim, $orig);

# ---------------------------------------------------------------- (b) a missing segment

my $gone = $fp_segment;
my ($segobj) = glob("$repodir/wal/00000001/$gone*");
ok($segobj, "segment $gone is in the repository");
move($segobj, "$segobj.aside") or die "move: $!";
($rc, $doc, $out, $err, $scratch) = drill($env, expect_rc => 7);
is($rc, 7, 'missing WAL: the drill fails with exit code 7');
my $rec = check_named($doc, 'recovery');
ok(!$rec->{passed}, 'missing WAL: recovery failed');
like($rec->{message}, qr/WAL segment \Q$gone\E is missing/, 'missing WAL: the message names the segment');
like($rec->{details}{log} // '', qr/FATAL/, 'missing WAL: the server log lines are in the report');
nothing_left($scratch, 'missing WAL');
move("$segobj.aside", $segobj) or die "move back: $!";

# the drills wrote nothing for production: no new timeline in the spool or the repository
my @tli2 = (glob("$repodir/wal/00000002*"), glob("$repodir/wal/*/00000002*"));
is(scalar(@tli2), 0, 'no WAL of a drill server reached the repository');
my @spool_tli2 = grep { /00000002/ } glob("$spool/wal/*");
is(scalar(@spool_tli2), 0, 'no WAL of a drill server reached the spool');
my @spool_backups = grep { !/\Q$id\E/ } glob("$spool/backup/*");
is(scalar(@spool_backups), 0, 'no backup of a drill server reached the spool');

$agent->stop;
$node->stop;

# ---------------------------------------------------------------- (c) a broken index

my $repo2 = PostgreSQL::Test::Utils::tempdir('repo2');
# no fingerprints here: the drill then recovers to the end of the backup
my $node2 = RevrxTest::new_node('verify_nocks', timeout => 30,
	extra => "revrx.fingerprint_database = ''\n");
command_ok([ 'pg_checksums', '--disable', '-D', $node2->data_dir ], 'cluster without data checksums');
$node2->start;
$node2->safe_psql('postgres', q{
	CREATE EXTENSION revrx;
	CREATE EXTENSION pageinspect;
	CREATE TABLE c(i int);
	INSERT INTO c SELECT generate_series(1, 1000);
	CREATE INDEX c_i ON c(i);
	CHECKPOINT;
});
my $agent2 = RevrxTest::Agent->start($node2, repo => "file://$repo2");
# a leaf page and one of its keys, located with pageinspect
my $blk = $node2->safe_psql('postgres',
	"SELECT blkno FROM generate_series(1, 3) blkno WHERE (bt_page_stats('c_i', blkno)).type = 'l' LIMIT 1");
my $relpath = $node2->data_dir . '/' . $node2->safe_psql('postgres', "SELECT pg_relation_filepath('c_i')");
$node2->stop;
{
	my $data = RevrxTest::slurp_bin($relpath);
	my $page = substr($data, $blk * 8192, 8192);
	my $lp = unpack('V', substr($page, 24 + 4 * (20 - 1), 4));    # item 20
	my $off = $lp & 0x7FFF;
	# the int4 key follows the 8-byte index tuple header: make it the largest
	substr($page, $off + 8, 4) = pack('V', 2_000_000);
	substr($data, $blk * 8192, 8192) = $page;
	RevrxTest::write_bin($relpath, $data);
}
$node2->start;
my $id2 = $node2->safe_psql('postgres', "SELECT revrx_backup_now('broken index', wait => true)");
like($id2, qr/^\d{8}T\d{6}Z/, "backup $id2 of the broken index");
($rc, $doc, $out, $err, $scratch) = drill({ REVRX_REPO => "file://$repo2" }, expect_rc => 7);
is($rc, 7, 'broken index: the drill fails with exit code 7');
my $am = check_named($doc, 'amcheck');
ok(!$am->{passed}, 'broken index: amcheck failed');
like($am->{message}, qr/c_i/, 'broken index: the message names the index');
like(check_named($doc, 'fingerprints')->{message}, qr/no fingerprints/, 'no fingerprints: check skipped with the reason');
like($doc->{target}, qr/immediate/, 'no fingerprints: the drill recovers to the end of the backup');
my $ck = check_named($doc, 'pg_checksums');
ok($ck->{skipped} && $ck->{message} =~ /no data checksums/, 'no data checksums: pg_checksums skipped with a note');
ok(check_named($doc, 'restore')->{passed} && check_named($doc, 'recovery')->{passed},
	'broken index: restore and recovery themselves passed');
nothing_left($scratch, 'broken index');

$agent2->stop;
$node2->stop;

# ---------------------------------------------------------------- S3

# the same drill against S3: the drill server's wal-fetch finds the
# credentials in its environment, the report goes into the bucket
my $s3 = RevrxTest::S3->start;
my $s3env = { %{ $s3->env }, REVRX_REPO => $s3->repo_url('verify') };
my $node3 = RevrxTest::new_node('verify_s3', timeout => 30, extra => "revrx.fingerprint_database = ''\n");
$node3->start;
$node3->safe_psql('postgres', 'CREATE EXTENSION revrx; CREATE TABLE s AS SELECT generate_series(1, 500) i');
my $agent3 = RevrxTest::Agent->start($node3, repo => $s3->repo_url('verify'),
	env => { %{ $s3->env }, REVRX_CATALOG_REFRESH_S => 1 });
my $id3 = $node3->safe_psql('postgres', "SELECT revrx_backup_now('s3', wait => true)");
$node3->safe_psql('postgres', 'INSERT INTO s VALUES (501)');
($rc, $doc, $out, $err, $scratch) = drill($s3env);
is($rc, 0, 'S3: the drill passes');
is($doc->{backup_id}, $id3, 'S3: the newest backup was drilled');
ok(check_named($doc, 'pg_checksums')->{passed} && !check_named($doc, 'pg_checksums')->{skipped},
	'S3: page checksums verified');
ok($doc->{report_key} && -f $s3->object_path('verify', $doc->{report_key}), 'S3: report stored in the bucket');
nothing_left($scratch, 'S3');
my $vfile3 = RevrxTest::spool_dir($node3) . '/status/verifications.json';
ok( RevrxTest::wait_for(
		sub { -f $vfile3 && slurp_file($vfile3) =~ /\Q$doc->{report_key}\E/ }, 30,
		'status/verifications.json of the S3 node'),
	'S3: the catalog refresh (REVRX_CATALOG_REFRESH_S) publishes the drill');
$agent3->stop;
$node3->stop;

done_testing();
