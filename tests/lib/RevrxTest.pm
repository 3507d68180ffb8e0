
# Copyright: revrx developers

=pod

=head1 NAME

RevrxTest - the pieces revrx's TAP tests are made of

=head1 SYNOPSIS

  use RevrxTest;

  my $s3   = RevrxTest::S3->start;                  # real S3 server on 127.0.0.1
  my $repo = $s3->repo_url('prefix');               # s3://testbkt/prefix
  my $node = RevrxTest::new_node('primary');        # archiving through revrx
  $node->start;
  my $agent = RevrxTest::Agent->start($node, repo => $repo, env => $s3->env);
  ...
  $agent->stop; $s3->stop;

=head1 DESCRIPTION

Every test builds the same kind of world: a PostgreSQL 15 cluster made by
PostgreSQL::Test::Cluster (initdb in a temporary directory, a unix socket
there, a free port) that loads revrx as its archive library; a spool
directory beside it; revrx-agent running as a separate process; and a
repository in a local directory or in an S3-compatible server started from
tests/s3 on a free port of 127.0.0.1, which verifies SigV4 signatures.
Everything a test starts is stopped when the test ends, also on failure.

=cut

package RevrxTest;

use strict;
use warnings FATAL => 'all';

use Carp;
use File::Path qw(make_path);
use File::Temp ();
use IPC::Run;
use POSIX qw(WNOHANG);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

our $src = $ENV{REVRX_SRC} // do { my $d = __FILE__; $d =~ s{/tests/lib/RevrxTest\.pm$}{}; $d };

my @started;    # every agent and server, to stop at exit

END
{
	local $?;
	$_->stop for grep { defined $_ } reverse @started;
}

=pod

=head2 new_node(name, %opts)

A cluster configured to archive through revrx.  Options: spool (a
directory; default: a fresh one), compression, ack ('repository' or
'spool'), timeout (revrx.archive_timeout in seconds, default 10),
lookahead, extra (more postgresql.conf text).  Data checksums are on, as
in production.  WAL is kept in pg_wal
(wal_keep_size) so tests can compare archived segments with the originals.

=cut

sub new_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	my $spool = $opts{spool} // PostgreSQL::Test::Utils::tempdir("spool_$name");

	$node->init(allows_streaming => 1, extra => [ '--data-checksums' ]);
	my $conf = <<"EOC";
