package RevrxTest::CredServer;

=pod

=head1 RevrxTest::CredServer

A loopback stand-in for the three AWS services that hand temporary
credentials to a pod or an instance, following their documented protocols
closely enough that an SDK-conforming client works against it unchanged:

=over

=item STS AssumeRoleWithWebIdentity (query API): C<POST /> with a form body
(Action, Version 2011-06-15, RoleArn, RoleSessionName, WebIdentityToken),
answered with an AssumeRoleWithWebIdentityResponse, or an ErrorResponse
(403 AccessDenied for another role, 400 InvalidIdentityToken for a token
that is not the current content of the token file).

=item Container credentials (EKS Pod Identity, ECS): C<GET /creds> whose
Authorization header must be the current content of the authorization
token file (401 otherwise); JSON {AccessKeyId, SecretAccessKey, Token,
Expiration}.

=item IMDSv2: C<PUT /latest/api/token> with X-aws-ec2-metadata-token-ttl-seconds,
then C<GET /latest/meta-data/iam/security-credentials/> (the role name) and
C<.../revrx-role> (JSON with Code "Success"), both with
X-aws-ec2-metadata-token; 401 without a valid token.  IMDSv1 is refused.

=back

Each answer hands out the next key of a fixed list (the S3 test server is
started knowing them all, see S3RVER_SESSION_KEYS in tests/s3/run-s3rver.js)
valid for the current lifetime, and appends "KEY EPOCH" to the expiry file,
after which the S3 server refuses that key.  Every request is logged, one
line each, in <dir>/requests.log ("sts 200 key=... token=..."), which the
tests read.  ->set_lifetime(s) and ->set_down(bool) (every answer 503)
change the behaviour of the running server.

Written with IO::Socket::INET in a forked child (HTTP::Daemon is not
installed); one connection at a time, each answered with Connection: close.

=cut

use strict;
use warnings FATAL => 'all';

use Carp;
use IO::Select;
use IO::Socket::INET;
use POSIX qw(strftime);

sub start
{
	my ($class, %opts) = @_;
	my $self = bless { %opts }, $class;
	croak "dir, role_arn, keys and expiry_file are needed"
	  unless $self->{dir} && $self->{role_arn} && $self->{keys} && $self->{expiry_file};
	$self->set_lifetime($opts{lifetime} // 3600);
	$self->set_down(0);
	my $sock = IO::Socket::INET->new(
		LocalAddr => '127.0.0.1',
		LocalPort => 0,
		Proto => 'tcp',
		Listen => 16,
		ReuseAddr => 1) or croak "could not listen: $!";
	$self->{port} = $sock->sockport;
	my $pid = fork();
	croak "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		$self->_serve($sock);
		POSIX::_exit(0);
	}
	close $sock;
	$self->{pid} = $pid;
	return $self;
}

sub port { return $_[0]->{port}; }
sub url { return "http://127.0.0.1:$_[0]->{port}"; }

sub set_lifetime
{
	my ($self, $s) = @_;
	_write_file("$self->{dir}/lifetime", "$s\n");
	return;
}

sub set_down
{
	my ($self, $down) = @_;
	if ($down) { _write_file("$self->{dir}/down", "1\n"); }
	else { unlink "$self->{dir}/down"; }
	return;
}

# The request log: a list of hashes {source, status, key, token, ...}.
sub requests
{
	my ($self) = @_;
	my $log = "$self->{dir}/requests.log";
	return () unless -f $log;
	open my $fh, '<', $log or croak $!;
	my @out;
	while (my $line = <$fh>)
	{
		chomp $line;
		my ($source, $status, @kv) = split / /, $line;
		push @out, { source => $source, status => $status, map { split /=/, $_, 2 } @kv };
	}
	close $fh;
	return @out;
}

sub stop
{
	my ($self) = @_;
	return unless $self->{pid};
	kill 'TERM', $self->{pid};
	waitpid($self->{pid}, 0);
	delete $self->{pid};
	return;
}

sub DESTROY { my ($self) = @_; $self->stop if $self->{pid} && $$ != $self->{pid}; }

sub _write_file
{
	my ($path, $text) = @_;
	open my $fh, '>', "$path.tmp" or croak "$path.tmp: $!";
	print $fh $text;
	close $fh;
	rename "$path.tmp", $path or croak "rename $path: $!";
	return;
}

