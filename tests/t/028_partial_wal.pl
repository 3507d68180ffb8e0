# Partial WAL streaming (revrx.partial_interval): the WAL of the segment
# being written reaches the repository as ranges, each the WAL flushed
# since the one before, every half second while WAL is written, so a
# server that vanishes (postmaster killed with SIGKILL, its data directory
# and its spool deleted) under load loses at most the last second of
# commits.
#
# For the posix repository, and for S3 after S3 was frozen (SIGSTOP) for a
# while and resumed: a table of ids is written one committed transaction
# at a time, beside pgbench, and each commit's return time is recorded.
# After the kill, the cluster is restored from the repository alone.  Every
# id whose commit returned more than KILL_MARGIN s before the kill must be
# there, and every id there must have been inserted (nothing invented).
# The load is light enough that the last segment is far from complete at
# the kill, so without partials those commits are lost and this fails.
#
# Then, with wal-fetch: the fetched segment is the chain of its ranges,
# zero-padded; a missing middle range stops it at the gap (recovery
# refuses to end there while later WAL is stored, and with --accept-gap
# ends there, never past it); a chain that fills a segment is the segment;
# a partial is never used for a segment that exists complete, nor when a
# later segment is stored; a timeline-2 fetch never uses a timeline-1
# partial; a complete segment removes its partials from the repository.
# In the spool (no agent: a stalled repository) the ranges continue one
# another, stop at 8 per segment, and go once their segment is spooled
# complete; a crash-restart starts a newer generation; over the spool cap
# none is written.

use strict;
use warnings FATAL => 'all';

use File::Copy;
use File::Path qw(rmtree);
use POSIX ();
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

use RevrxTest;

# the RPO the feature promises (a 500 ms interval, plus the upload)
my $KILL_MARGIN = 1.0;

# the exporter's limit of unshipped ranges of one segment (wal_export.c)
my $MAX_UNSHIPPED = 8;
my $SEGSIZE = 16 * 1024 * 1024;
my $RANGE = qr/^([0-9A-F]{24})\.([0-9A-F]{16})\.([0-9A-F]{8})-([0-9A-F]{8})\.partial/;

# Inserts ids one transaction each, until the server is gone; each line of
# the log: "start <id> <time>", then "ok <id> <time>" once COMMIT returned.
sub start_id_writer
{
	my ($node, $log) = @_;
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	return $pid if $pid;

	open STDOUT, '>', '/dev/null';
	open STDERR, '>', '/dev/null';
	open my $fh, '>>', $log or POSIX::_exit(1);
	$fh->autoflush(1);
	for (my $id = 1;; $id++)
	{
		print $fh "start $id " . time . "\n";
		my $rc = system('psql', '-X', '-q', '-h', $node->host, '-p', $node->port,
			'-d', 'postgres', '-v', 'ON_ERROR_STOP=1',
			'-c', "INSERT INTO ids VALUES ($id, clock_timestamp())");
		last if $rc != 0;
		print $fh "ok $id " . time . "\n";
	}
	POSIX::_exit(0);
}

sub read_id_log
{
	my ($log) = @_;
	my (%started, %committed);
	open my $fh, '<', $log or die "$log: $!";
	while (<$fh>)
	{
		$started{$1} = $2 if /^start (\d+) (\S+)/;
		$committed{$1} = $2 if /^ok (\d+) (\S+)/;
	}
	close $fh;
	return (\%started, \%committed);
}

