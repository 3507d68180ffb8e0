# restore --delta: a data directory of the same cluster, its server
# stopped, brought back to a backup by rewriting only what differs.
#
# A primary with a tablespace takes a full backup, then an incremental
# one, archives everything and is destroyed.  The full backup is restored
# normally into D, which starts (recovers, is promoted) and stops.  Then,
# each time against an oracle computed here from D's own backup_manifest
# (which files on disk have the manifest's size and SHA-256, which entries
# are neither the backup's files nor its directories):
#  - delta after the server ran (WAL of its own timeline, backup_label.old,
#    statistics, hint bits...);
#  - (a) a flipped byte in a table file (in its first 8 MiB piece, then in
#    its last: large files are compared by their chunk digests, and the
#    log must say how many were), (b) a deleted relation file,
#    (c) an extra file and an extra directory under base/: exactly 3, 3
#    and 2 files rewritten, 3 entries removed in (c);
#  - the incremental backup (chain of two) over D, compared with a normal
#    restore of it;
#  - --delta with a restore point as target.
# Every time: exit 0, the counts on stdout and in the log equal the
# oracle's, every kept file keeps its inode and mtime and every rewritten
# one is new, pg_verifybackup accepts D, and (started) D holds exactly the
# primary's data, or the rows before the restore point.  The audit record
# says mode=delta with the counts.  Refused, changing nothing in D: a
# running server in D (exit 14), a data directory of another initdb
# (exit 15), --delta with --force (exit 2), D's tablespace link pointing
# elsewhere while the record's location holds files (exit 2, the location
# unchanged too), WAL not archived yet in pg_wal (exit 16; with
# --discard-unarchived-wal it proceeds).  The same on S3, shorter.

use strict;
use warnings FATAL => 'all';

use Digest::SHA;
use File::Path qw(rmtree);
use JSON::PP;
use List::Util qw(sum0);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes ();

use RevrxTest;

# ---------------------------------------------------------------- the oracle

sub sha_of { return Digest::SHA->new(256)->addfile($_[0], 'b')->hexdigest; }

# The files of a backup_manifest: path => [size, sha256].
sub manifest_files
{
	my ($dir) = @_;
	my $m = decode_json(slurp_file("$dir/backup_manifest"));
	return { map { ($_->{Path} => [ $_->{Size}, lc $_->{Checksum} ]) } @{ $m->{Files} } };
}

# Every entry of a data directory by path relative to it, a tablespace's
# link followed to its location: path => [type, size, inode, mtime].
sub entries
{
	my ($dir) = @_;
	my %e;
	my $walk;
	$walk = sub {
		my ($abs, $rel) = @_;
		opendir(my $dh, $abs) or die "opendir $abs: $!";
		for my $n (sort grep { $_ ne '.' && $_ ne '..' } readdir $dh)
		{
			my $p = "$abs/$n";
			my $r = $rel eq '' ? $n : "$rel/$n";
			my @st = Time::HiRes::lstat($p) or next;
			my $type = -l _ ? 'l' : -d _ ? 'd' : -f _ ? 'f' : 'o';
			$e{$r} = [ $type, $st[7], $st[1], $st[9] ];
			$walk->($p, $r) if $type eq 'd';
			$walk->(readlink($p), $r) if $type eq 'l' && $r =~ m{^pg_tblspc/\d+$};
		}
		closedir $dh;
	};
	$walk->($dir, '');
	return \%e;
}

# The directories of a freshly restored data directory: the backup's.
sub dirs_of
{
	my ($e) = @_;
	return { map { ($_ => 1) } grep { $e->{$_}[0] eq 'd' } keys %$e };
}