sub _read_trimmed
{
	my ($path) = @_;
	open my $fh, '<', $path or return undef;
	local $/;
	my $s = <$fh>;
	close $fh;
	$s =~ s/\s+\z//;
	return $s;
}

sub _log
{
	my ($self, $line) = @_;
	open my $fh, '>>', "$self->{dir}/requests.log" or die $!;
	print $fh "$line\n";
	close $fh;
	return;
}

# ---------------------------------------------------------------- child

sub _serve
{
	my ($self, $sock) = @_;
	$SIG{TERM} = sub { POSIX::_exit(0) };
	$SIG{PIPE} = 'IGNORE';
	$self->{next_key} = 0;
	$self->{imds_tokens} = {};
	while (my $conn = $sock->accept)
	{
		my $req = _read_request($conn);
		if ($req)
		{
			my ($status, $type, $body) = $self->_answer($req);
			my $reason = { 200 => 'OK', 400 => 'Bad Request', 401 => 'Unauthorized',
				403 => 'Forbidden', 404 => 'Not Found', 405 => 'Method Not Allowed',
				500 => 'Internal Server Error', 503 => 'Service Unavailable' }->{$status} // 'X';
			print $conn "HTTP/1.1 $status $reason\r\nContent-Type: $type\r\n"
			  . "Content-Length: " . length($body) . "\r\nConnection: close\r\n\r\n$body";
		}
		close $conn;
	}
	return;
}

# {method, path, headers (lower-case names), body}, or undef
sub _read_request
{
	my ($conn) = @_;
	my $sel = IO::Select->new($conn);
	my $buf = '';
	while ($buf !~ /\r\n\r\n/)
	{
		return undef unless $sel->can_read(10);
		my $n = sysread($conn, $buf, 65536, length $buf);
		return undef unless $n;
	}
	my ($head, $body) = split /\r\n\r\n/, $buf, 2;
	my ($line, @lines) = split /\r\n/, $head;
	my ($method, $path) = split / /, $line;
	my %h;
	for (@lines)
	{
		my ($k, $v) = split /:\s*/, $_, 2;
		$h{ lc $k } = $v;
	}
	my $len = $h{'content-length'} // 0;
	while (length($body) < $len)
	{
		return undef unless $sel->can_read(10);
		my $n = sysread($conn, $body, $len - length($body), length $body);
		return undef unless $n;
	}
	return { method => $method, path => $path, headers => \%h, body => $body };
}

sub _expiration
{
	my ($self, $key) = @_;
	my $life = _read_trimmed("$self->{dir}/lifetime") // 3600;
	my $at = time() + $life;
	open my $fh, '>>', $self->{expiry_file} or die $!;
	print $fh "$key $at\n";
	close $fh;
	return strftime('%Y-%m-%dT%H:%M:%SZ', gmtime($at));
}

sub _next_key
{
	my ($self) = @_;
	return $self->{keys}[ $self->{next_key}++ ];
}

sub _json_creds
{
	my ($self, $source, $extra) = @_;
	my $k = $self->_next_key or return (500, 'application/json', '{"code":"NoKeysLeft"}');
	my $exp = $self->_expiration($k->[0]);
	$self->_log("$source 200 key=$k->[0]$extra");
	return (200, 'application/json',
		qq({"Code":"Success","LastUpdated":"2026-01-01T00:00:00Z","Type":"AWS-HMAC",)
		  . qq("AccessKeyId":"$k->[0]","SecretAccessKey":"$k->[1]","Token":"$k->[2]","Expiration":"$exp"}));
}

sub _unescape
{
	my ($s) = @_;
	$s =~ tr/+/ /;
	$s =~ s/%([0-9A-Fa-f]{2})/chr(hex($1))/ge;
	return $s;
}

sub _sts_error
{
	my ($self, $status, $code, $msg, $log) = @_;
	$self->_log("sts $status $log");
	return ($status, 'text/xml',
		qq(<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>)
		  . qq(<Code>$code</Code><Message>$msg</Message></Error><RequestId>c0ffee</RequestId></ErrorResponse>));
}

