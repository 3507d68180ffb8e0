#!/usr/bin/env node
/*
 * run-s3rver.js
 *	  A loopback S3-compatible server for revrx's tests.
 *
 * It runs @20minutes/s3rver 4.0.4 (pinned in package.json), the s3rver fork
 * that really verifies SigV4 signatures, so a signing bug in the agent fails
 * here instead of first failing against AWS.  Path-style addressing only.
 *
 * s3rver has a few bugs that matter to a backup client.  They are corrected
 * while the package's files are compiled (node_modules is never modified, so
 * `npm ci` stays reproducible); every correction must apply, or the launcher
 * refuses to start: a silently unpatched server would make tests pass or fail
 * for the wrong reason.
 *	- SigV4: for "/bucket/?list-type=2" the server rebuilt the canonical URI
 *	  without the trailing slash, so correct signatures were refused.
 *	- Range: "bytes=-N" (suffix) returned the first N+1 bytes,
 *	  "bytes=0-0" returned the whole object, and any range of an empty
 *	  object got a 206 announcing one byte and sending none (S3: 416).
 *	- ListObjects with a delimiter forgot a common prefix whose objects all
 *	  sit two or more levels deeper.
 *	- ListObjects listed keys in the order of the files that hold them, so
 *	  "X.1" came before "X" (S3: binary order of the keys); the agent
 *	  refuses a listing out of order.
 *	- Requests without any signature were served with full rights; real S3
 *	  refuses them (403 AccessDenied) and so do we, unless
 *	  S3RVER_ALLOW_ANONYMOUS=1.
 *	- Some malformed requests (a CompleteMultipartUpload naming a part that
 *	  was never uploaded) throw outside any handler and would end the
 *	  process; such errors are logged and the server keeps serving.
 *
 * Must be started with `node --openssl-legacy-provider`: s3rver encrypts
 * ListObjectsV2 continuation tokens with DES, which OpenSSL 3 only offers
 * from its legacy provider; without it every second list page is a 500.
 *
 * Environment:
 *	S3RVER_DIR		data directory (required, created if missing)
 *	S3RVER_ADDR		listen address (default 127.0.0.1)
 *	S3RVER_PORT		port, 0 (default) = any free port
 *	S3RVER_PORTFILE	once listening, the port is written here (atomically:
 *					a reader never sees a partial number)
 *	S3RVER_BUCKETS	comma-separated buckets created at start
 *	S3RVER_KEY, S3RVER_SECRET	an extra credential pair (S3RVER/S3RVER
 *					always works)
 *	S3RVER_SESSION_KEYS	temporary credentials, "KEY:SECRET:TOKEN,...": a
 *					request signed with KEY must carry (and sign)
 *					x-amz-security-token TOKEN, as AWS requires, or is
 *					refused 403 InvalidToken
 *	S3RVER_KEY_EXPIRY_FILE	lines "KEY EPOCH", read at each request: a
 *					request signed with KEY after EPOCH is refused 403
 *					ExpiredToken (so credentials really expire)
 *	S3RVER_TLS_KEY, S3RVER_TLS_CERT	PEM files: serve HTTPS
 *	S3RVER_VERBOSE=1	log every request
 *	S3RVER_ALLOW_ANONYMOUS=1	serve unsigned requests
 *	S3RVER_NO_PATCH=1	run the package as published (to reproduce a bug)
 *
 * Exit status: 0 after SIGTERM/SIGINT, 1 when it cannot start (port in use,
 * a correction that no longer applies), 2 on a bad environment.
 */
'use strict';

const fs = require('fs');
const path = require('path');
const Module = require('module');

const PKG = '@20minutes/s3rver';

let serving = false;

function fatal(msg) {
	console.error(`run-s3rver: ${msg}`);
	process.exit(1);
}

/*
 * Before the server listens, any exception is a failure to start (most
 * often EADDRINUSE) and must end the process, or the caller waits for a
 * port file that never comes.  Afterwards, it is one bad request.
 */
function onStrayError(err) {
	if (!serving)
		fatal(`could not start: ${err && err.message}`);
	console.error(`run-s3rver: error outside any request (ignored): ${err && err.stack}`);
}
process.on('uncaughtException', onStrayError);
process.on('unhandledRejection', onStrayError);

/*
 * Corrections, by file of the package: each replaces one exact text.  The
 * texts were read in @20minutes/s3rver 4.0.4; a new version that changes
 * them makes the launcher stop with a message naming the correction.
 */