# What restore --delta must do to dir, for a backup of these files and directories.
sub expect_delta
{
	my ($dir, $man, $dirs) = @_;
	my $e = entries($dir);
	my (@kept, @rewritten);
	for my $p (sort keys %$man)
	{
		my $x = $e->{$p};
		if ($p ne 'global/pg_control' && $x && $x->[0] eq 'f' && $x->[1] == $man->{$p}[0]
			&& sha_of("$dir/$p") eq $man->{$p}[1])
		{
			push @kept, $p;
		}
		else
		{
			push @rewritten, $p;
		}
	}
	# A rewritten file can come back with its old inode number (pg_control
	# is removed first and written last): mark the mtimes of those that
	# exist, so that "a new file" is a new inode number or a new mtime.
	for my $p (grep { $e->{$_} && $e->{$_}[0] eq 'f' } @rewritten)
	{
		utime(1_000_000_000, 1_000_000_000, "$dir/$p") or die "utime $dir/$p: $!";
		$e->{$p}[3] = (Time::HiRes::lstat("$dir/$p"))[9];
	}
	my %own = map { ($_ => 1) } qw(global/pg_control backup_manifest recovery.signal revrx_restore_in_progress);
	my ($removed, $removed_bytes, @gone) = (0, 0);
	for my $p (sort keys %$e)
	{
		next if grep { index($p, "$_/") == 0 } @gone;
		my $t = $e->{$p}[0];
		next if $t eq 'f' && ($man->{$p} || $own{$p});
		next if $t eq 'd' && $dirs->{$p};
		next if $t eq 'l' && $p =~ m{^pg_tblspc/\d+$};
		my @in = grep { $_ eq $p || index($_, "$p/") == 0 } keys %$e;
		$removed += @in;
		$removed_bytes += sum0(map { $e->{$_}[0] eq 'f' ? $e->{$_}[1] : 0 } @in);
		push @gone, $p;
	}
	return {
		kept => \@kept,
		kept_bytes => sum0(map { $man->{$_}[0] } @kept),
		rewritten => \@rewritten,
		removed => $removed,
		removed_bytes => $removed_bytes,
		entries => $e,
	};
}

