# Incremental backups from WAL summaries (PostgreSQL 17 and later).
#
# With summarize_wal on: a full backup, a few rows of a small table
# changed, three rows of a big table changed and another big table left
# alone, a third table cut short by DELETE and VACUUM (a truncation: the
# summaries' limit block), then an incremental.  Its record must say it
# used the WAL summaries, must not have read the untouched big table (its
# record takes the parent's size and digest), must have read only the
# named blocks of the big table with three rows changed (a sparse delta,
# with no digest of the file; the blocks read are fewer than a quarter of
# that table's), and the chain must restore into a directory
# pg_verifybackup accepts, its backup_manifest with a checksum for every
# file, with exactly the source's data.  The next incremental, the sparse
# table untouched, records it as sparse again, unread, and restores with
# --delta into the first restored directory (the sparse files rewritten).  With summarize_wal off, and with the summary files
# removed, the next incrementals fall back to the page LSN scan, say why,
# and the whole chain still restores exactly.

use strict;
use warnings FATAL => 'all';

use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;

use RevrxTest;

my $node = RevrxTest::new_node('walsum', timeout => 30, compression => 'none',
	extra => "summarize_wal = on\nautovacuum = off\n");
if ($node->pg_version < 17)
{
	plan skip_all => 'WAL summaries need PostgreSQL 17 or later (this is ' . $node->pg_version . ')';
}
my $repodir = PostgreSQL::Test::Utils::tempdir('repo');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION revrx');
my $agent = RevrxTest::Agent->start($node, repo => "file://$repodir");
my $env = $agent->env;

sub record { return RevrxTest::backup_record($repodir, @_); }
sub path_of { return $node->safe_psql('postgres', "SELECT pg_relation_filepath('$_[0]')"); }
sub blocks_of { return $node->safe_psql('postgres', "SELECT pg_relation_size('$_[0]') / 8192"); }

$node->safe_psql('postgres', q{
	CREATE TABLE cold AS SELECT g AS id, repeat('c', 200) AS pad FROM generate_series(1, 40000) g;
	CREATE TABLE warm AS SELECT g AS id, repeat('w', 200) AS pad FROM generate_series(1, 40000) g;
	CREATE TABLE hot (id int PRIMARY KEY, v int);
	INSERT INTO hot SELECT g, 0 FROM generate_series(1, 1000) g;
	CREATE TABLE shrink AS SELECT g AS id, repeat('s', 200) AS pad FROM generate_series(1, 20000) g;
	VACUUM;
});
my ($cold, $warm, $hot, $shrink) = map { path_of($_) } qw(cold warm hot shrink);
my $cold_blocks = blocks_of('cold');
my $warm_blocks = blocks_of('warm');
my $shrink_blocks = blocks_of('shrink');

my $b1 = $node->safe_psql('postgres', "SELECT revrx_backup_now('full', wait => true)");
my $r1 = record($b1);
is($r1->{kind}, 'full', "backup $b1 is full");

# --- known changes: ten rows of hot; shrink cut to a quarter
$node->safe_psql('postgres', 'UPDATE hot SET v = v + 1 WHERE id <= 10');
$node->safe_psql('postgres', "UPDATE warm SET pad = repeat('x', 200) WHERE id IN (1, 20000, 39000)");
$node->safe_psql('postgres', 'DELETE FROM shrink WHERE id > 5000');
$node->safe_psql('postgres', 'VACUUM shrink');
my $shrunk = blocks_of('shrink');
cmp_ok($shrunk, '<', $shrink_blocks, "VACUUM truncated shrink ($shrink_blocks to $shrunk blocks)");

