# Damaged objects in the repository: wal-fetch refuses a corrupted,
# truncated or header-damaged object with a non-zero exit and a message
# naming the object, and leaves nothing at the destination, for a local
# repository and for S3.

use strict;
use warnings FATAL => 'all';

use PostgreSQL::Test::Utils;
use Test::More;

use RevrxTest;

my $s3 = RevrxTest::S3->start;
my $repodir = PostgreSQL::Test::Utils::tempdir('repo');

my @cases = (
	[ 'file', "file://$repodir", {}, sub { "$repodir/$_[0]" } ],
	[ 's3', $s3->repo_url('corrupt'), $s3->env, sub { $s3->object_path('corrupt', $_[0]) } ],
);

sub flip_byte
{
	my ($path, $offset) = @_;
	open my $fh, '+<:raw', $path or die "$path: $!";
	seek $fh, $offset, 0;
	read $fh, my $b, 1;
	seek $fh, $offset, 0;
	print $fh chr(ord($b) ^ 0x40);
	close $fh;
}

for my $c (@cases)
{
	my ($kind, $repo, $env, $path_of) = @$c;
	my $node = RevrxTest::new_node("corrupt_$kind");
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION revrx');
	my $agent = RevrxTest::Agent->start($node, repo => $repo, env => $env);
	$node->command_ok([ 'pgbench', '-i', '-q', '-s', '2', 'postgres' ], "$kind: some WAL");
	my @segs = map { RevrxTest::switch_wal($node) } 1 .. 4;
	ok(RevrxTest::wait_archived($node, $segs[-1], 120), "$kind: archived");
	$agent->stop;

	my $dest = PostgreSQL::Test::Utils::tempdir("dest_$kind");
	my %damage = (
		'flipped payload byte' => sub { flip_byte($_[0], 72 + int((-s $_[0]) / 3)) },
		'truncated' => sub { truncate($_[0], int((-s $_[0]) / 2)) or die $! },
		'damaged header' => sub { flip_byte($_[0], 20) },
	);
	my $i = 0;
	for my $what (sort keys %damage)
	{
		my $seg = $segs[ $i++ ];
		my $key = "wal/00000001/$seg.zst";
		my $path = $path_of->($key);
		ok(-f $path, "$kind: object $key is where we expect it");
		$damage{$what}->($path);
		my ($rc, $out, $err) = RevrxTest::run_agent($agent->env, 'wal-fetch', $seg, "$dest/$seg");
		# 7 = corrupt; S3 may also cut a short object off as a broken transfer (5)
		ok($rc == 7 || ($kind eq 's3' && $what eq 'truncated' && $rc == 5),
			"$kind, $what: wal-fetch fails as corrupt (exit $rc)");
		like($err, qr/\Q$seg\E/, "$kind, $what: the message names the object");
		note "$kind, $what: $err";
		ok(!-e "$dest/$seg", "$kind, $what: nothing written at the destination");
		ok(!glob("$dest/*.tmp"), "$kind, $what: no temporary file left");
	}
	# the undamaged one still comes back
	my ($rc) = RevrxTest::run_agent($agent->env, 'wal-fetch', $segs[3], "$dest/$segs[3]");
	is($rc, 0, "$kind: an undamaged segment is fetched");
	ok(RevrxTest::slurp_bin("$dest/$segs[3]") eq RevrxTest::slurp_bin($node->data_dir . "/pg_wal/$segs[3]"),
		"$kind: identical to the original");
	$node->stop;
}

done_testing();