# One disaster: load, kill everything, restore from the repository alone.
# $during (optional) runs while the load runs, before the final seconds.
sub disaster
{
	my ($name, $repo, $env, $during) = @_;

	my $node = RevrxTest::new_node($name, timeout => 30);
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION revrx');
	my $agent = RevrxTest::Agent->start($node, repo => $repo, env => $env);
	$node->safe_psql('postgres', 'CREATE TABLE ids(id int PRIMARY KEY, at timestamptz)');
	$node->command_ok([ 'pgbench', '-i', '-q', '-s', '1', 'postgres' ], "$name: pgbench init");
	my $bid = $node->safe_psql('postgres', 'SELECT revrx_backup_now(NULL, true)');
	like($bid, qr/^\d{8}T\d{6}Z/, "$name: backup $bid");

	# a light load: the last segment stays far from complete until the kill
	my $bench = RevrxTest::start_pgbench($node, '-n', '-c', '2', '-j', '2', '-R', '50', '-T', '600');
	my $idlog = $node->basedir . "/ids.log";
	my $writer = start_id_writer($node, $idlog);

	$during->($node, $agent) if $during;
	sleep 6;

	# partials are in the repository, and the status reports the exposure
	my $st = RevrxTest::status($node);
	ok(defined $st->{rpo_seconds} && $st->{rpo_seconds} < 5,
		"$name: rpo_seconds under load is small: " . ($st->{rpo_seconds} // 'NULL'));

	# the disaster: the server, its agent, its data directory and spool go
	my $killed_at = time;
	$node->kill9;
	$agent->kill('KILL');
	waitpid($writer, 0);
	eval { $bench->kill_kill; 1 };
	rmtree($node->data_dir);
	rmtree(RevrxTest::spool_dir($node));
	note "$name: killed at $killed_at";

	my ($started, $committed) = read_id_log($idlog);
	my @must = grep { $committed->{$_} < $killed_at - $KILL_MARGIN } keys %$committed;
	cmp_ok(scalar(@must), '>', 20, "$name: " . scalar(@must) . " ids committed before the margin");

	my ($r, $rc, $out, $err) = RevrxTest::restore_node("${name}_restored", $env);
	is($rc, 0, "$name: restore from the repository alone") or diag($err);
	RevrxTest::prepare_restored($r);
	ok(RevrxTest::start_restored($r, $env), "$name: the restored cluster finished recovery");

	my %restored = map { $_ => 1 } split /\n/,
	  $r->safe_psql('postgres', 'SELECT id FROM ids ORDER BY id');
	my @missing = sort { $a <=> $b } grep { !$restored{$_} } @must;
	my @invented = sort { $a <=> $b } grep { !exists $started->{$_} } keys %restored;
	is_deeply(\@missing, [],
		"$name: every id committed more than ${KILL_MARGIN}s before the kill is restored ("
		  . scalar(keys %restored) . " ids)")
	  or diag('missing ids: ' . join(' ', @missing[0 .. ($#missing < 20 ? $#missing : 19)])
		  . '; committed at ' . join(' ', map { sprintf('%.2f', $killed_at - $committed->{$_}) . 's before' } @missing[0 .. 2]));
	is_deeply(\@invented, [], "$name: no restored id was invented");
	my @newest = sort { $b <=> $a } keys %restored;
	note sprintf("%s: newest restored id %d committed %.2f s before the kill", $name, $newest[0],
		$killed_at - ($committed->{ $newest[0] } // $started->{ $newest[0] }))
	  if @newest;
	like(PostgreSQL::Test::Utils::slurp_file($r->logfile), qr/from \d+ partial/,
		"$name: recovery used a partial segment");
	$r->stop;
	return;
}

# ------------------------------------------------------------ posix repository

my $repodir = PostgreSQL::Test::Utils::tempdir('repo');
my $penv = { REVRX_REPO => "file://$repodir" };
disaster('posix', "file://$repodir", $penv);

# ------------------------------------------------------------ S3, frozen a while

my $s3 = RevrxTest::S3->start;
my $s3env = $s3->env(REVRX_RETRIES => 1, REVRX_TIMEOUT => 3);
$s3env->{REVRX_REPO} = $s3->repo_url('partial');
disaster(
	's3',
	$s3->repo_url('partial'),
	$s3env,
	sub {
		my ($node, $agent) = @_;
		sleep 2;
		my $pid = $s3->{handle}->{KIDS}[0]{PID};
		kill 'STOP', $pid;
		note 'S3 frozen';
		# the stopped child's SIGCHLD can cut a plain sleep short (it did, on 18)
		my $until = Time::HiRes::time() + 8;
		Time::HiRes::sleep($until - Time::HiRes::time()) while Time::HiRes::time() < $until;
		my $st = RevrxTest::status($node);
		cmp_ok($st->{rpo_seconds} // 0, '>=', 5,
			"s3: while S3 is frozen, rpo_seconds grows: " . ($st->{rpo_seconds} // 'NULL'));
		kill 'CONT', $pid;
		note 'S3 resumed';
		ok(RevrxTest::wait_for(sub { (RevrxTest::status($node)->{rpo_seconds} // 99) < 2 },
				120, 'the agent to catch up'),
			's3: the exposure is back under 2 s once S3 answers again');
	});

# ------------------------------------------------------------ wal-fetch rules

# listing of the posix repository's WAL keys
sub wal_keys
{
	my ($tli) = @_;
	opendir my $d, "$repodir/wal/$tli" or return ();
	my @k = grep { !/^\./ } readdir $d;
	closedir $d;
	return sort @k;
}

# (segment, generation, start, end) of a range's name, offsets as numbers
sub range_of
{
	my ($name) = @_;
	my ($seg, $gen, $start, $end) = $name =~ $RANGE or return;
	return ($seg, $gen, hex($start), hex($end));
}

my %keys = map { $_ => 1 } wal_keys('00000001');
my @ranges = grep { /$RANGE/ } sort keys %keys;
ok(@ranges >= 1, 'the posix repository holds partials: ' . scalar(@ranges));
my ($pseg) = sort { $b cmp $a } map { (range_of($_))[0] } @ranges;
ok(!grep({ $_ =~ /^\Q$pseg\E(\.zst|\.gz|\.lz4)?$/ } keys %keys), "$pseg is not stored complete");
my @pranges = sort { (range_of($a))[2] <=> (range_of($b))[2] } grep { /^\Q$pseg\E\./ } @ranges;
# every range shipped: one generation, from the segment's start, no gap
my ($pend, $gap, %gens) = (0, 0);
for my $r (@pranges)
{
	my (undef, $gen, $start, $end) = range_of($r);
	$gens{$gen} = 1;
	$gap = 1 if $start > $pend;
	$pend = $end if $end > $pend;
}
ok((range_of($pranges[0]))[2] == 0 && !$gap && keys(%gens) == 1,
	"the ranges of $pseg continue one another from its start: @pranges[0, -1] ("
	  . scalar(@pranges) . ')');
my @stale = grep { /^([0-9A-F]{24})\./ && $keys{"$1.zst"} } @ranges;
is_deeply(\@stale, [], 'no partial is left beside its complete segment');

my $fdir = PostgreSQL::Test::Utils::tempdir('fetch');
my ($rc, $out, $err) = RevrxTest::run_agent($penv, 'wal-fetch', $pseg, "$fdir/p");
is($rc, 0, "wal-fetch $pseg assembles its ranges") or diag($err);
is(-s "$fdir/p", $SEGSIZE, 'the fetched segment is zero-padded to the segment size');
my $bytes = RevrxTest::slurp_bin("$fdir/p");
isnt(substr($bytes, 0, 2), "\0\0", 'it starts with a WAL page header');
is(substr($bytes, $pend), "\0" x ($SEGSIZE - $pend), 'everything after the chain\'s end is zeros');

# A missing middle range: recovery stops at the gap, never past it.  While
# the WAL after the gap is stored, wal-fetch refuses to end recovery there;
# with --accept-gap it serves the WAL before the gap, then zeros.
cmp_ok(scalar(@pranges), '>=', 3, "$pseg has a middle range");
my $missing = $pranges[1];
my $gap_at = (range_of($missing))[2];
rename("$repodir/wal/00000001/$missing", "$fdir/$missing") or die $!;
($rc, $out, $err) = RevrxTest::run_agent($penv, 'wal-fetch', $pseg, "$fdir/gap");
is($rc, 126, "wal-fetch $pseg refuses to end recovery at the gap where $missing is missing");
like($err, qr/\Q$pseg\E" is missing .*later WAL of its timeline exists.*refusing to end recovery/s,
	'naming the segment and the WAL after the gap');
ok(!-e "$fdir/gap", 'and writes nothing');
($rc, $out, $err) = RevrxTest::run_agent($penv, 'wal-fetch', '--accept-gap', $pseg, "$fdir/gap");
is($rc, 0, "wal-fetch --accept-gap $pseg serves the WAL before the gap") or diag($err);
my $gapbytes = RevrxTest::slurp_bin("$fdir/gap");
ok(substr($gapbytes, 0, $gap_at) eq substr($bytes, 0, $gap_at),
	sprintf('the WAL before the gap at %X is the same', $gap_at));
ok(substr($gapbytes, $gap_at) eq "\0" x ($SEGSIZE - $gap_at), 'and nothing after it: no hole');
rename("$fdir/$missing", "$repodir/wal/00000001/$missing") or die $!;

# a segment's ranges that fill it are the segment, later WAL or not; the
# complete segment, when it is there, wins over any partial
my ($sysid) = PostgreSQL::Test::Utils::slurp_file("$repodir/repo.json") =~ /"system_identifier":\s*"(\d+)"/;
my ($complete) = grep { /^[0-9A-F]{24}\.zst$/ && $_ lt $pseg } wal_keys('00000001');
$complete =~ s/\.zst$//;
($rc, $out, $err) = RevrxTest::run_agent($penv, 'wal-fetch', $complete, "$fdir/c1");
is($rc, 0, "wal-fetch $complete") or diag($err);
my $cbytes = RevrxTest::slurp_bin("$fdir/c1");
my $g = '00000000000000A0';
RevrxTest::write_range("$repodir/wal/00000001", $complete, $g, 0, 0x800000, "\0" x 0x800000, $sysid);
($rc, $out, $err) = RevrxTest::run_agent($penv, 'wal-fetch', $complete, "$fdir/c2");
is($rc, 0, "wal-fetch $complete with a partial beside it");
ok(RevrxTest::slurp_bin("$fdir/c2") eq $cbytes,
	'a segment stored complete is fetched complete, never from a partial');
unlink "$repodir/wal/00000001/$complete.$g.00000000-00800000.partial";
rename("$repodir/wal/00000001/$complete.zst", "$fdir/$complete.zst") or die $!;
RevrxTest::write_range("$repodir/wal/00000001", $complete, $g, 0, 0x800000,
	substr($cbytes, 0, 0x800000), $sysid);
RevrxTest::write_range("$repodir/wal/00000001", $complete, $g, 0x800000, 0x1000000,
	substr($cbytes, 0x800000), $sysid);
($rc, $out, $err) = RevrxTest::run_agent($penv, 'wal-fetch', $complete, "$fdir/c3");
is($rc, 0, "wal-fetch $complete from two ranges that fill it, $pseg stored after it") or diag($err);
ok(RevrxTest::slurp_bin("$fdir/c3") eq $cbytes, 'is the segment, byte for byte');
unlink "$repodir/wal/00000001/$complete.$g.00800000-01000000.partial";
($rc, $out, $err) = RevrxTest::run_agent($penv, 'wal-fetch', $complete, "$fdir/c4");
is($rc, 126, "without its second half, $complete is not the end of the WAL while $pseg is stored");
unlink "$repodir/wal/00000001/$complete.$g.00000000-00800000.partial";
rename("$fdir/$complete.zst", "$repodir/wal/00000001/$complete.zst") or die $!;

# a chain is not the end of the WAL when a later segment is stored: its
# segment's complete copy is missing, and recovery must stop loudly (exit
# status above 125) rather than end at the chain
my $later = substr($pseg, 0, 16) . sprintf('%08X', hex(substr($pseg, 16, 8)) + 1);
copy("$repodir/wal/00000001/$complete.zst", "$repodir/wal/00000001/$later.zst") or die $!;
($rc, $out, $err) = RevrxTest::run_agent($penv, 'wal-fetch', $pseg, "$fdir/gap2");
is($rc, 126, "wal-fetch $pseg refuses its partials while $later is stored");
like($err, qr/\Q$pseg\E" is missing .*later WAL of its timeline exists.*\Q$later\E.*refusing to end recovery/s,
	'naming the missing segment and the later WAL');
ok(!-e "$fdir/gap2", 'and writes nothing');
($rc, $out, $err) = RevrxTest::run_agent($penv, 'wal-fetch', '--accept-gap', $pseg, "$fdir/gap2");
is($rc, 0, "wal-fetch --accept-gap $pseg serves the partials anyway") or diag($err);
like($err, qr/recovery ends at partial/, 'with a warning');
unlink "$repodir/wal/00000001/$later.zst";

# a timeline-2 fetch never uses a timeline-1 partial, even one misfiled
my $tli2 = '00000002' . substr($pseg, 8);
($rc, $out, $err) = RevrxTest::run_agent($penv, 'wal-fetch', $tli2, "$fdir/t2");
is($rc, 1, "wal-fetch $tli2 finds nothing (only timeline 1 has partials of it)");
mkdir "$repodir/wal/00000002";
copy("$repodir/wal/00000001/$pranges[0]", "$repodir/wal/00000002/$pranges[0]") or die $!;
($rc, $out, $err) = RevrxTest::run_agent($penv, 'wal-fetch', $tli2, "$fdir/t2");
is($rc, 1, "wal-fetch $tli2 ignores a timeline-1 partial under wal/00000002/");
ok(!-e "$fdir/t2", 'and writes nothing');

# the reachable range of a restore ends at the chain's end
my $pabs = (hex(substr($pseg, 8, 8)) * 256 + hex(substr($pseg, 16, 8))) * $SEGSIZE + $pend;
my $pend_fmt = sprintf('%X/%X', int($pabs / 2**32), $pabs % 2**32);
my $lsn_in = sprintf('%X/%X', int(($pabs - 100) / 2**32), ($pabs - 100) % 2**32);
my $lsn_out = sprintf('%X/%X', int(($pabs + $SEGSIZE) / 2**32), ($pabs + $SEGSIZE) % 2**32);
my ($pr, $prc, $pout, $perr) = RevrxTest::restore_node('in_partial', $penv, '--target-lsn', $lsn_in);
is($prc, 0, "restore to $lsn_in, inside the partials, is accepted") or diag($perr);
($pr, $prc, $pout, $perr) = RevrxTest::restore_node('after_partial', $penv, '--target-lsn', $lsn_out);
isnt($prc, 0, "restore to $lsn_out, after the partials, is refused");
like($perr, qr/after the last archived WAL.*\Q$pend_fmt\E/s, 'naming the chain\'s end as the end of the archive');

# ------------------------------------------------------------ the spool, and standbys

# Without an agent (a stalled repository), the exporter's ranges of a
# segment continue one another in the spool, stop at $MAX_UNSHIPPED
# (not one per round), and go once their segment is spooled complete
# (unless it is the one the flush just left); a standby exports nothing.
# After a crash-restart the partials carry a newer generation, and the
# older generation's go.  Over revrx.spool_max_size no partial is written.
my $primary = RevrxTest::new_node('primary', extra => "revrx.partial_interval = '200ms'\n");
$primary->start;
my $prepo = PostgreSQL::Test::Utils::tempdir('repo_primary');
my $pagent = RevrxTest::Agent->start($primary, repo => "file://$prepo");
$primary->backup('b');
$pagent->stop;
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
my $standby_spool = PostgreSQL::Test::Utils::tempdir('spool_standby');
$standby->append_conf('postgresql.conf', "revrx.spool_dir = '$standby_spool'\n");
mkdir "$standby_spool/wal";
$standby->start;
$primary->safe_psql('postgres', 'CREATE TABLE w(i int)');
for my $i (1 .. 15)
{
	$primary->safe_psql('postgres', "INSERT INTO w SELECT generate_series(1, 1000)");
	usleep(200_000);
}
$primary->wait_for_catchup($standby);
sleep 1;
sub spooled_partials
{
	my ($dir) = @_;
	opendir my $d, "$dir/wal" or return ();
	my @p = grep { /$RANGE\.rvx$/ } readdir $d;
	closedir $d;
	return sort @p;
}
# the segment the flush is in, as a number
sub flush_segno
{
	my ($node) = @_;
	my $seg = $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_current_wal_flush_lsn())');
	return hex(substr($seg, 8, 8)) * 256 + hex(substr($seg, 16, 8));
}
# The spool's partials: per segment at most $MAX_UNSHIPPED (and the last
# bytes of the segment the flush left), one after the other; none of a
# segment spooled complete before the one the flush just left.
sub check_spool
{
	my ($dir, $node, $what) = @_;
	my (@spooled, %per_segment, @stale);
	# the exporter tidies each round: give it a few (up to 30 s on a busy machine)
	for (1 .. 300)
	{
		my $current = flush_segno($node);
		@spooled = spooled_partials($dir);
		%per_segment = ();
		push @{ $per_segment{ (range_of($_))[0] } }, $_ for @spooled;
		@stale = grep { -e "$dir/wal/$_.rvx" && hex(substr($_, 8, 8)) * 256 + hex(substr($_, 16, 8)) + 1 < $current }
		  keys %per_segment;
		last unless @stale;
		usleep(100_000);
	}
	is_deeply([ grep { @{ $per_segment{$_} } > $MAX_UNSHIPPED + 1 } keys %per_segment ], [],
		"$what: at most $MAX_UNSHIPPED unshipped ranges of a segment stay in the spool")
	  or diag(join(' ', @spooled));
	my @broken;
	for my $seg (keys %per_segment)
	{
		my $end;
		for my $r (sort { (range_of($a))[2] <=> (range_of($b))[2] } @{ $per_segment{$seg} })
		{
			my (undef, undef, $start, $e) = range_of($r);
			push @broken, $r if defined $end && $start != $end;
			$end = $e;
		}
	}
	is_deeply(\@broken, [], "$what: the spooled ranges of a segment continue one another");
	is_deeply(\@stale, [], "$what: no partial of a segment spooled complete before the current one");
	return @spooled;
}
my $pspool = RevrxTest::spool_dir($primary);
my @spooled = check_spool($pspool, $primary, 'stalled agent');
ok(@spooled >= 1, 'the primary exported partials without an agent: ' . join(' ', @spooled));
# 15 rounds of WAL in one segment: the exporter stopped at the limit
my $cur = $primary->safe_psql('postgres', 'SELECT pg_walfile_name(pg_current_wal_flush_lsn())');
my @cur_ranges = grep { /^\Q$cur\E\./ } @spooled;
ok(@cur_ranges >= 2 && @cur_ranges <= $MAX_UNSHIPPED,
	"the current segment has ranges, no more than $MAX_UNSHIPPED: " . scalar(@cur_ranges));
my @standby_spooled = spooled_partials($standby_spool);
is_deeply(\@standby_spooled, [], 'a standby exports no partial');
$standby->stop;

# a crash-restart: a new generation, which supersedes the older one
my ($gen_before) = reverse sort map { substr($_, 25, 16) } @spooled;
$primary->stop('immediate');
$primary->start;
$primary->safe_psql('postgres', "INSERT INTO w SELECT generate_series(1, 1000)");
my @after;
for (1 .. 300)
{
	@after = grep { substr($_, 25, 16) gt $gen_before } spooled_partials($pspool);
	last if @after;
	usleep(100_000);
}
ok(@after >= 1, "after a crash-restart the partials have a newer generation than $gen_before: @after");
check_spool($pspool, $primary, 'after a crash-restart');
my %new_segments = map { substr($_, 0, 24) => 1 } @after;
is_deeply([ grep { substr($_, 25, 16) le $gen_before && $new_segments{ substr($_, 0, 24) } }
			spooled_partials($pspool) ], [],
	'no partial of the older generation stays beside a newer one');

# over revrx.spool_max_size: partials are optional, none is written (the
# spool's WAL files are made to take more with a sparse file of 20 MB)
$primary->append_conf('postgresql.conf', "revrx.spool_max_size = 16\n");
$primary->reload;
my $log_offset = -s $primary->logfile;
my $filler = "$pspool/wal/filler.rvx";
open my $fh, '>', $filler or die "$filler: $!";
truncate $fh, 20 * 1024 * 1024 or die "$filler: $!";
close $fh;
$primary->safe_psql('postgres', "INSERT INTO w SELECT generate_series(1, 1000)");
ok($primary->wait_for_log(qr/skips partial WAL: the spool holds/, $log_offset),
	'over the spool cap the exporter says it skips partials');
# a segment begun while over the cap: no partial of it
$primary->safe_psql('postgres', 'SELECT pg_switch_wal()');
$primary->safe_psql('postgres', "INSERT INTO w SELECT generate_series(1, 1000)");
my $current = $primary->safe_psql('postgres', 'SELECT pg_walfile_name(pg_current_wal_flush_lsn())');
sleep 1;
is_deeply([ grep { /^\Q$current\E\./ } spooled_partials($pspool) ], [],
	"over the spool cap, no partial of $current is written");
unlink $filler;
my @resumed;
for (1 .. 300)
{
	@resumed = grep { /^\Q$current\E\./ } spooled_partials($pspool);
	last if @resumed;
	usleep(100_000);
}
ok(@resumed >= 1, "below the cap again, $current is exported: @resumed");
check_spool($pspool, $primary, 'over the spool cap');
$primary->stop;

done_testing();
