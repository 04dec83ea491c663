// Runs M-Lab's ndt7 client (npm @m-lab/ndt7) under Node for the bandwidth matrix:
//   node --experimental-websocket _ndt7_client.js MODULE_DIR HOST:PORT download|upload
// prints one JSON line: the last client and server measurements and the wall seconds.
// The library is written for browsers (Worker, WebSocket); Node 20 has WebSocket behind
// --experimental-websocket, and Worker is shimmed here on worker_threads.
'use strict';
const path = require('path');
const threads = require('worker_threads');

const [moduleDir, server, test] = process.argv.slice(2);
const ndt7 = require(path.join(moduleDir, '@m-lab/ndt7'));
const srcDir = path.dirname(require.resolve(path.join(moduleDir, '@m-lab/ndt7')));

const BOOT = `
const {parentPort, workerData} = require('worker_threads');
globalThis.self = globalThis;
globalThis.postMessage = (d) => parentPort.postMessage(d);
require(workerData.file);
parentPort.on('message', (d) => self.onmessage({data: d}));
`;

globalThis.Worker = class {
  constructor(filename) {
    this.inner = new threads.Worker(BOOT, {eval: true,
      workerData: {file: path.resolve(srcDir, filename)}});
    this.inner.on('message', (d) => this.onmessage && this.onmessage({data: d}));
  }
  postMessage(d) { this.inner.postMessage(d); }
  terminate() { this.inner.terminate(); }
};

(async () => {
  const config = {server, protocol: 'ws', mlabDataPolicyInapplicable: true,
    metadata: {client_name: 'booth-credit-monitor-bench'}};
  let done = null;
  let failed = null;
  const callbacks = {error: (e) => { failed = String(e); }};
  callbacks[test + 'Complete'] = (m) => { done = m; };
  const started = process.hrtime.bigint();
  const urls = ndt7.discoverServerURLs(config, callbacks);
  const run = test === 'download' ? ndt7.downloadTest : ndt7.uploadTest;
  const code = await run(config, callbacks, urls);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(JSON.stringify({code, error: failed, seconds,
    client: done && done.LastClientMeasurement,
    server: done && done.LastServerMeasurement}));
  process.exit(0);
})();
