# What a backup does not hold, said where users look: an unlogged table's
# data is left out of every backup (PostgreSQL cannot recover it), and that
# must be visible instead of a surprise after a restore.
#   - backup.json's "not_included" names the unlogged relation (its path,
#     database and file node, the bytes left out), and says nothing of the
#     logged table beside it;
#   - revrx_backups().not_included and `revrx-agent list` show it;
#   - the restore writes only the unlogged relation's init fork (its main
#     fork's data is not in the backup), and the started copy has the
#     table, empty, and the logged one with every row, as the record says;
#   - the restore drill's report carries the record's list, and its check
#     "unlogged_relations" names the copy's unlogged relations and finds
#     none that the backup left out as unlogged but that is permanent;
#   - a cluster without data checksums gets a "no_data_checksums" entry
#     (pages could not be verified, incrementals are full), a tablespace
#     outside the data directory one that says where it will be restored,
#     and a file the backup skips (a named pipe) one with the reason; in
#     the record, `list` and revrx_backups().

use strict;
use warnings FATAL => 'all';

use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;

use RevrxTest;

my $repodir = PostgreSQL::Test::Utils::tempdir('repo');
my $node = RevrxTest::new_node('primary', timeout => 30);
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION revrx;
	CREATE TABLE kept(id int PRIMARY KEY, v text);
	INSERT INTO kept SELECT i, md5(i::text) FROM generate_series(1, 5000) i;
	-- no autovacuum: its visibility map would change the bytes measured below
	CREATE UNLOGGED TABLE scratchpad(id int PRIMARY KEY, v text)
	  WITH (autovacuum_enabled = off, toast.autovacuum_enabled = off);
	INSERT INTO scratchpad SELECT i, repeat('x', 200) FROM generate_series(1, 5000) i;
	CHECKPOINT;
});
my $unlogged_path = $node->safe_psql('postgres', "SELECT pg_relation_filepath('scratchpad')");
my $kept_path = $node->safe_psql('postgres', "SELECT pg_relation_filepath('kept')");
my $unlogged_bytes = $node->safe_psql('postgres',
	"SELECT pg_relation_size('scratchpad', 'main') + pg_relation_size('scratchpad', 'fsm')
	      + pg_relation_size('scratchpad', 'vm')");
my $agent = RevrxTest::Agent->start($node, repo => "file://$repodir");
my $env = { REVRX_REPO => "file://$repodir" };

my $id = $node->safe_psql('postgres', "SELECT revrx_backup_now('with unlogged', wait => true)");
like($id, qr/^\d{8}T\d{6}Z/, "backup $id taken");

# -- the record
my ($b) = grep { $_->{id} eq $id } @{ RevrxTest::backups($env) };
ok($b, 'the backup is listed');
my @ni = @{ $b->{not_included} // [] };
my @unlogged = grep { $_->{kind} eq 'unlogged_relation' } @ni;
# the table, its primary key, its TOAST table and the TOAST index: all unlogged
is(scalar @unlogged, 4, 'four unlogged relations left out: the table, its index, its TOAST table and index')
  or diag(explain(\@ni));
my ($t) = grep { $_->{path} eq $unlogged_path } @unlogged;
ok($t, "the unlogged table's file $unlogged_path is named");
is($t->{bytes}, $unlogged_bytes, 'with the bytes of its main, fsm and vm forks') if $t;
is($t->{database_oid}, $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'postgres'"),
	'and its database') if $t;
like($t->{note} // '', qr/restored empty/, 'the note says it is restored empty') if $t;
ok(!(grep { ($_->{path} // '') eq $kept_path } @ni), 'the logged table is not in the list');
ok(!(grep { $_->{kind} eq 'no_data_checksums' } @ni), 'a cluster with checksums gets no checksum note');

# -- SQL and list
my $sql = $node->safe_psql('postgres', qq{
	SELECT count(*) FROM revrx_backups(), jsonb_array_elements(not_included) e
	 WHERE id = '$id' AND e->>'kind' = 'unlogged_relation'
	   AND pg_filenode_relation(0, (e->>'relfilenode')::oid) = 'scratchpad'::regclass});
is($sql, '1', 'revrx_backups().not_included names the relation (resolvable with pg_filenode_relation)');
my ($rc, $out, $err) = RevrxTest::run_agent($env, 'list');
is($rc, 0, 'list succeeds');
like($out, qr/not included: 4 unlogged relations \([^)]+, restored empty\)/, 'list says what is not included');

# -- restore: the table exists, empty; the logged one is whole
my $restored;
($restored, $rc, $out, $err) = RevrxTest::restore_node('restored', $env, '--backup', $id);
is($rc, 0, 'restore succeeds') or diag($err);
ok(-f $restored->data_dir . "/${unlogged_path}_init", "the unlogged table's init fork is restored");
ok(!-e $restored->data_dir . "/$unlogged_path", 'its main fork is not: its data is in no backup');
ok(-f $restored->data_dir . "/$kept_path", "the logged table's file is restored");
RevrxTest::prepare_restored($restored);
ok(RevrxTest::start_restored($restored, $env), 'the restored copy starts');
is($restored->safe_psql('postgres', 'SELECT count(*) FROM scratchpad'), '0',
	'the unlogged table is restored empty, as the record says');
is($restored->safe_psql('postgres', 'SELECT count(*) FROM kept'), '5000', 'the logged table is whole');
$restored->stop;

# -- the drill
my $scratch = PostgreSQL::Test::Utils::tempdir('scratch') . '/drill';
my $report = "$PostgreSQL::Test::Utils::tmp_check/report.json";
($rc, $out, $err) = RevrxTest::run_agent($env, 'verify', '--backup', $id, '--scratch', $scratch,
	'--report', $report);
is($rc, 0, 'the drill passes') or diag($err);
my $doc = decode_json(slurp_file($report));
is(scalar(grep { $_->{kind} eq 'unlogged_relation' } @{ $doc->{not_included} // [] }), 4,
	"the drill's report carries what the backup does not hold");
my ($ck) = grep { $_->{name} eq 'unlogged_relations' } @{ $doc->{checks} };
ok($ck && $ck->{passed} && !$ck->{skipped}, 'check unlogged_relations passed') or diag(explain($ck));
my $toast = 'pg_toast.pg_toast_' . $node->safe_psql('postgres', "SELECT 'scratchpad'::regclass::oid");
my @expected = sort ('public.scratchpad', 'public.scratchpad_pkey', $toast, "${toast}_index");
is_deeply([ sort map { $_->{relation} } @{ $ck->{details}{relations} // [] } ], \@expected,
	'it names the unlogged relations of the copy');
is_deeply($ck->{details}{permanent_left_out}, [], 'none of them permanent');

# -- a cluster without data checksums
$agent->stop;
$node->stop;
command_ok([ 'pg_checksums', '--disable', '-D', $node->data_dir ], 'data checksums turned off');
$node->start;
my $tsdir = PostgreSQL::Test::Utils::tempdir('tablespace');
$node->safe_psql('postgres', "CREATE TABLESPACE outside LOCATION '$tsdir'; CREATE TABLE elsewhere(i int) TABLESPACE outside");
my $fifo = $node->data_dir . '/a_pipe';
system('mkfifo', $fifo) == 0 or die "mkfifo: $!";
$agent = RevrxTest::Agent->start($node, repo => "file://$repodir");
my $id2 = $node->safe_psql('postgres', "SELECT revrx_backup_now('no checksums', wait => true)");
($b) = grep { $_->{id} eq $id2 } @{ RevrxTest::backups($env) };
my ($nc) = grep { $_->{kind} eq 'no_data_checksums' } @{ $b->{not_included} // [] };
ok($nc, 'a cluster without checksums: the record says so');
like($nc->{note} // '', qr/could not be verified/, 'and why it matters') if $nc;
my ($ts) = grep { $_->{kind} eq 'tablespace_outside_data_directory' } @{ $b->{not_included} // [] };
is($ts->{path} // '', $tsdir, 'a tablespace outside the data directory: its location is named');
like($ts->{note} // '', qr/restored at the same location unless restore --tablespace-map/, 'with where it is restored');
my ($sk) = grep { $_->{kind} eq 'skipped_file' } @{ $b->{not_included} // [] };
is($sk->{path} // '', 'a_pipe', 'a named pipe in the data directory: skipped, and named');
like($sk->{note} // '', qr/neither a regular file nor a directory/, 'with the reason');
($rc, $out, $err) = RevrxTest::run_agent($env, 'list');
like($out, qr/1 file skipped; 1 tablespace restored at its own location; no data checksums/, 'list shows them');
# and SQL, where a DBA looks first: the catalog refreshes on its own schedule
my $kinds = '';
RevrxTest::wait_for(
	sub {
		$kinds = $node->safe_psql('postgres', qq{
			SELECT string_agg(e->>'kind' || ':' || coalesce(e->>'path', ''), ' ' ORDER BY e->>'kind')
			  FROM revrx_backups(), jsonb_array_elements(not_included) e
			 WHERE id = '$id2' AND e->>'kind' <> 'unlogged_relation'});
		return $kinds ne '';
	},
	60, "revrx_backups() to list $id2");
is($kinds, "no_data_checksums: skipped_file:a_pipe tablespace_outside_data_directory:$tsdir",
	'revrx_backups().not_included shows the three');

$agent->stop;
$node->stop;
done_testing();
