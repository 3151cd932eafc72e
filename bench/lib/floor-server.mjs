// Floors for the benchmarks, each in its own process:
//   node floor-server.mjs bare            a bare node:http server answering a small JSON body
//   node floor-server.mjs proxy <origin>  a node:http server forwarding each request through one undici hop
// Prints the port it listens on (127.0.0.1, ephemeral) as its first line.
import { createServer } from 'node:http';
import { Pool } from 'undici';

const [mode, origin] = process.argv.slice(2);
const body = JSON.stringify({ data: { name: 'GameStart', price: 15.99, quantity: 100, volume: 0 } });

let handler;
if (mode === 'bare') {
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
  process.stderr.write('usage: floor-server.mjs bare | proxy <origin>\n');
  process.exit(2);
}

const server = createServer(handler);
server.keepAliveTimeout = 10_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
