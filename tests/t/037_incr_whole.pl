# A relation file mostly changed is stored whole in an incremental, and a
# chain mixing whole copies and deltas of one file restores
# (docs/incremental.md, "Files stored whole").
#
# Table A (fillfactor 50, so an update stays on its page) and table B
# (589 pages, several of the exporter's 1 MB reads) are backed up full.
# Three rows of A change, and every row of B (UPDATE, then VACUUM: every
# page of B changes and the file doubles).  The first incremental must hold
# A as a delta of exactly the pages those rows are on, read from the
# object's own index, and B whole: the page LSN scan only knows B is mostly
# changed half way through, so the exporter restarted B's object and read
# its first chunks again (blocks_reread counts them).  Then every row of A
# changes and three of B: the second incremental holds A whole (known at
# its first chunk: nothing read twice) and B as a delta over the first
# incremental's whole copy.  The chain full -> incr 1 -> incr 2 restores:
# A from incr 2 alone, B from incr 1's whole copy and incr 2's delta (the
# full backup's copy would not give the recorded SHA-256: restore checks
# every rebuilt file), pg_verifybackup accepts the directory, and started,
# it has the source's row counts and contents.  The first incremental
# alone (A a delta over the full backup) restores too.  Objects are zstd
# (the default), so a switch half way restarts the compressor mid-frame;
# a whole object is checked by its content: every byte of the file, with
# the recorded SHA-256.  On PostgreSQL 17 and later, with WAL summaries
# turned on, every row of B changes once more: B is whole again, decided
# from the summaries before it was read (nothing read twice).

use strict;
use warnings FATAL => 'all';

use Digest::SHA qw(sha256_hex);
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;

use RevrxTest;

my $repodir = PostgreSQL::Test::Utils::tempdir('repo');
my $node = RevrxTest::new_node('whole', timeout => 30, compression => 'zstd',
	extra => "autovacuum = off\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION revrx');
my $agent = RevrxTest::Agent->start($node, repo => "file://$repodir");
my $env = $agent->env;

# an object's content: after its 72-byte header, a zstd frame
sub content
{
	my ($key) = @_;
	my $frame = substr(RevrxTest::slurp_bin("$repodir/$key"), 72);
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'zstd', '-dc' ], '<', \$frame, '>', \$out, '2>', \$err)
	  or die "zstd -d of $key: $err";
	return $out;
}
sub record { return decode_json(content("backup/$_[0]/backup.json.zst")); }
sub path_of { return $node->safe_psql('postgres', "SELECT pg_relation_filepath('$_[0]')"); }
sub pages_of { return $node->safe_psql('postgres', "SELECT pg_relation_size('$_[0]') / 8192"); }

# the block numbers a delta object (uncompressed: 72-byte header) holds
sub delta_blocks
{
	my ($entry) = @_;
	my $bytes = content($entry->{key});
	my $trailer = substr($bytes, -20);
	is(substr($trailer, 16, 4), 'RVXD', "$entry->{path}'s object is a page delta");
	my $n = unpack('N', substr($trailer, 8, 4));
	my $bs = unpack('N', substr($trailer, 12, 4));
	return unpack('N*', substr($bytes, $n * $bs, 4 * $n));
}

# the pages holding the given rows of a table
sub pages_of_rows
{
	my ($table, $ids) = @_;
	return split /\n/, $node->safe_psql('postgres',
		"SELECT DISTINCT (ctid::text::point)[0]::int FROM $table WHERE id IN ($ids) ORDER BY 1");
}

sub contents
{
	my ($n) = @_;
	return $n->safe_psql('postgres',
		"SELECT (SELECT count(*) || ' ' || md5(string_agg(a::text, ',' ORDER BY id)) FROM a a) || ' ' || "
		  . "(SELECT count(*) || ' ' || md5(string_agg(b::text, ',' ORDER BY id)) FROM b b)");
}

$node->safe_psql('postgres',
	"CREATE TABLE a (id int PRIMARY KEY, v int, pad text) WITH (fillfactor = 50);"
	  . "INSERT INTO a SELECT g, 0, repeat('a', 200) FROM generate_series(1, 2000) g;"
	  . "CREATE TABLE b (id int PRIMARY KEY, v int, pad text);"
	  . "INSERT INTO b SELECT g, 0, repeat('b', 200) FROM generate_series(1, 20000) g;"
	  . "VACUUM a; VACUUM b;");
my ($path_a, $path_b) = (path_of('a'), path_of('b'));
my $pages_b0 = pages_of('b');
cmp_ok($pages_b0, '>', 3 * 128, "b has $pages_b0 pages: several 1 MB reads");

my $full = $node->safe_psql('postgres', "SELECT revrx_backup_now('full', wait => true)");
is(record($full)->{kind}, 'full', "backup $full is full");

