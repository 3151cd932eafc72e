// Floors for the benchmarks, each in its own process:
//   node floor-server.mjs bare            a bare node:http server answering a small JSON body
//   node floor-server.mjs bare-tls <cert> <key>   the same over node:https, TLS 1.3 (the floor of a TLS cluster)
//   node floor-server.mjs proxy <origin>  a node:http server forwarding each request through one undici hop
// Prints the port it listens on (127.0.0.1, ephemeral) as its first line.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { Pool } from 'undici';

const [mode, origin, keyFile] = process.argv.slice(2);
const body = JSON.stringify({ data: { name: 'GameStart', price: 15.99, quantity: 100, volume: 0 } });

let handler;
if (mode === 'bare' || mode === 'bare-tls') {
  handler = (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
} else if (mode === 'proxy') {
  const pool = new Pool(origin, { connections: 32, pipelining: 1 });
  handler = async (req, res) => {
    const reply = await pool.request({ method: 'GET', path: req.url });
    const text = await reply.body.text();
    res.writeHead(reply.statusCode, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
} else {
  process.stderr.write('usage: floor-server.mjs bare | bare-tls <cert> <key> | proxy <origin>\n');
  process.exit(2);
}

// bare-tls: `origin` and `keyFile` are the certificate's and key's files.
const server = mode === 'bare-tls' ? createTlsServer({ cert: readFileSync(origin), key: readFileSync(keyFile), minVersion: 'TLSv1.3' }, handler) : createServer(handler);
server.keepAliveTimeout = 10_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
