# A chain restore rebuilds a file in one pass and writes each page once
# (docs/incremental.md, "Restore"): no delta goes to disk on the way.
#
# Table t (about 40 MB, fillfactor 50 so an update stays on its page) is
# backed up full; rows on 40 % of its pages change (blocks 0 and 1 of every
# five) and an incremental stores t as a delta of them; rows on another
# 40 % change (blocks 0 and 3 of every five) and a second incremental
# stores those.  The restore of the chain puts the second delta's page in
# where both have one, and the bytes it sends to the disk (write_bytes of
# /proc/self/io, which counts a reaped child's) are those of the restored
# directory: restore used to write each delta to a scratch file first,
# 80 % of t more here.  The copy passes pg_verifybackup and has the source's
# rows.
#
# Neither read of a delta computes its content's digest (the rebuilt file's
# is the check): the first delta, damaged in a page the second does not
# replace but sound in storage and naming its recorded digest, fails the
# restore, naming that delta's object; damaged in a page the second
# replaces, it cannot harm the file and the restore succeeds.

use strict;
use warnings FATAL => 'all';

use File::Find;
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;

use RevrxTest;

my $repodir = PostgreSQL::Test::Utils::tempdir('repo');
my $node = RevrxTest::new_node('onepass', timeout => 30, compression => 'zstd',
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

# the block numbers a delta (its content) holds, in order
sub delta_blocks
{
	my ($bytes) = @_;
	my $trailer = substr($bytes, -20);
	return () unless substr($trailer, 16, 4) eq 'RVXD';
	my $n = unpack('N', substr($trailer, 8, 4));
	return unpack('N*', substr($bytes, $n * 8192, 4 * $n));
}

sub write_bytes
{
	open my $fh, '<', '/proc/self/io' or return undef;
	my %io = map { /^(\w+): (\d+)/ ? ($1 => $2) : () } <$fh>;
	return $io{write_bytes};
}

sub tree_bytes
{
	my ($dir) = @_;
	my $sum = 0;
	find(sub { $sum += -s $_ if -f $_ && !-l $_ }, $dir);
	return $sum;
}

my $state_sql = q{SELECT count(*) || ' ' || sum(v) || ' ' || md5(string_agg(id || ':' || v, ',' ORDER BY id)) FROM t};

$node->safe_psql('postgres', q{
	CREATE TABLE t (id int, v int, pad text) WITH (fillfactor = 50);
	INSERT INTO t SELECT g, 0, repeat(md5(g::text), 6) FROM generate_series(1, 80000) g;
	VACUUM (FREEZE, ANALYZE) t;
});
my $path = $node->safe_psql('postgres', "SELECT pg_relation_filepath('t')");
my $pages = $node->safe_psql('postgres', "SELECT pg_relation_size('t') / 8192");
cmp_ok($pages, '>', 4000, "t has $pages pages");

my $full = $node->safe_psql('postgres', "SELECT revrx_backup_now('full', true)");
sub change_pages
{
	my ($mods) = @_;
	$node->safe_psql('postgres',
		"UPDATE t SET v = v + 1 WHERE (ctid::text::point)[0]::int % 5 IN ($mods)");
}
change_pages('0, 1');
my $incr1 = $node->safe_psql('postgres', "SELECT revrx_backup_now('incr 1', true, incremental => true)");
change_pages('0, 3');
my $incr2 = $node->safe_psql('postgres', "SELECT revrx_backup_now('incr 2', true, incremental => true)");
my $want = $node->safe_psql('postgres', $state_sql);
my $last = RevrxTest::switch_wal($node);
ok(RevrxTest::wait_archived($node, $last, 120), "archived up to $last");

my $e1 = RevrxTest::file_entry(record($incr1), $path);
my $e2 = RevrxTest::file_entry(record($incr2), $path);
ok($e1->{delta} && $e2->{delta}, "t is a delta in $incr1 and in $incr2");
my $d1 = content($e1->{key});
my @blocks1 = delta_blocks($d1);
my @blocks2 = delta_blocks(content($e2->{key}));
cmp_ok(scalar(@blocks1), '>=', 0.35 * $pages, scalar(@blocks1) . " of t's pages in the first delta");
cmp_ok(scalar(@blocks2), '>=', 0.35 * $pages, scalar(@blocks2) . ' in the second');

# --- the chain, every page written once
my $before = write_bytes();
my ($copy, $rc, $out, $err) = RevrxTest::restore_node('onepass_copy', $env, '--backup', $incr2);
my $written = write_bytes() - $before;
is($rc, 0, "restore of $incr2 (three backups)") or diag $err;
my $restored = tree_bytes($copy->data_dir);
SKIP:
{
	skip 'no block I/O accounted for this file system (tmpfs?)', 1 if $written < $restored / 2;
	cmp_ok($written, '<=', 1.02 * $restored + 1024 * 1024,
		sprintf('it wrote %.1f MB for %.1f MB restored: no delta (%.1f MB of pages) went to disk',
			$written / 1e6, $restored / 1e6, (@blocks1 + @blocks2) * 8192 / 1e6));
}
my ($vout, $verr) = ('', '');
IPC::Run::run([ 'pg_verifybackup', '-n', $copy->data_dir ], '>', \$vout, '2>', \$verr);
is($?, 0, 'pg_verifybackup accepts the rebuilt directory') or diag "$vout$verr";
RevrxTest::prepare_restored($copy);
$copy->append_conf('postgresql.conf', "shared_preload_libraries = ''\n");
ok(RevrxTest::start_restored($copy, $env), 'it starts and replays the archive');
is($copy->safe_psql('postgres', $state_sql), $want, "t's rows equal the source's");
$copy->stop;

# --- a damaged delta is named when it matters, and harmless when replaced
my ($sysid) = slurp_file("$repodir/repo.json") =~ /"system_identifier":\s*"(\d+)"/;
my $d1_path = "$repodir/$e1->{key}";
my $d1_saved = RevrxTest::slurp_bin($d1_path);
my %in2 = map { $_ => 1 } @blocks2;
my %index1;
@index1{@blocks1} = 0 .. $#blocks1;
sub damaged_d1
{
	my ($block) = @_;
	my $bytes = $d1;
	my $at = $index1{$block} * 8192 + 4000;
	substr($bytes, $at, 1) = chr(ord(substr($bytes, $at, 1)) ^ 0x10);
	RevrxTest::write_object($d1_path, $bytes, $sysid, pack('H*', $e1->{object_sha256}));
}
my ($kept) = grep { !$in2{$_} } @blocks1;
my ($replaced) = grep { $in2{$_} } @blocks1;
damaged_d1($kept);
my ($bad, $rcb, $outb, $errb) = RevrxTest::restore_node('onepass_bad', $env, '--backup', $incr2);
isnt($rcb, 0, "restore of $incr2 fails with t's delta in $incr1 damaged in block $kept, which $incr2 does not replace");
like($errb, qr/\Q$e1->{key}\E.*SHA-256 of the content does not match/s,
	'... naming that delta and what is wrong with it') or diag $errb;
ok(!-e $bad->data_dir . "/$path", '... and the file it could not rebuild is not left behind');
damaged_d1($replaced);
my ($fixed, $rcf, $outf, $errf) = RevrxTest::restore_node('onepass_fixed', $env, '--backup', $incr2);
is($rcf, 0, "with the damage in block $replaced, which $incr2 replaces, it restores") or diag $errf;
IPC::Run::run([ 'pg_verifybackup', '-n', $fixed->data_dir ], '>', \$vout, '2>', \$verr);
is($?, 0, '... and pg_verifybackup accepts the directory') or diag "$vout$verr";
RevrxTest::write_bin($d1_path, $d1_saved);

$agent->stop;
$node->stop;
done_testing();
