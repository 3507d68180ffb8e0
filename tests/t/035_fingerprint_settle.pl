# An incremental holds what the workload changed, not what the fingerprint
# scan changed (docs/incremental.md, "Hint bits and the fingerprint scan").
#
# The scan after a backup reads every row; rows nobody had read since they
# were written get their hint bits set, and with data checksums each such
# page is WAL-logged with a new LSN.  Without the settle pass the next
# incremental stores all those pages again: this first half shows it, so
# that the test fails if the second half's numbers come about any other way.
# With the settle pass (revrx.fingerprint_settle, the default) the hints are
# set before the backup starts, and an incremental after a change of three
# rows stores the pages those rows were on and moved to, and no others,
# while the backup's fingerprints are still taken.  The settle pass reads
# only the pages the visibility map does not mark all-visible: none after
# VACUUM, the few a change touched after it.

use strict;
use warnings FATAL => 'all';

use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;

use RevrxTest;

my $repodir = PostgreSQL::Test::Utils::tempdir('repo');
my $node = RevrxTest::new_node('settle', timeout => 30, compression => 'none',
	extra => "revrx.fingerprint_settle = off\nautovacuum = off\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION revrx');
my $agent = RevrxTest::Agent->start($node, repo => "file://$repodir");

sub stored_json
{
	my ($key) = @_;
	my $path = "$repodir/$key";
	return undef unless -f $path;
	return decode_json(substr(RevrxTest::slurp_bin($path), 72));
}

# A table of 20000 rows nobody has read since they were written (the
# primary key exists before the rows: building it would read them).
sub load_table
{
	my ($name) = @_;
	$node->safe_psql('postgres',
		"CREATE TABLE $name (id int PRIMARY KEY, pad text) WITH (autovacuum_enabled = off)");
	$node->safe_psql('postgres',
		"INSERT INTO $name SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g");
	return (
		$node->safe_psql('postgres', "SELECT pg_relation_filepath('$name')"),
		$node->safe_psql('postgres', "SELECT pg_relation_size('$name') / 8192"));
}

# the pages holding rows 1, 10000 and 19990
sub pages_of_rows
{
	my ($name) = @_;
	return split /\n/, $node->safe_psql('postgres',
		"SELECT DISTINCT (ctid::text::point)[0]::int FROM $name WHERE id IN (1, 10000, 19990)");
}

# A full backup with its fingerprints, three rows changed, an incremental:
# the pages of the table the incremental stores, and those the change
# touched (where the rows were and where their new versions went).
sub full_change_incremental
{
	my ($name, $path) = @_;
	my $full = $node->safe_psql('postgres', "SELECT revrx_backup_now('full $name', wait => true)");
	ok(RevrxTest::wait_for(sub { stored_json("backup/$full/fingerprints.json") }, 120, 'fingerprints'),
		"backup $full has its fingerprints");
	my %touched = map { $_ => 1 } pages_of_rows($name);
	$node->safe_psql('postgres', "UPDATE $name SET pad = repeat('y', 200) WHERE id IN (1, 10000, 19990)");
	$touched{$_} = 1 for pages_of_rows($name);
	my $incr = $node->safe_psql('postgres',
		"SELECT revrx_backup_now('incr $name', true, incremental => true)");
	my $rec = RevrxTest::backup_record($repodir, $incr);
	is($rec->{kind}, 'incremental', "backup $incr is incremental");
	my $entry = RevrxTest::file_entry($rec, $path);
	return (int($entry->{stored} / 8192), scalar(keys %touched), $full, $entry);
}

# --- without the settle pass: the fingerprint scan's hints are stored again
my ($path1, $pages1) = load_table('plain');
cmp_ok($pages1, '>', 500, "the table has $pages1 pages");
my ($stored1, $touched1, undef, $entry1) = full_change_incremental('plain', $path1);
ok(!$entry1->{delta}, "$path1 is stored whole: the hints changed most of its pages");
cmp_ok($stored1, '>', $pages1 * 0.9,
	"without the settle pass the incremental stores $stored1 of $pages1 pages for $touched1 changed");

# --- with it
$node->safe_psql('postgres', 'ALTER SYSTEM SET revrx.fingerprint_settle = on');
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
my ($path2, $pages2) = load_table('settled');
my ($stored2, $touched2, $full2, $entry2) = full_change_incremental('settled', $path2);
ok($entry2->{delta}, "$path2 is a delta");
cmp_ok($touched2, '<=', 6, "the change touched $touched2 pages");
cmp_ok($stored2, '<=', $touched2,
	"with the settle pass the incremental stores $stored2 of $pages2 pages: those the change touched ($touched2)");
like(slurp_file($node->logfile),
	qr/revrx settle pass read (\d+) of \1 relations of database "postgres" before backup \Q$full2\E/,
	'the settle pass read every relation before the full backup, and says so');

my $fp = stored_json("backup/$full2/fingerprints.json");
my ($t) = grep { $_->{table} eq 'settled' } @{ $fp->{tables} };
is($t->{rows}, 20000, 'the fingerprints after that backup are still taken, with every row');

# --- the settle pass reads only pages that are not all-visible: after
# VACUUM none (a sequential scan would change nothing on them), after a
# change of three rows only the pages it touched
sub no_fingerprint_worker
{
	my ($before) = @_;
	ok(RevrxTest::wait_for(sub {
		$node->safe_psql('postgres',
			"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'revrx fingerprint'") eq '0' },
		120, 'fingerprint workers'), "no fingerprint worker runs before $before");
}
sub settle_pages
{
	my ($label) = @_;
	no_fingerprint_worker("the $label backup");
	my $id = $node->safe_psql('postgres', "SELECT revrx_backup_now('$label', wait => true)");
	my ($read, $total) = slurp_file($node->logfile) =~
	  /revrx settle pass read \d+ of \d+ relations of database "postgres" before backup \Q$id\E in \d+ ms\n.*DETAIL:  (\d+) of their (\d+) pages read, the others all-visible/;
	return ($read, $total);
}
# no fingerprint scan holds a snapshot that VACUUM would have to respect
no_fingerprint_worker('VACUUM');
# (INDEX_CLEANUP on: for a few dead rows VACUUM would otherwise leave their
# line pointers, and their pages not all-visible, until a later VACUUM)
$node->safe_psql('postgres', 'VACUUM (INDEX_CLEANUP on) plain, settled');
my ($read3, $total3) = settle_pages('after vacuum');
cmp_ok($total3, '>=', $pages1 + $pages2, "the settle pass looked at both tables' $total3 pages");
is($read3, 0, 'after VACUUM it read none of them: all are all-visible');
$node->safe_psql('postgres', "UPDATE settled SET pad = repeat('z', 200) WHERE id IN (1, 10000, 19990)");
my ($read4) = settle_pages('after a change');
cmp_ok($read4, '>=', 1, "after a change of three rows it read $read4 pages");
cmp_ok($read4, '<=', 6, 'only those the change touched');

$agent->stop;
$node->stop;
done_testing();