const CORRECTIONS = {
	'lib/middleware/authentication.js': [
		{
			why: 'canonical URI of "/bucket/" lost its trailing slash',
			find: `    canonicalizedResource = canonicalizedResource
      .split('/')`,
			replace: `    if (ctx.params.bucket && !ctx.params.key && !ctx.state.vhost &&
        ctx.path.endsWith('/')) {
      canonicalizedResource += '/';
    }
    canonicalizedResource = canonicalizedResource
      .split('/')`,
		},
	],
	'lib/controllers/object.js': [
		{
			why: 'suffix range "bytes=-N" was read as "bytes=0-N"',
			find: `    options.start = Number(start);
    if (end) options.end = Number(end);`,
			replace: `    if (start === '') {
      options.suffixLength = Number(end);
    } else {
      options.start = Number(start);
      if (end !== undefined && end !== '') options.end = Number(end);
    }`,
		},
	],
	'lib/stores/filesystem.js': [
		{
			why: 'range end 0 ("bytes=0-0") was taken as "to the end", suffix ranges had no meaning, and a range of an empty object was "satisfied" with a body that never came',
			find: `      const range = {
        start: (options && options.start) || 0,
        end: Math.min((options && options.end) || Infinity, lastByte),
      };`,
			replace: `      let range;
      if (options && options.suffixLength !== undefined) {
        const size = Number(metadata['content-length']);
        range = { start: Math.max(0, size - options.suffixLength), end: lastByte };
        options.start = range.start; // so the response is a 206 with Content-Range
      } else if (options && options.start !== undefined &&
                 Number(metadata['content-length']) === 0) {
        // nothing is satisfiable in an empty object: 416, as S3 answers
        range = { start: 0, end: -1 };
      } else {
        range = {
          start: (options && options.start) || 0,
          end: Math.min(
            options && options.end !== undefined ? options.end : Infinity,
            lastByte,
          ),
        };
      }`,
		},
		{
			why: 'a listing was in the order of the stored file names, not of the keys ("X.1" before "X", since X.1._S3rver_object sorts before X._S3rver_object)',
			find: `      if (keys.length < maxKeys) {
        keys.push(key);
      } else {
        isTruncated = true;
        break;
      }
    }
`,
			replace: `      keys.push(key);
    }
    // S3 lists keys in UTF-8 binary order; the page ends after maxKeys of
    // them, and a common prefix past its last key is for a later page
    keys.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    if (keys.length > maxKeys) {
      keys.length = maxKeys;
      isTruncated = true;
      const last = Buffer.from(keys.length ? keys[keys.length - 1] : '');
      for (const p of [...commonPrefixes])
        if (Buffer.compare(Buffer.from(p), last) > 0)
          commonPrefixes.delete(p);
    }
`,
		},
		{
			why: 'delimiter listing skipped directories below a common prefix',
			find: `          // avoid directories occurring beneath a common prefix
          return false;`,
			replace: `          // walked anyway: the common prefix is only known from the
          // objects found below it, however deep they are`,
		},
	],
};

function installCorrections() {
	const root = path.dirname(require.resolve(`${PKG}/package.json`));
	const byPath = new Map();
	const applied = new Set();

	for (const [file, list] of Object.entries(CORRECTIONS))
		byPath.set(path.join(root, file), list);

	const compileJs = Module._extensions['.js'];
	Module._extensions['.js'] = function (module, filename) {
		const list = byPath.get(filename);
		if (!list)
			return compileJs(module, filename);
		let src = fs.readFileSync(filename, 'utf8');
		for (const c of list) {
			if (!src.includes(c.find))
				fatal(`correction "${c.why}" does not apply to ${path.relative(root, filename)}`);
			src = src.replace(c.find, c.replace);
			applied.add(c);
		}
		module._compile(src, filename);
	};

	return () => {
		for (const list of byPath.values())
			for (const c of list)
				if (!applied.has(c))
					fatal(`correction "${c.why}" was never applied (file not loaded)`);
	};
}

/* Real S3 refuses unsigned requests to a private bucket; so do we. */
function refuseAnonymous() {
	return async function refuseAnonymous(ctx, next) {
		const signedHeader = !!ctx.get('authorization');
		const signedQuery = 'X-Amz-Signature' in ctx.query || 'Signature' in ctx.query;

		if (signedHeader || signedQuery)
			return next();
		ctx.status = 403;
		ctx.type = 'application/xml';
		ctx.body = '<?xml version="1.0" encoding="UTF-8"?>\n' +
			'<Error><Code>AccessDenied</Code><Message>Access Denied</Message>' +
			'<Resource>' + escapeXml(ctx.path) + '</Resource></Error>';
	};
}

/*
 * Temporary credentials as AWS treats them: the session token must come
 * with the key (and be signed), and the key stops working when it expires.
 */