shared_preload_libraries = 'revrx'
archive_mode = on
archive_library = 'revrx'
revrx.spool_dir = '$spool'
revrx.archive_timeout = @{[ $opts{timeout} // 10 ]}
wal_keep_size = '2GB'
max_wal_size = '2GB'
checkpoint_timeout = '30min'
fsync = on
EOC
	$conf .= "revrx.compression = '$opts{compression}'\n" if $opts{compression};
	$conf .= "revrx.archive_ack = '$opts{ack}'\n" if $opts{ack};
	$conf .= "revrx.archive_lookahead = $opts{lookahead}\n" if defined $opts{lookahead};
	$conf .= $opts{extra} if $opts{extra};
	$node->append_conf('postgresql.conf', $conf);
	$node->{revrx_spool} = $spool;
	return $node;
}

sub spool_dir { my ($node) = @_; return $node->{revrx_spool}; }

=pod

=head2 agent_bin()

The revrx-agent the tests run: the installed one (on PATH, as users run it).

=cut

# read once at load: run_agent and the Agent clear REVRX_* from %ENV before they ask
my $agent_bin = $ENV{REVRX_AGENT_BIN};

sub agent_bin
{
	# run-tests.sh sets it to test a tree's own build instead of the installed one
	return $agent_bin // 'revrx-agent';
}

=pod

=head2 run_agent(\%env, @args)

Runs a one-shot agent command with exactly the given revrx/AWS
environment; returns (exit code, stdout, stderr).

=cut

sub run_agent
{
	my ($env, @args) = @_;
	my ($out, $err) = ('', '');
	local %ENV = clean_env(%$env);
	IPC::Run::run([ agent_bin(), @args ], '<', \undef, '>', \$out, '2>', \$err,
		IPC::Run::timeout(120));
	return ($? >> 8, $out, $err);
}

# The environment for an agent: ours minus any revrx/AWS settings, plus the given ones.
sub clean_env
{
	my (%add) = @_;
	my %env = %ENV;
	# (but REVRX_AGENT_BIN, which agent_bin() reads after %ENV is replaced)
	delete $env{$_} for grep { /^(REVRX_|AWS_)/ && $_ ne 'REVRX_AGENT_BIN' } keys %env;
	return (%env, %add);
}

=pod

=head2 wait_for(sub, timeout_s, what)

Polls until the sub returns true; fails the test (and returns false) after
timeout_s seconds.

=cut

sub wait_for
{
	my ($cond, $timeout, $what) = @_;
	my $deadline = time + $timeout;
	while (time < $deadline)
	{
		return 1 if $cond->();
		usleep(100_000);
	}
	diag("timed out after ${timeout}s waiting for $what");
	return 0;
}

=pod

=head2 switch_wal(node)

Forces a segment switch (with a write first, so the switch is not a no-op)
and returns the name of the segment that was completed.

=cut

sub switch_wal
{
	my ($node) = @_;
	$node->safe_psql('postgres',
		"CREATE TABLE IF NOT EXISTS revrx_switch(i int); INSERT INTO revrx_switch VALUES (1);");
	return $node->safe_psql('postgres',
		"SELECT pg_walfile_name(pg_switch_wal())");
}

=pod

=head2 wait_archived(node, name, timeout)

Waits until pg_stat_archiver says name (or a later file) was archived.

=cut

sub wait_archived
{
	my ($node, $name, $timeout) = @_;
	return wait_for(
		sub {
			my $last = $node->safe_psql('postgres',
				"SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver");
			return $last ge $name && $last ne '';
		},
		$timeout // 120,
		"$name to be archived");
}

=pod

=head2 segments_between(first, last)

Every segment name from first to last (same timeline, 16 MB segments).

=cut

sub segments_between
{
	my ($first, $last) = @_;
	my ($tli) = substr($first, 0, 8);
	my $n1 = hex(substr($first, 8, 8)) * 256 + hex(substr($first, 16, 8));
	my $n2 = hex(substr($last, 8, 8)) * 256 + hex(substr($last, 16, 8));
	my @names;
	for my $n ($n1 .. $n2)
	{
		push @names, sprintf("%s%08X%08X", $tli, int($n / 256), $n % 256);
	}
	return @names;
}

sub slurp_bin
{
	my ($path) = @_;
	open my $fh, '<:raw', $path or croak "could not open $path: $!";
	local $/;
	my $data = <$fh>;
	close $fh;
	return $data;
}

# Writes data to path as it is (puts back what slurp_bin read).
sub write_bin
{
	my ($path, $data) = @_;
	open my $fh, '>:raw', $path or croak "could not write $path: $!";
	print $fh $data;
	close $fh or croak "could not write $path: $!";
	return;
}

=pod

=head2 write_object(path, content, sysid [, digest])

Writes content as a plain (uncompressed, unencrypted) revrx object of
cluster sysid at path, as the server would (common/object.h): for objects a
test makes by hand in a file:// repository.  digest (32 bytes) is the
content digest its header carries, by default the content's SHA-256: any
other makes an object sound in storage whose content is not the one its
header names.

=cut

sub write_object
{
	my ($path, $content, $sysid, $digest) = @_;
	require Compress::Zlib;
	require Digest::SHA;
	my $len = length($content);
	my $h = 'RVXO' . pack('n', 1) . pack('C', 0) . pack('C', 0)
	  . pack('Q>', $sysid) . pack('Q>', $len) . pack('Q>', $len)
	  . ($digest // Digest::SHA::sha256($content)) . pack('N', Compress::Zlib::crc32($content));
	$h .= pack('N', Compress::Zlib::crc32($h));
	open my $fh, '>:raw', $path or croak "$path: $!";
	print $fh $h, $content;
	close $fh;
	return;
}

=pod

=head2 write_range(dir, segment, generation, start, end, wal, sysid)

Writes bytes [start, end) of segment (wal holds exactly them) as the
exporter would, a plain range object named
SEGMENT.GENERATION.START-END.partial in dir: its identity (common/
walname.h: "RVXR", timeline, start and end LSN, big-endian) before the WAL.
generation is 16 hex digits.

=cut

sub write_range
{
	my ($dir, $segment, $generation, $start, $end, $wal, $sysid) = @_;
	my $segsize = 16 * 1024 * 1024;
	my $segno = hex(substr($segment, 8, 8)) * (2**32 / $segsize) + hex(substr($segment, 16, 8));
	my $head = 'RVXR' . pack('N', hex(substr($segment, 0, 8)))
	  . pack('Q>', $segno * $segsize + $start) . pack('Q>', $segno * $segsize + $end);
	croak 'write_range: the WAL is not end - start bytes' if length($wal) != $end - $start;
	write_object(sprintf('%s/%s.%s.%08X-%08X.partial', $dir, $segment, $generation, $start, $end),
		$head . $wal, $sysid);
	return;
}

=pod

=head2 backup_record(repodir, id)

A backup's record (backup.json) read straight from a file:// repository
whose objects are stored uncompressed (compression => 'none'): the JSON
after the object's 72-byte header.  file_entry(record, path) is one of its
files.

=cut

sub backup_record
{
	my ($repodir, $id) = @_;
	my $bytes = slurp_bin("$repodir/backup/$id/backup.json");
	require JSON::PP;
	return JSON::PP::decode_json(substr($bytes, 72));
}

sub file_entry
{
	my ($rec, $path) = @_;
	return (grep { $_->{path} eq $path } @{ $rec->{files} })[0];
}

=pod

=head2 status(node)

revrx_status() as a hash.

=cut

sub status
{
	my ($node) = @_;
	my $row = $node->safe_psql('postgres',
		"SELECT row_to_json(s) FROM revrx_status() s");
	require JSON::PP;
	return JSON::PP::decode_json($row);
}


=pod

=head2 verify_archive(node, env, first, last)

Fetches every segment from first to last with `revrx-agent wal-fetch` (the
agent environment env) and compares it with the node's pg_wal.  Returns
(missing, different) counts; the failures are diag()ed.

=cut

sub verify_archive
{
	my ($node, $env, $first, $last) = @_;
	my $dir = PostgreSQL::Test::Utils::tempdir('verify');
	my ($missing, $different) = (0, 0);
	for my $seg (segments_between($first, $last))
	{
		my ($rc, $out, $err) = run_agent($env, 'wal-fetch', $seg, "$dir/$seg");
		if ($rc != 0)
		{
			diag("wal-fetch $seg: exit $rc: $err");
			$missing++;
			next;
		}
		if (slurp_bin("$dir/$seg") ne slurp_bin($node->data_dir . "/pg_wal/$seg"))
		{
			diag("$seg differs from pg_wal/$seg");
			$different++;
		}
		unlink "$dir/$seg";
	}
	return ($missing, $different);
}

=pod

=head2 last_archived(node)

pg_stat_archiver.last_archived_wal ('' if none).

=cut

sub last_archived
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver");
}

=pod

=head2 start_pgbench(node, @args)

pgbench in the background against the node; returns the IPC::Run handle
(->finish waits for it).

=cut

sub start_pgbench
{
	my ($node, @args) = @_;
	my ($out, $err) = ('', '');
	return IPC::Run::start(
		[ 'pgbench', '-h', $node->host, '-p', $node->port, @args, 'postgres' ],
		'<', \undef, '>', \$out, '2>', \$err);
}


=pod

=head2 restore_node(name, env, @restore_args)

Runs `revrx-agent restore` into the data directory of a new, not
initialised node; returns (node, exit code, stdout, stderr).  Before
starting the node, call prepare_restored (it points the restored
configuration at the new node's port and socket).

=cut

sub restore_node
{
	my ($name, $env, @args) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	my ($rc, $out, $err) = run_agent($env, 'restore', '--pgdata', $node->data_dir, @args);
	return ($node, $rc, $out, $err);
}

sub prepare_restored
{
	my ($node) = @_;
	$node->append_conf('postgresql.conf', sprintf(
		"port = %d\nunix_socket_directories = '%s'\nlisten_addresses = ''\n",
		$node->port, $node->host));
	return;
}

=pod

=head2 start_restored(node, env)

Starts a restored node with the repository's credentials in the server's
environment (restore_command reads them from there), and waits until
recovery has replayed the archive and the node was promoted.

=cut

sub start_restored
{
	my ($node, $env) = @_;
	{
		local %ENV = (%ENV, map { $_ => $env->{$_} } grep { /^AWS_/ } keys %$env);
		$node->start;
	}
	return $node->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()');
}

=pod

=head2 dump(node)

pg_dumpall of the node's data, for comparing clusters.

=cut

sub dump
{
	my ($node) = @_;
	my ($out, $err) = ('', '');
	# a fixed \restrict key: pg_dumpall 15.14 and later pick a random one
	IPC::Run::run([ 'pg_dumpall', '--no-role-passwords', '--restrict-key=revrxtest',
			'-h', $node->host, '-p', $node->port ],
		'>', \$out, '2>', \$err) or die "pg_dumpall failed: $err";
	return $out;
}

=pod

=head2 backups(env)

The repository's backups as `revrx-agent list --json` reports them: a
list of hashes (complete backups only).

=cut

sub backups
{
	my ($env) = @_;
	my ($rc, $out, $err) = run_agent($env, 'list', '--json');
	die "revrx-agent list failed ($rc): $err" if $rc != 0;
	require JSON::PP;
	my $doc = JSON::PP::decode_json($out);
	my $list = ref($doc) eq 'HASH' ? $doc->{backups} : $doc;
	return [ grep { !exists $_->{restorable} || $_->{restorable} } @$list ];
}

=pod

=head2 fingerprint_sql()

The two SQL texts of common/fingerprint.h (the table list, and the
printf format of one table's fingerprint), read from the header so that
tests compute exactly what the extension and the drill compute.

=cut

sub fingerprint_sql
{
	my $h = PostgreSQL::Test::Utils::slurp_file("$ENV{REVRX_SRC}/common/fingerprint.h");
	my %sql;
	for my $name ('RVX_FINGERPRINT_TABLES_SQL', 'RVX_FINGERPRINT_QUERY_FMT')
	{
		$h =~ /#define $name((?:[^\n]*\\\n)*[^\n]*)\n/ or die "$name not found";
		my $body = $1;
		$sql{$name} = join '', map { my $s = $_; $s =~ s/\\"/"/g; $s } ($body =~ /"((?:[^"\\]|\\.)*)"/g);
	}
	return ($sql{RVX_FINGERPRINT_TABLES_SQL}, $sql{RVX_FINGERPRINT_QUERY_FMT});
}

# Stops a process started with IPC::Run (in $obj->{handle}): SIGTERM, and
# SIGKILL if it does not exit.
sub stop_process
{
	my ($obj) = @_;
	return unless $obj->{running};
	$obj->{handle}->signal('TERM');
	eval { $obj->{handle}->finish; 1 } or $obj->{handle}->kill_kill;
	$obj->{running} = 0;
	return;
}

###########################################################################

package RevrxTest::S3;

=pod

=head2 RevrxTest::S3->start(%opts)

Starts the S3-compatible server of tests/s3 on a free port of 127.0.0.1
(or opts{port}), storing its data in a fresh directory, with bucket
"testbkt".  Credentials: S3RVER / S3RVER, or opts{key} / opts{secret};
opts{env} adds settings of tests/s3/run-s3rver.js (S3RVER_SESSION_KEYS).  ->stop, ->start_again (same
port, same data, as after an outage), ->env (the agent's S3 environment),
->repo_url(prefix), ->object_path(prefix, key) (where the server keeps an
object's bytes, for corruption tests).

=cut

use Carp;
use Time::HiRes qw(usleep);

sub start
{
	my ($class, %opts) = @_;
	my $self = bless {
		dir => PostgreSQL::Test::Utils::tempdir('s3'),
		bucket => 'testbkt',
		port => $opts{port} // 0,
		tls_key => $opts{tls_key},
		tls_cert => $opts{tls_cert},
		key => $opts{key} // 'S3RVER',
		secret => $opts{secret} // 'S3RVER',
		server_env => $opts{env} // {},
	}, $class;
	$self->_launch;
	push @started, $self;
	return $self;
}

sub _launch
{
	my ($self) = @_;
	my $portfile = "$self->{dir}/port";
	unlink $portfile;
	local %ENV = (
		%ENV,
		S3RVER_DIR => "$self->{dir}/data",
		S3RVER_PORT => $self->{port},
		S3RVER_PORTFILE => $portfile,
		S3RVER_BUCKETS => $self->{bucket},
		%{ $self->{server_env} },
		($self->{key} ne 'S3RVER' ? (S3RVER_KEY => $self->{key}, S3RVER_SECRET => $self->{secret}) : ()),
		($self->{tls_key} ? (S3RVER_TLS_KEY => $self->{tls_key}, S3RVER_TLS_CERT => $self->{tls_cert}) : ()));
	my $log = "$self->{dir}/s3.log";
	$self->{handle} = IPC::Run::start(
		[ 'node', '--openssl-legacy-provider', "$src/tests/s3/run-s3rver.js" ],
		'<', \undef, '>>', $log, '2>>', $log);
	for (1 .. 300)
	{
		last if -s $portfile;
		usleep(50_000);
	}
	croak "S3 test server did not start (see $log)" unless -s $portfile;
	open my $fh, '<', $portfile or croak $!;
	my $port = <$fh>;
	close $fh;
	chomp $port;
	$self->{port} = $port;
	$self->{running} = 1;
	return;
}

sub stop
{
	my ($self) = @_;
	RevrxTest::stop_process($self);
	return;
}

sub start_again
{
	my ($self) = @_;
	$self->_launch;
	return;
}

sub port { return $_[0]->{port}; }

sub endpoint
{
	my ($self) = @_;
	return ($self->{tls_key} ? 'https' : 'http') . "://127.0.0.1:$self->{port}";
}

sub env
{
	my ($self, %over) = @_;
	return {
		REVRX_S3_ENDPOINT => $self->endpoint,
		REVRX_S3_URI_STYLE => 'path',
		AWS_ACCESS_KEY_ID => $self->{key},
		AWS_SECRET_ACCESS_KEY => $self->{secret},
		AWS_REGION => 'us-east-1',
		REVRX_RETRIES => 2,
		REVRX_TIMEOUT => 5,
		%over,
	};
}

sub repo_url
{
	my ($self, $prefix) = @_;
	return "s3://$self->{bucket}/$prefix";
}

# s3rver keeps each object's bytes in <data>/<bucket>/<key>._S3rver_object
sub object_path
{
	my ($self, $prefix, $key) = @_;
	return "$self->{dir}/data/$self->{bucket}/$prefix/$key._S3rver_object";
}

###########################################################################

package RevrxTest::Agent;

=pod

=head2 RevrxTest::Agent->start(node, repo => URL, env => {...})

Starts `revrx-agent run` for the node's spool, logging to a file in the
test's log directory.  ->kill(signal), ->stop (SIGTERM and wait),
->restart, ->log (its output so far), ->env (its whole revrx/AWS
environment, for one-shot commands such as wal-fetch), ->pid.

=cut

use Carp;

my $agent_seq = 0;

sub start
{
	my ($class, $node, %opts) = @_;
	my $self = bless {
		node => $node,
		env => {
			%{ $opts{env} // {} },
			REVRX_REPO => $opts{repo},
			REVRX_SPOOL => RevrxTest::spool_dir($node),
			REVRX_POLL_INTERVAL_MS => 50,
			REVRX_LOG_LEVEL => $opts{log_level} // 'info',
		},
		log => sprintf("%s/agent_%s_%d.log", $PostgreSQL::Test::Utils::log_path,
			$node->name, ++$agent_seq),
	}, $class;
	$self->_launch;
	push @started, $self;
	return $self;
}

sub _launch
{
	my ($self) = @_;
	local %ENV = RevrxTest::clean_env(%{ $self->{env} });
	$self->{handle} = IPC::Run::start([ RevrxTest::agent_bin(), 'run' ],
		'<', \undef, '>>', $self->{log}, '2>>', $self->{log});
	$self->{running} = 1;
	return;
}

sub env { return $_[0]->{env}; }

# (IPC::Run has no accessor for it; KIDS is where it keeps its children)
sub pid { return $_[0]->{handle}->{KIDS}[0]{PID}; }

sub kill
{
	my ($self, $sig) = @_;
	return unless $self->{running};
	$self->{handle}->signal($sig // 'KILL');
	eval { $self->{handle}->finish; 1 };
	$self->{running} = 0;
	return;
}

sub stop
{
	my ($self) = @_;
	RevrxTest::stop_process($self);
	return;
}

sub restart
{
	my ($self) = @_;
	$self->stop;
	$self->_launch;
	return;
}

sub log
{
	my ($self) = @_;
	return -f $self->{log} ? PostgreSQL::Test::Utils::slurp_file($self->{log}) : '';
}

1;