# --- three rows of A, every row of B
my @a_pages = pages_of_rows('a', '1, 1000, 1999');
$node->safe_psql('postgres', 'UPDATE a SET v = v + 1 WHERE id IN (1, 1000, 1999)');
my %a_touched = map { $_ => 1 } (@a_pages, pages_of_rows('a', '1, 1000, 1999'));
$node->safe_psql('postgres', 'UPDATE b SET v = v + 1');
$node->safe_psql('postgres', 'VACUUM b');
my $pages_b1 = pages_of('b');
cmp_ok($pages_b1, '>', $pages_b0, "b grew to $pages_b1 pages");

my $incr1 = $node->safe_psql('postgres', "SELECT revrx_backup_now('incr 1', true, incremental => true)");
my $r1 = record($incr1);
is($r1->{kind} . ' ' . $r1->{parent}, "incremental $full", "backup $incr1 is an incremental on $full");
is($r1->{block_source}, 'page-lsn-scan', 'it found the changed pages by their LSN');

my $a1 = RevrxTest::file_entry($r1, $path_a);
ok($a1->{delta}, "$path_a (a, 3 rows changed) is a delta in it");
is(join(',', delta_blocks($a1)), join(',', sort { $a <=> $b } keys %a_touched),
	'holding exactly the pages of the changed rows (' . join(',', sort { $a <=> $b } keys %a_touched) . ')');

my $b1 = RevrxTest::file_entry($r1, $path_b);
ok(!$b1->{delta}, "$path_b (b, every row changed) is stored whole in it");
is($b1->{size}, $pages_b1 * 8192, '... at its full size');
my $b1_content = content($b1->{key});
ok(length($b1_content) == $b1->{size} && sha256_hex($b1_content) eq $b1->{sha256},
	'... as the whole file: its object holds every byte, with the recorded SHA-256');
cmp_ok($r1->{delta}{files_whole}, '>=', 1, "backup.json counts $r1->{delta}{files_whole} relation file(s) stored whole");
cmp_ok($r1->{delta}{blocks_reread}, '>=', 128,
	"b was known mostly changed only after its first reads: $r1->{delta}{blocks_reread} blocks read again");
cmp_ok($r1->{delta}{blocks_reread}, '<', $pages_b1, '... not all of it');
like(slurp_file($node->logfile),
	qr/revrx backup \Q$incr1\E exported: .*; \d+ mostly changed relation files stored whole, [\d.]+ MB of them read twice/,
	'the server log says how many files were stored whole');

# --- every row of A, three of B
$node->safe_psql('postgres', 'UPDATE a SET v = v + 1');
$node->safe_psql('postgres', 'UPDATE b SET v = v + 1 WHERE id IN (5, 10005, 19995)');
my $incr2 = $node->safe_psql('postgres', "SELECT revrx_backup_now('incr 2', true, incremental => true)");
my $r2 = record($incr2);
is($r2->{parent}, $incr1, "backup $incr2 builds on $incr1");
my $a2 = RevrxTest::file_entry($r2, $path_a);
ok(!$a2->{delta}, "$path_a (every row changed) is whole in it, after a delta in $incr1");
my $a2_content = content($a2->{key});
ok(length($a2_content) == $a2->{size} && sha256_hex($a2_content) eq $a2->{sha256},
	'... as the whole file, with the recorded SHA-256');
is($r2->{delta}{blocks_reread}, 0, 'a was known mostly changed in its first read: nothing read twice');
my $b2 = RevrxTest::file_entry($r2, $path_b);
ok($b2->{delta}, "$path_b (3 rows changed) is a delta in it, over the whole copy in $incr1");
my @b2_blocks = delta_blocks($b2);
cmp_ok(scalar(@b2_blocks), '>=', 1, 'holding ' . scalar(@b2_blocks) . ' pages');
cmp_ok(scalar(@b2_blocks), '<=', 6, '... a few');

# everything archived, the source's data at that point
my $last = RevrxTest::switch_wal($node);
ok(RevrxTest::wait_archived($node, $last, 120), "archived up to $last");
my $want = contents($node);

# --- the chain of three
my ($copy, $rc, $out, $err) = RevrxTest::restore_node('whole_copy', $env, '--backup', $incr2);
is($rc, 0, "restore of $incr2 (full, whole and delta copies of one file in the chain)") or diag $err;
like($err, qr/builds on 2 older backup/, 'restore follows the chain');
my ($vout, $verr) = ('', '');
IPC::Run::run([ 'pg_verifybackup', '-n', $copy->data_dir ], '>', \$vout, '2>', \$verr);
is($?, 0, 'pg_verifybackup accepts the restored directory') or diag "$vout$verr";
is(-s $copy->data_dir . "/$path_b", $b2->{size}, "b's file has the recorded size");
RevrxTest::prepare_restored($copy);
$copy->append_conf('postgresql.conf', "shared_preload_libraries = ''\n");
ok(RevrxTest::start_restored($copy, $env), 'it starts and replays the archive');
is(contents($copy), $want, "a's and b's rows and contents equal the source's ($want)");
$copy->stop;