function checkSessionKeys(tokens, expiryFile) {
	function refuse(ctx, code, message) {
		ctx.status = 403;
		ctx.type = 'application/xml';
		ctx.body = '<?xml version="1.0" encoding="UTF-8"?>\n' +
			`<Error><Code>${code}</Code><Message>${escapeXml(message)}</Message></Error>`;
	}
	function expiryOf(key) {
		if (!expiryFile || !fs.existsSync(expiryFile))
			return undefined;
		let at;
		for (const line of fs.readFileSync(expiryFile, 'utf8').split('\n')) {
			const [k, epoch] = line.trim().split(/\s+/);
			if (k === key)
				at = Number(epoch);
		}
		return at;
	}
	return async function sessionKeys(ctx, next) {
		const m = /Credential=([^/]+)\/.*SignedHeaders=([^,]+)/.exec(ctx.get('authorization') || '');
		if (m && tokens.has(m[1])) {
			if (ctx.get('x-amz-security-token') !== tokens.get(m[1]) ||
				!m[2].split(';').includes('x-amz-security-token'))
				return refuse(ctx, 'InvalidToken', 'The provided token is malformed or otherwise invalid.');
			const at = expiryOf(m[1]);
			if (at !== undefined && Date.now() / 1000 > at)
				return refuse(ctx, 'ExpiredToken', 'The provided token has expired.');
		}
		return next();
	};
}

function escapeXml(s) {
	return s.replace(/[<>&'"]/g, c => `&#${c.charCodeAt(0)};`);
}

function main() {
	const env = process.env;
	const dir = env.S3RVER_DIR;

	if (!dir) {
		console.error('run-s3rver: S3RVER_DIR must be set');
		process.exit(2);
	}
	const port = Number(env.S3RVER_PORT || 0);
	if (!Number.isInteger(port) || port < 0 || port > 65535) {
		console.error(`run-s3rver: invalid S3RVER_PORT "${env.S3RVER_PORT}"`);
		process.exit(2);
	}
	if (!!env.S3RVER_TLS_KEY !== !!env.S3RVER_TLS_CERT) {
		console.error('run-s3rver: S3RVER_TLS_KEY and S3RVER_TLS_CERT go together');
		process.exit(2);
	}

	const checkCorrections = env.S3RVER_NO_PATCH === '1' ? () => {} : installCorrections();
	const S3rver = require(PKG);
	const account = require(`${PKG}/lib/models/account`);
	checkCorrections();

	fs.mkdirSync(dir, { recursive: true });
	if (env.S3RVER_KEY && env.S3RVER_SECRET)
		account.DUMMY_ACCOUNT.createKeyPair(env.S3RVER_KEY, env.S3RVER_SECRET);
	const sessionTokens = new Map();
	for (const triple of (env.S3RVER_SESSION_KEYS || '').split(',').filter(t => t.length > 0)) {
		const [key, secret, token] = triple.split(':');
		if (!key || !secret || !token) {
			console.error(`run-s3rver: invalid S3RVER_SESSION_KEYS entry "${key}..."`);
			process.exit(2);
		}
		account.DUMMY_ACCOUNT.createKeyPair(key, secret);
		sessionTokens.set(key, token);
	}

	const options = {
		directory: dir,
		address: env.S3RVER_ADDR || '127.0.0.1',
		port,
		silent: env.S3RVER_VERBOSE !== '1',
		vhostBuckets: false,
		configureBuckets: (env.S3RVER_BUCKETS || '')
			.split(',')
			.map(b => b.trim())
			.filter(b => b.length > 0)
			.map(name => ({ name })),
	};
	if (env.S3RVER_TLS_KEY) {
		options.key = fs.readFileSync(env.S3RVER_TLS_KEY);
		options.cert = fs.readFileSync(env.S3RVER_TLS_CERT);
	}

	const server = new S3rver(options);

	/* Koa composes its middleware at listen time: this one runs first. */
	if (sessionTokens.size > 0)
		server.middleware.unshift(checkSessionKeys(sessionTokens, env.S3RVER_KEY_EXPIRY_FILE));
	if (env.S3RVER_ALLOW_ANONYMOUS !== '1')
		server.middleware.unshift(refuseAnonymous());

	server.run().then(({ address, port: bound }) => {
		serving = true;
		if (env.S3RVER_PORTFILE) {
			const tmp = `${env.S3RVER_PORTFILE}.${process.pid}.tmp`;

			fs.writeFileSync(tmp, `${bound}\n`);
			fs.renameSync(tmp, env.S3RVER_PORTFILE);
		}
		console.log(`run-s3rver: ${PKG} on ${options.key ? 'https' : 'http'}://${address}:${bound}, ` +
			`data in ${path.resolve(dir)}, pid ${process.pid}`);
	}, err => fatal(`could not start: ${err && err.message}`));

	for (const sig of ['SIGTERM', 'SIGINT'])
		process.on(sig, () => process.exit(0));
}

main();