my $b2 = $node->safe_psql('postgres', "SELECT revrx_backup_now('summaries', true, incremental => true)");
my $r2 = record($b2);
is($r2->{parent}, $b1, "backup $b2 is incremental to $b1");
is($r2->{block_source}, 'wal-summaries', 'it took the changed blocks from the WAL summaries')
  or diag "reason: " . ($r2->{block_source_reason} // 'none');
is($r2->{block_source_reason}, undef, '... and gives no reason to fall back');
like(slurp_file($node->logfile), qr/revrx backup \Q$b2\E takes the changed blocks from \d+ WAL summaries/,
	'the log says so');

my $d = $r2->{delta};
cmp_ok($d->{files_unread}, '>', 0, "$d->{files_unread} of $d->{files} relation files were not read");
cmp_ok($d->{blocks_read}, '<', $warm_blocks / 4,
	"it read $d->{blocks_read} blocks, fewer than a quarter of the changed big table's $warm_blocks");
cmp_ok($d->{files_sparse}, '>', 0, "$d->{files_sparse} relation files were read at their named blocks only");
like(slurp_file($node->logfile), qr/revrx backup \Q$b2\E exported: .* (\d+) read at their named blocks only/,
	'the log counts them');
my $w2 = RevrxTest::file_entry($r2, $warm);
ok($w2->{delta} && $w2->{sparse}, 'the big table with three rows changed is a sparse delta');
ok(!exists $w2->{sha256}, '... with no digest of the file, which was not read whole');
like($w2->{object_sha256} // '', qr/^[0-9a-f]{64}$/, '... but with its delta object\'s digest, which binds it to the record');
is($r2->{format}, 2, 'a record with sparse files is format 2 (older agents refuse it by its format)');
is($r1->{format}, 1, 'a record without is format 1');
cmp_ok($w2->{stored}, '<', 16 * 8192, "... of a few pages ($w2->{stored} bytes)");
is($w2->{size}, $warm_blocks * 8192, '... and the file\'s size');
is($d->{pages_missed_by_summaries}, 0, 'no changed page was missing from the summaries');
my ($c1, $c2) = (RevrxTest::file_entry($r1, $cold), RevrxTest::file_entry($r2, $cold));
ok($c2->{delta} && $c2->{stored} < 200, "the untouched table is an empty delta ($c2->{stored} bytes)");
is($c2->{sha256}, $c1->{sha256},
	'... recorded with the digest of the parent\'s copy');
is($c2->{size}, $c1->{size}, '... and its size');
my $h2 = RevrxTest::file_entry($r2, $hot);
ok($h2->{delta} && $h2->{stored} < 10 * 8192, "the changed table's delta holds a few pages ($h2->{stored} bytes)");
is(RevrxTest::file_entry($r2, $shrink)->{size}, $shrunk * 8192, 'the truncated table is recorded at its new size');

my %listed = map { ($_->{id} => $_) } @{ RevrxTest::backups($env) };
is($listed{$b2}{block_source}, 'wal-summaries', 'revrx-agent list --json shows the block source');
my ($lrc, $lout) = RevrxTest::run_agent($env, 'list');
like($lout, qr/\Q$b2\E.*wal-summaries/, 'and so does its table');

# restores the chain ending at $id (into $into with --delta, if given, a
# restored node stopped) and compares it with the source; returns the node
sub check_restore
{
	my ($name, $id, $into) = @_;
	my $last = RevrxTest::switch_wal($node);
	ok(RevrxTest::wait_archived($node, $last, 120), "archived up to $last");
	my $dump = RevrxTest::dump($node);
	my ($copy, $rc, $out, $err);
	if ($into)
	{
		$copy = $into;
		($rc, $out, $err) = RevrxTest::run_agent($env, 'restore', '--pgdata', $copy->data_dir,
			'--delta', '--backup', $id);
		like($out, qr/kept [1-9]\d* files .*rewrote [1-9]\d* files/,
			'--delta kept files and rewrote others') or diag $out;
	}
	else
	{
		($copy, $rc, $out, $err) = RevrxTest::restore_node($name, $env, '--backup', $id);
	}
	is($rc, 0, "restore of $id") or diag $err;
	my ($vout, $verr) = ('', '');
	IPC::Run::run([ 'pg_verifybackup', '-n', $copy->data_dir ], '>', \$vout, '2>', \$verr);
	is($?, 0, 'pg_verifybackup accepts the rebuilt directory') or diag "$vout$verr";
	my @unchecked = grep { /"Path"/ && !/"Checksum"/ }
	  split /\n/, slurp_file($copy->data_dir . '/backup_manifest');
	is(scalar(@unchecked), 0, 'its backup_manifest has a checksum for every file')
	  or diag "@unchecked";
	RevrxTest::prepare_restored($copy);
	$copy->append_conf('postgresql.conf', "shared_preload_libraries = ''\nsummarize_wal = off\n");
	ok(RevrxTest::start_restored($copy, $env), 'it starts and replays the archive');
	ok(RevrxTest::dump($copy) eq $dump, 'with exactly the data of the source');
	is($copy->safe_psql('postgres', 'SELECT count(*), max(id) FROM shrink'), '5000|5000',
		'the truncated table has exactly its remaining rows');
	$copy->stop;
	return $copy;
}
my $copy2 = check_restore('walsum_copy2', $b2);

# --- the whole copy a sparse file is rebuilt from is checked by its own
# digest: damaged in a block no delta replaces (sound in storage, the
# content not the one its header names), the restore refuses
my ($sysid) = slurp_file("$repodir/repo.json") =~ /"system_identifier":\s*"(\d+)"/;
my $w1 = RevrxTest::file_entry($r1, $warm);
my $w1_path = "$repodir/$w1->{key}";
my $w1_saved = RevrxTest::slurp_bin($w1_path);
my $w1_content = substr($w1_saved, 72);
is(length($w1_content), $w1->{size}, "the full backup's copy of the sparse table is stored plain");
substr($w1_content, 300 * 8192 + 4000, 1) = chr(ord(substr($w1_content, 300 * 8192 + 4000, 1)) ^ 0x10);
RevrxTest::write_object($w1_path, $w1_content, $sysid, pack('H*', $w1->{sha256}));
my ($bad, $rcb, $outb, $errb) = RevrxTest::restore_node('walsum_bad', $env, '--backup', $b2);
isnt($rcb, 0, "restore of $b2 fails with the whole copy of its sparse file damaged");
like($errb, qr/\Q$w1->{key}\E.*SHA-256 of the content does not match/s,
	'... naming that copy and what is wrong with it') or diag $errb;
RevrxTest::write_bin($w1_path, $w1_saved);

# --- the sparse table untouched: sparse again, unread, over its parent's delta
$node->safe_psql('postgres', 'UPDATE hot SET v = v + 1 WHERE id = 500');
my $b2b = $node->safe_psql('postgres', "SELECT revrx_backup_now(NULL, true, incremental => true)");
my $r2b = record($b2b);
is($r2b->{parent}, $b2, "backup $b2b is incremental to $b2");
my $w2b = RevrxTest::file_entry($r2b, $warm);
ok($w2b->{delta} && $w2b->{sparse} && !exists $w2b->{sha256} && $w2b->{stored} < 200,
	"the sparse table, untouched, is an empty sparse delta ($w2b->{stored} bytes)");
check_restore('walsum_copy2', $b2b, $copy2);

# --- a drill of that chain still proves it by the fingerprints taken at backup
RevrxTest::wait_for(sub { scalar glob("$repodir/backup/$b2b/fingerprints.json*") }, 60,
	"the fingerprints of backup $b2b in the repository");
my $fp_last = RevrxTest::switch_wal($node);
ok(RevrxTest::wait_archived($node, $fp_last, 120), "archived up to $fp_last");
my $report = "$PostgreSQL::Test::Utils::tmp_check/drill.json";
my ($drc, $dout, $derr) = RevrxTest::run_agent($env, 'verify', '--backup', $b2b,
	'--scratch', PostgreSQL::Test::Utils::tempdir('scratch') . '/drill', '--report', $report);
is($drc, 0, "a drill of $b2b (sparse files in its chain) passes") or diag $derr;
my $drill = -f $report ? JSON::PP::decode_json(slurp_file($report)) : {};
my %checks = map { ($_->{name} => $_) } @{ $drill->{checks} // [] };
ok($checks{$_} && $checks{$_}{passed} && !$checks{$_}{skipped}, "... its check $_ passed")
  for qw(pg_verifybackup fingerprints);

# --- summarize_wal off: the page LSN scan, and why
$node->safe_psql('postgres', 'ALTER SYSTEM SET summarize_wal = off');
$node->reload;
$node->safe_psql('postgres', 'UPDATE hot SET v = v + 1 WHERE id > 990');
my $b3 = $node->safe_psql('postgres', "SELECT revrx_backup_now('no summaries', true, incremental => true)");
my $r3 = record($b3);
is($r3->{parent}, $b2b, "backup $b3 is incremental to $b2b");
is($r3->{block_source}, 'page-lsn-scan', 'with summarize_wal off it reads every page');
is($r3->{block_source_reason}, 'summarize_wal is off', '... and says why');
is($r3->{delta}{files_unread}, 0, '... every relation file');
cmp_ok($r3->{delta}{blocks_read}, '>=', $cold_blocks, "($r3->{delta}{blocks_read} blocks read)");
like(slurp_file($node->logfile), qr/revrx backup \Q$b3\E reads every page of the relation files: summarize_wal is off/,
	'the log says why');

# --- summaries removed: the range is not covered
$node->safe_psql('postgres', 'ALTER SYSTEM SET summarize_wal = on');
$node->reload;
my $b4 = $node->safe_psql('postgres', "SELECT revrx_backup_now(NULL, true, incremental => true)");
$node->safe_psql('postgres', 'INSERT INTO hot SELECT g, 1 FROM generate_series(1001, 1100) g');
$node->safe_psql('postgres', 'CHECKPOINT');
$node->poll_query_until('postgres',
	"SELECT summarized_lsn >= (SELECT redo_lsn FROM pg_control_checkpoint()) FROM pg_get_wal_summarizer_state()")
  or die 'the summarizer does not catch up';
my $sumdir = $node->data_dir . '/pg_wal/summaries';
my @removed = glob("$sumdir/*.summary");
unlink @removed;
ok(@removed > 0, 'summary files removed (' . scalar(@removed) . ')');
my $b5 = $node->safe_psql('postgres', "SELECT revrx_backup_now(NULL, true, incremental => true)");
my $r5 = record($b5);
is($r5->{parent}, $b4, "backup $b5 is incremental to $b4");
is($r5->{block_source}, 'page-lsn-scan', 'without the summaries of its range it reads every page');
like($r5->{block_source_reason}, qr/WAL summaries of timeline 1 do not cover/, '... and says why')
  or diag $r5->{block_source_reason};

check_restore('walsum_copy5', $b5);

done_testing();