sub _answer
{
	my ($self, $r) = @_;
	my $h = $r->{headers};

	if (-e "$self->{dir}/down")
	{
		$self->_log("any 503 path=$r->{path}");
		return (503, 'text/plain', 'down for the test');
	}

	# STS, query API over POST
	if ($r->{method} eq 'POST' && $r->{path} eq '/')
	{
		my %p = map { my ($k, $v) = split /=/, $_, 2; (_unescape($k) => _unescape($v // '')) }
		  split /&/, $r->{body};
		my $ct = $h->{'content-type'} // '';
		return $self->_sts_error(400, 'InvalidAction', 'bad request', "reason=form")
		  unless $ct =~ m{^application/x-www-form-urlencoded}
		  && ($p{Action} // '') eq 'AssumeRoleWithWebIdentity'
		  && ($p{Version} // '') eq '2011-06-15'
		  && $p{RoleSessionName} && $p{WebIdentityToken} && $p{RoleArn};
		return $self->_sts_error(403, 'AccessDenied',
			'Not authorized to perform sts:AssumeRoleWithWebIdentity', "role=$p{RoleArn}")
		  unless $p{RoleArn} eq $self->{role_arn};
		my $current = _read_trimmed($self->{sts_token_file}) // '';
		return $self->_sts_error(400, 'InvalidIdentityToken', 'Token is not valid',
			"token=$p{WebIdentityToken} current=$current")
		  unless $p{WebIdentityToken} eq $current;
		my $k = $self->_next_key or return $self->_sts_error(500, 'NoKeysLeft', 'test pool empty', '');
		my $exp = $self->_expiration($k->[0]);
		$self->_log("sts 200 key=$k->[0] token=$p{WebIdentityToken} session=$p{RoleSessionName}");
		return (200, 'text/xml',
			qq(<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">)
			  . qq(<AssumeRoleWithWebIdentityResult><SubjectFromWebIdentityToken>system:serviceaccount:db:revrx</SubjectFromWebIdentityToken>)
			  . qq(<AssumedRoleUser><Arn>$self->{role_arn}/$p{RoleSessionName}</Arn><AssumedRoleId>AROA:x</AssumedRoleId></AssumedRoleUser>)
			  . qq(<Credentials><SessionToken>$k->[2]</SessionToken><SecretAccessKey>$k->[1]</SecretAccessKey>)
			  . qq(<Expiration>$exp</Expiration><AccessKeyId>$k->[0]</AccessKeyId></Credentials>)
			  . qq(<Audience>sts.amazonaws.com</Audience></AssumeRoleWithWebIdentityResult>)
			  . qq(<ResponseMetadata><RequestId>c0ffee</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>));
	}

	# container credentials
	if ($r->{method} eq 'GET' && $r->{path} eq '/creds')
	{
		my $want = _read_trimmed($self->{auth_token_file}) // '';
		my $got = $h->{authorization} // '';
		if ($got ne $want)
		{
			$self->_log("container 401 auth=$got");
			return (401, 'application/json', '{"code":"AccessDenied","message":"bad authorization token"}');
		}
		return $self->_json_creds('container', " auth=$got");
	}

	# IMDSv2
	if ($r->{method} eq 'PUT' && $r->{path} eq '/latest/api/token')
	{
		my $ttl = $h->{'x-aws-ec2-metadata-token-ttl-seconds'} // '';
		unless ($ttl =~ /^\d+$/ && $ttl >= 1 && $ttl <= 21600)
		{
			$self->_log("imds-token 400 ttl=$ttl");
			return (400, 'text/plain', '');
		}
		my $tok = 'imds-' . join('', map { ('a' .. 'z')[ rand 26 ] } 1 .. 24);
		$self->{imds_tokens}{$tok} = 1;
		$self->_log("imds-token 200");
		return (200, 'text/plain', $tok);
	}
	if ($r->{method} eq 'GET' && $r->{path} =~ m{^/latest/meta-data/iam/security-credentials/(.*)$})
	{
		my $role = $1;
		my $tok = $h->{'x-aws-ec2-metadata-token'} // '';
		unless ($self->{imds_tokens}{$tok})
		{
			$self->_log("imds 401 path=$r->{path}");
			return (401, 'text/plain', '');
		}
		if ($role eq '')
		{
			$self->_log("imds-role 200");
			return (200, 'text/plain', 'revrx-role');
		}
		return (404, 'text/plain', '') unless $role eq 'revrx-role';
		return $self->_json_creds('imds', '');
	}
	$self->_log("unknown 404 method=$r->{method} path=$r->{path}");
	return (404, 'text/plain', 'not found');
}

1;