# --- the whole copy a delta is put into is checked through the rebuilt file
# (restore.c fetch_rebuilt: its content is not hashed on its own).  b's
# copy in incr 1, damaged where incr 2's delta has no page, sound in storage
# and naming the recorded digest: the rebuilt file does not match its
# record, and the restore fails naming that copy.  Damaged where the delta
# puts a page in, it cannot harm the file: the restore succeeds.
my ($sysid) = slurp_file("$repodir/repo.json") =~ /"system_identifier":\s*"(\d+)"/;
my $b1_path = "$repodir/$b1->{key}";
my $b1_saved = RevrxTest::slurp_bin($b1_path);
my %in_b2 = map { $_ => 1 } @b2_blocks;
my ($kept_block) = grep { !$in_b2{$_} } 0 .. $pages_b1 - 1;
sub damaged_b1
{
	my ($block) = @_;
	my $bytes = $b1_content;
	substr($bytes, $block * 8192 + 4000, 1) = chr(ord(substr($bytes, $block * 8192 + 4000, 1)) ^ 0x10);
	RevrxTest::write_object($b1_path, $bytes, $sysid, pack('H*', $b1->{sha256}));
}
damaged_b1($kept_block);
my ($bad, $rcb, $outb, $errb) = RevrxTest::restore_node('whole_bad', $env, '--backup', $incr2);
isnt($rcb, 0, "restore of $incr2 fails with b's copy in $incr1 damaged in block $kept_block, which no later page replaces");
like($errb, qr/\Q$b1->{key}\E.*SHA-256 of the content does not match/s,
	'... naming that copy and what is wrong with it') or diag $errb;
# restored as the whole file it is in incr 1, the copy is hashed beside the
# stream (files of 8 MB and more, agent/base/hash_aside.c): the same check
cmp_ok($b1->{size}, '>=', 8 * 1024 * 1024, "b's copy in $incr1 is $b1->{size} bytes: hashed on a thread of its own");
my ($bad1, $rcb1, $outb1, $errb1) = RevrxTest::restore_node('whole_bad1', $env, '--backup', $incr1);
isnt($rcb1, 0, "restore of $incr1 itself fails with that copy");
like($errb1, qr/\Q$b1->{key}\E.*SHA-256 of the content does not match/s, '... naming it') or diag $errb1;
damaged_b1($b2_blocks[0]);
my ($fixed, $rcf, $outf, $errf) = RevrxTest::restore_node('whole_fixed', $env, '--backup', $incr2);
is($rcf, 0, "with the damage in block $b2_blocks[0], which ${incr2}'s delta replaces, it restores") or diag $errf;
IPC::Run::run([ 'pg_verifybackup', '-n', $fixed->data_dir ], '>', \$vout, '2>', \$verr);
is($?, 0, '... and pg_verifybackup accepts the directory') or diag "$vout$verr";
RevrxTest::write_bin($b1_path, $b1_saved);

# --- the first incremental alone: a is a delta over the full backup there
my ($copy1, $rc1, $out1, $err1) = RevrxTest::restore_node('whole_copy1', $env, '--backup', $incr1);
is($rc1, 0, "restore of $incr1 (a a delta over $full, b whole)") or diag $err1;
IPC::Run::run([ 'pg_verifybackup', '-n', $copy1->data_dir ], '>', \$vout, '2>', \$verr);
is($?, 0, 'pg_verifybackup accepts it') or diag "$vout$verr";

# --- PostgreSQL 17+, WAL summaries: a mostly changed file is known before it is read
if ($node->pg_version >= 17)
{
	$node->safe_psql('postgres', 'ALTER SYSTEM SET summarize_wal = on');
	$node->reload;
	# a parent taken while the summarizer runs: the range after it is covered
	my $incr3 = $node->safe_psql('postgres', "SELECT revrx_backup_now('incr 3', true, incremental => true)");
	$node->safe_psql('postgres', 'UPDATE b SET v = v + 1');
	$node->safe_psql('postgres', 'VACUUM b');
	my $incr4 = $node->safe_psql('postgres', "SELECT revrx_backup_now('incr 4', true, incremental => true)");
	my $r4 = record($incr4);
	is($r4->{parent} . ' ' . $r4->{block_source}, "$incr3 wal-summaries",
		"backup $incr4 builds on $incr3 with the WAL summaries")
	  or diag 'reason: ' . ($r4->{block_source_reason} // 'none');
	my $b4 = RevrxTest::file_entry($r4, $path_b);
	ok(!$b4->{delta}, "$path_b (every row changed again) is stored whole");
	is($r4->{delta}{blocks_reread}, 0, '... decided before reading it: nothing read twice');
	my ($copy4, $rc4, $out4, $err4) = RevrxTest::restore_node('whole_copy4', $env, '--backup', $incr4);
	is($rc4, 0, "restore of $incr4") or diag $err4;
	IPC::Run::run([ 'pg_verifybackup', '-n', $copy4->data_dir ], '>', \$vout, '2>', \$verr);
	is($?, 0, 'pg_verifybackup accepts it') or diag "$vout$verr";
}

$agent->stop;
$node->stop;
done_testing();