# Runs restore --delta into dir and checks it against the oracle; returns
# (kept, rewritten, removed) as reported.
sub delta_restore
{
	my ($what, $env, $dir, $man, $dirs, @args) = @_;
	my $exp = expect_delta($dir, $man, $dirs);
	my ($rc, $out, $err) = RevrxTest::run_agent($env, 'restore', '--pgdata', $dir, '--delta', @args);
	is($rc, 0, "$what: restore --delta exit 0") or diag($err);
	my ($k, $kb, $w, $wb, $r, $rb) = $out =~
	  /^delta restore of backup \S+ into "\Q$dir\E": kept (\d+) files \((\d+) bytes\), rewrote (\d+) files \((\d+) bytes\), removed (\d+) files and directories \((\d+) bytes\)/m;
	ok(defined $k, "$what: the report on stdout") or diag($out);
	$_ //= -1 for ($k, $kb, $w, $wb, $r, $rb);
	is($k, scalar @{ $exp->{kept} }, "$what: kept $k files");
	is($kb, $exp->{kept_bytes}, "$what: of $kb bytes");
	is($w, scalar @{ $exp->{rewritten} }, "$what: rewrote $w files");
	is($r, $exp->{removed}, "$what: removed $r entries");
	is($rb, $exp->{removed_bytes}, "$what: of $rb bytes");
	like($err, qr/kept $k files .*rewrote $w files .*removed $r files and directories/, "$what: the same in the log");
	my ($chunked) = $err =~ /\((\d+) files of more than one piece compared by their chunk digests/;
	ok(defined $chunked, "$what: how many files were compared by their chunk digests") or diag($err);

	# kept = not rewritten (inode and mtime as before); rewritten = a new file
	my $after = entries($dir);
	my @touched = grep {
		my $b = $exp->{entries}{$_};
		my $a = $after->{$_};
		!$a || $a->[2] != $b->[2] || $a->[3] != $b->[3]
	} @{ $exp->{kept} };
	is("@touched", '', "$what: no kept file was rewritten");
	my @same = grep {
		my $b = $exp->{entries}{$_};
		my $a = $after->{$_};
		$b && $a && $a->[2] == $b->[2] && $a->[3] == $b->[3]
	} @{ $exp->{rewritten} };
	is("@same", '', "$what: every rewritten file is a new one");
	ok(!-e "$dir/revrx_restore_in_progress", "$what: no marker left");
	command_ok([ 'pg_verifybackup', '-n', $dir ], "$what: pg_verifybackup accepts the directory");
	return ($k, $w, $r, $chunked // -1);
}

# The files of the full backup's record that have a chunk digest (files of
# more than one 8 MiB piece, read whole): those found with their size are
# compared by it.
sub chunked_on_disk
{
	my ($dir, $man) = @_;
	return scalar grep {
		$man->{$_}[0] > 8 * 1024 * 1024 && -f "$dir/$_" && -s "$dir/$_" == $man->{$_}[0]
	} keys %$man;
}

# Type, size, inode, mtime and SHA-256 of everything in dir: to see that nothing changed.
sub tree_state
{
	my ($dir) = @_;
	my $e = entries($dir);
	return join "\n", map {
		my $x = $e->{$_};
		"$_ @$x" . ($x->[0] eq 'f' ? ' ' . sha_of("$dir/$_") : '')
	} sort keys %$e;
}

sub start_copy
{
	my ($node, $env, $what) = @_;
	RevrxTest::prepare_restored($node);
	ok(RevrxTest::start_restored($node, $env), "$what: the server recovers and is promoted");
	return;
}

sub same_dump
{
	my ($node, $dump, $what) = @_;
	my $d = RevrxTest::dump($node);
	ok($d eq $dump, "$what: pg_dumpall equals the primary's");
	return;
}

# ---------------------------------------------------------------- file:// repository

my $repodir = PostgreSQL::Test::Utils::tempdir('repo');
my $tsdir = PostgreSQL::Test::Utils::tempdir('tablespace') . '/ts';
mkdir $tsdir or die;
my $node = RevrxTest::new_node('delta_primary', timeout => 30);
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION revrx');
my $agent = RevrxTest::Agent->start($node, repo => "file://$repodir");
my $env = $agent->env;

$node->command_ok([ 'pgbench', '-i', '-q', '-s', '2', 'postgres' ], 'pgbench init');
$node->safe_psql('postgres', qq{
	CREATE TABLESPACE ts LOCATION '$tsdir';
	CREATE TABLE in_ts(i int, t text) TABLESPACE ts;
	INSERT INTO in_ts SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
	CREATE TABLE marker(i int);
	INSERT INTO marker VALUES (1);
});
my $accounts = $node->safe_psql('postgres', "SELECT pg_relation_filepath('pgbench_accounts')");
my $branches = $node->safe_psql('postgres', "SELECT pg_relation_filepath('pgbench_branches')");
my $dboid = $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'postgres'");
my $b1 = $node->safe_psql('postgres', "SELECT revrx_backup_now('delta full', wait => true)");
like($b1, qr/^\d{8}T\d{6}Z/, "full backup $b1");

$node->safe_psql('postgres', q{
	UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 100 = 0;
	UPDATE in_ts SET t = 'changed' WHERE i % 50 = 0;
	INSERT INTO marker VALUES (2);
});
my $b2 = $node->safe_psql('postgres', "SELECT revrx_backup_now('delta incr', true, incremental => true)");
is($node->safe_psql('postgres', "SELECT kind || ' ' || parent FROM revrx_backups() WHERE id = '$b2'"),
	"incremental $b1", "backup $b2 is incremental on $b1");

# a restore point, then rows after it
$node->safe_psql('postgres', 'INSERT INTO marker VALUES (3)');
$node->safe_psql('postgres', "SELECT revrx_restore_point('delta_rp')");
ok(RevrxTest::wait_for(sub { glob("$repodir/restore_points/delta_rp.json*") }, 60, 'the restore point record'),
	'restore point delta_rp recorded');
$node->safe_psql('postgres', 'INSERT INTO marker VALUES (4); UPDATE pgbench_branches SET bbalance = bbalance + 7');
my $last = RevrxTest::switch_wal($node);
ok(RevrxTest::wait_archived($node, $last, 120), "archived up to $last");
my $dump = RevrxTest::dump($node);

# disaster: only the repository is left (the tablespace's location is free again)
$agent->stop;
$node->stop('immediate');
rmtree($node->data_dir);
rmtree($tsdir);
rmtree(RevrxTest::spool_dir($node));

# --- D: a normal restore of the full backup, started and stopped
my ($d, $rc, $out, $err) = RevrxTest::restore_node('delta_d', $env, '--backup', $b1);
is($rc, 0, "restore of $b1 into D") or diag($err);
my $pgdata = $d->data_dir;
my $dirs1 = dirs_of(entries($pgdata));
my $man1 = manifest_files($pgdata);
ok(scalar(grep { m{^pg_tblspc/\d+/PG_} } keys %$dirs1), 'the tablespace is restored with D');
start_copy($d, $env, 'D');
same_dump($d, $dump, 'D');
$d->stop;

# --- delta after the server ran
# (the run replayed the updates made after the backup: the table grew)
my $want_chunked = chunked_on_disk($pgdata, $man1);
my ($k, $w, $r, $c) = delta_restore('after a run', $env, $pgdata, $man1, $dirs1, '--backup', $b1);
is($c, $want_chunked, 'after a run: the large files were compared by their chunk digests');
cmp_ok($k, '>', 500, "after a run: most files kept ($k)");
cmp_ok($r, '>', 0, "after a run: the run's own files removed ($r)");
ok(!glob("$pgdata/pg_wal/0*"), 'after a run: no WAL of the run left in pg_wal');
my $total = keys %$man1;

my (undef, $audit_out) = RevrxTest::run_agent($env, 'audit', '--json');
my $rec = (map { decode_json($_) } grep { /\S/ } split /\n/, $audit_out)[-1];
is($rec->{action} . ' ' . $rec->{result}, 'restore ok', 'audit: the restore');
is($rec->{details}{mode}, 'delta', 'audit: mode delta');
is(join(' ', map { $rec->{details}{$_} } qw(kept_files rewritten_files removed)), "$k $w $r",
	'audit: kept, rewritten, removed');

# --- right after a (delta) restore, only pg_control and postgresql.auto.conf differ
($k, $w, $r) = delta_restore('again', $env, $pgdata, $man1, $dirs1, '--backup', $b1);
is("$k $w $r", ($total - 2) . ' 2 0', 'again: everything kept but pg_control and postgresql.auto.conf');

# (a) a flipped byte in a table file
{
	open my $fh, '+<:raw', "$pgdata/$accounts" or die $!;
	seek $fh, 8192 * 3 + 4000, 0;
	read $fh, my $c, 1;
	seek $fh, 8192 * 3 + 4000, 0;
	print $fh chr(ord($c) ^ 0x20);
	close $fh;
}
($k, $w, $r) = delta_restore('(a) flipped byte', $env, $pgdata, $man1, $dirs1, '--backup', $b1);
is("$k $w $r", ($total - 3) . ' 3 0', '(a) flipped byte: that file rewritten too');
is(sha_of("$pgdata/$accounts"), $man1->{$accounts}[1], '(a) flipped byte: the table file is the backup\'s again');

# (a') the same in the last 8 MiB piece of the table: each piece is its own
# task, the last one short
{
	my $size = -s "$pgdata/$accounts";
	cmp_ok($size, '>', 2 * 8 * 1024 * 1024, "(a') pgbench_accounts has more than two pieces ($size bytes)");
	$want_chunked = chunked_on_disk($pgdata, $man1);
	cmp_ok($want_chunked, '>=', 1, "(a') $want_chunked files of more than one piece, pgbench_accounts among them");
	open my $fh, '+<:raw', "$pgdata/$accounts" or die $!;
	seek $fh, $size - 8192 + 4000, 0;
	read $fh, my $ch, 1;
	seek $fh, $size - 8192 + 4000, 0;
	print $fh chr(ord($ch) ^ 0x20);
	close $fh;
}
($k, $w, $r, $c) = delta_restore("(a') flipped byte, last piece", $env, $pgdata, $man1, $dirs1, '--backup', $b1);
is("$k $w $r", ($total - 3) . ' 3 0', "(a') flipped byte in the last piece: that file rewritten too");
is($c, $want_chunked, "(a') the large files were compared by their chunk digests");
is(sha_of("$pgdata/$accounts"), $man1->{$accounts}[1], "(a') the table file is the backup's again");

# (b) a deleted relation file
unlink("$pgdata/$branches") or die $!;
($k, $w, $r) = delta_restore('(b) deleted file', $env, $pgdata, $man1, $dirs1, '--backup', $b1);
is("$k $w $r", ($total - 3) . ' 3 0', '(b) deleted file: it is restored');
ok(-f "$pgdata/$branches", '(b) deleted file: it is back');

# (c) an extra file and an extra directory (with a file) under base/
append_to_file("$pgdata/base/$dboid/999999", 'not a relation of the backup');
mkdir "$pgdata/base/999999" or die $!;
append_to_file("$pgdata/base/999999/1", 'nor a database');
($k, $w, $r) = delta_restore('(c) extra entries', $env, $pgdata, $man1, $dirs1, '--backup', $b1);
is("$k $w $r", ($total - 2) . ' 2 3', '(c) extra entries: the file and the directory with its file removed');
ok(!-e "$pgdata/base/$dboid/999999" && !-e "$pgdata/base/999999", '(c) extra entries: gone');

start_copy($d, $env, 'D after (a), (b), (c)');
same_dump($d, $dump, 'D after (a), (b), (c)');
$d->stop;

# --- the incremental backup, over D; E is a normal restore of it
my $tsE = PostgreSQL::Test::Utils::tempdir('tablespace_e');
my $tsoid = (map { m{^pg_tblspc/(\d+)/PG_} ? $1 : () } keys %$dirs1)[0];
my ($e, $erc, $eout, $eerr) = RevrxTest::restore_node('delta_e', $env, '--backup', $b2,
	'--tablespace-map', "$tsoid=$tsE/ts");
is($erc, 0, "a normal restore of $b2 into E") or diag($eerr);
my $man2 = manifest_files($e->data_dir);
my $dirs2 = dirs_of(entries($e->data_dir));
($k, $w, $r) = delta_restore('incremental chain', $env, $pgdata, $man2, $dirs2, '--backup', $b2);
my @differ = grep {
	$_ ne 'postgresql.auto.conf' && $_ ne 'tablespace_map'
	  && sha_of("$pgdata/$_") ne sha_of($e->data_dir . "/$_")
} sort keys %$man2;
is("@differ", '', 'incremental chain: D holds, file for file, what a normal restore of it holds');
# at once again: every file of the chain is kept, the large ones by the chunk
# digests the incremental computed while it read them (as a delta, or switched
# to a whole copy)
($k, $w, $r, $c) = delta_restore('incremental chain again', $env, $pgdata, $man2, $dirs2, '--backup', $b2);
is("$w $r", '2 0', 'incremental chain again: only pg_control and postgresql.auto.conf rewritten');
cmp_ok($c, '>=', 1, "incremental chain again: $c files compared by their chunk digests");
is($c, chunked_on_disk($pgdata, $man2), 'incremental chain again: every file of more than one piece by its chunk digest');
start_copy($d, $env, 'D from the incremental');
same_dump($d, $dump, 'D from the incremental');
$d->stop;

# --- with a target: the rows before the restore point
($k, $w, $r) = delta_restore('target', $env, $pgdata, $man2, $dirs2, '--target-name', 'delta_rp');
like(slurp_file("$pgdata/postgresql.auto.conf"), qr/recovery_target_name = 'delta_rp'/,
	'target: recovery_target_name written');
start_copy($d, $env, 'target');
is($d->safe_psql('postgres', "SELECT string_agg(i::text, ',' ORDER BY i) FROM marker"), '1,2,3',
	'target: exactly the rows before the restore point');

# --- refusals, each changing nothing
# a running server: what the restore would write first is compared (the
# server itself may write its own files meanwhile)
my %was = map { ($_ => sha_of("$pgdata/$_")) } qw(PG_VERSION backup_manifest postgresql.conf), $accounts;
($rc, $out, $err) = RevrxTest::run_agent($env, 'restore', '--pgdata', $pgdata, '--delta');
is($rc, 14, 'a running server: exit 14');
like($err, qr/a PostgreSQL server \(pid \d+\) seems to be running in "\Q$pgdata\E"; stop it first/,
	'a running server: the message');
is(join(' ', map { sha_of("$pgdata/$_") } sort keys %was), join(' ', map { $was{$_} } sort keys %was),
	'a running server: its files unchanged');
ok(-f "$pgdata/global/pg_control" && !-e "$pgdata/recovery.signal" && !-e "$pgdata/revrx_restore_in_progress",
	'a running server: pg_control still there, no recovery.signal, no marker');
is($d->safe_psql('postgres', 'SELECT count(*) FROM marker'), '3', 'a running server: it still runs');
$d->stop;

# stopped, but its postmaster.pid names a live process: everything compared
append_to_file("$pgdata/postmaster.pid", "$$\n$pgdata\n");
my $before = tree_state($pgdata);
($rc, $out, $err) = RevrxTest::run_agent($env, 'restore', '--pgdata', $pgdata, '--delta');
is($rc, 14, 'a live postmaster.pid: exit 14');
is(tree_state($pgdata), $before, 'a live postmaster.pid: nothing changed');
unlink "$pgdata/postmaster.pid";

# pg_tblspc/<oid> linked elsewhere while the record's location holds files
# (another cluster's tablespace, as far as the restore can tell): refused
# as a normal restore refuses a location that is not empty
my $link = "$pgdata/pg_tblspc/$tsoid";
my $elsewhere = PostgreSQL::Test::Utils::tempdir('elsewhere');
append_to_file("$elsewhere/mine", 'not the restore\'s');
unlink $link or die $!;
symlink $elsewhere, $link or die $!;
$before = tree_state($pgdata) . "\n" . tree_state($tsdir);
($rc, $out, $err) = RevrxTest::run_agent($env, 'restore', '--pgdata', $pgdata, '--delta');
is($rc, 2, 'a tablespace link elsewhere: exit 2');
like($err, qr/tablespace $tsoid: location "\Q$tsdir\E" is not empty and pg_tblspc of the data directory does not link to it/,
	'a tablespace link elsewhere: the message');
is(tree_state($pgdata) . "\n" . tree_state($tsdir), $before,
	'a tablespace link elsewhere: nothing changed, in D or in the location');
unlink $link or die $!;
symlink $tsdir, $link or die $!;

# WAL the server had not archived (a .ready file with its segment): a
# delta restore would delete it, so it is refused unless told to discard it
my $seg = '00000009000000000000000A';
append_to_file("$pgdata/pg_wal/$seg", 'WAL not archived yet' x 1000);
append_to_file("$pgdata/pg_wal/archive_status/$seg.ready", '');
my $seg_sha = sha_of("$pgdata/pg_wal/$seg");
$before = tree_state($pgdata);
($rc, $out, $err) = RevrxTest::run_agent($env, 'restore', '--pgdata', $pgdata, '--delta');
is($rc, 16, 'unarchived WAL: exit 16');
like($err, qr/pg_wal of "\Q$pgdata\E" holds 1 WAL file\(s\) its server had not archived yet.*--discard-unarchived-wal/,
	'unarchived WAL: the message names the count and the option');
is(sha_of("$pgdata/pg_wal/$seg"), $seg_sha, 'unarchived WAL: the segment is intact');
is(tree_state($pgdata), $before, 'unarchived WAL: nothing changed');
($k, $w, $r) = delta_restore('--discard-unarchived-wal', $env, $pgdata, $man2, $dirs2, '--backup', $b2,
	'--discard-unarchived-wal');
ok(!-e "$pgdata/pg_wal/$seg" && !-e "$pgdata/pg_wal/archive_status/$seg.ready",
	'--discard-unarchived-wal: the segment and its .ready removed');

$before = tree_state($pgdata);
($rc, $out, $err) = RevrxTest::run_agent($env, 'restore', '--pgdata', $pgdata, '--delta', '--force');
is($rc, 2, '--delta with --force: exit 2');
like($err, qr/--delta and --force exclude each other/, '--delta with --force: the message');
is(tree_state($pgdata), $before, '--delta with --force: nothing changed');

my $other = PostgreSQL::Test::Cluster->new('delta_other');
$other->init;
my $other_sysid = `pg_controldata '@{[ $other->data_dir ]}'` =~ /Database system identifier:\s+(\d+)/ ? $1 : '?';
$before = tree_state($other->data_dir);
($rc, $out, $err) = RevrxTest::run_agent($env, 'restore', '--pgdata', $other->data_dir, '--delta');
is($rc, 15, 'another initdb: exit 15');
like($err, qr/belongs to the cluster with system identifier \Q$other_sysid\E \(its global\/pg_control\), the repository to the cluster with system identifier \d+/,
	'another initdb: the message names both clusters');
is(tree_state($other->data_dir), $before, 'another initdb: nothing changed');

# ---------------------------------------------------------------- S3

my $s3 = RevrxTest::S3->start;
my $snode = RevrxTest::new_node('delta_s3', timeout => 30);
$snode->start;
$snode->safe_psql('postgres', 'CREATE EXTENSION revrx');
my $sagent = RevrxTest::Agent->start($snode, repo => $s3->repo_url('delta'), env => $s3->env);
my $senv = $sagent->env;
$snode->command_ok([ 'pgbench', '-i', '-q', '-s', '1', 'postgres' ], 's3: pgbench init');
my $saccounts = $snode->safe_psql('postgres', "SELECT pg_relation_filepath('pgbench_accounts')");
my $sb = $snode->safe_psql('postgres', "SELECT revrx_backup_now('delta s3', wait => true)");
$snode->safe_psql('postgres', 'UPDATE pgbench_tellers SET tbalance = tbalance + 1');
$last = RevrxTest::switch_wal($snode);
ok(RevrxTest::wait_archived($snode, $last, 120), "s3: archived up to $last");
my $sdump = RevrxTest::dump($snode);
$sagent->stop;
$snode->stop('immediate');

my ($sd, $src, $sout, $serr) = RevrxTest::restore_node('delta_s3_d', $senv);
is($src, 0, 's3: restore into D') or diag($serr);
my $sman = manifest_files($sd->data_dir);
my $sdirs = dirs_of(entries($sd->data_dir));
start_copy($sd, $senv, 's3: D');
$sd->stop;
{
	open my $fh, '+<:raw', $sd->data_dir . "/$saccounts" or die $!;
	seek $fh, 8192 + 100, 0;
	print $fh "\xff";
	close $fh;
}
append_to_file($sd->data_dir . '/base/extra', 'extra');
delta_restore('s3: after a run and a flipped byte', $senv, $sd->data_dir, $sman, $sdirs);
is(sha_of($sd->data_dir . "/$saccounts"), $sman->{$saccounts}[1], 's3: the table file is the backup\'s again');
start_copy($sd, $senv, 's3: D after delta');
same_dump($sd, $sdump, 's3: D after delta');
$sd->stop;

done_testing();
