// Measures a peer QR parser on a corpus, single-threaded, and prints one
// JSON line: {"peer", "payloads", "decodes", "seconds", "per_second"}.
// Usage: node bench.mjs <pix-utils|steplix-emvqr> CORPUS_FILE [SECONDS]
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const [, , peer, file, secondsArg = '3'] = process.argv;
const corpus = readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0);
if (corpus.length === 0) throw new Error(`${file} is empty`);

let decode;
if (peer === 'pix-utils') {
  const pix = require('pix-utils');
  decode = (p) => pix.parsePix(p);
} else if (peer === 'steplix-emvqr') {
  const emvqr = require('steplix-emvqr');
  decode = (p) => emvqr.decode(p);
} else {
  throw new Error(`unknown peer ${peer}`);
}

// Every payload must parse, or the comparison is not like for like.
let failures = 0;
for (const p of corpus) {
  try {
    const r = decode(p);
    if (r === undefined || r === null || r.error) failures++;
  } catch {
    failures++;
  }
}

let sink = 0;
function run(ms) {
  let n = 0;
  let i = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    for (let k = 0; k < 256; k++) {
      try {
        sink ^= decode(corpus[i]) ? 1 : 0;
      } catch {
        sink ^= 2;
      }
      i = i + 1 === corpus.length ? 0 : i + 1;
      n++;
    }
  }
  return n;
}

run(1000); // warm up the JIT
const t0 = process.hrtime.bigint();
const decodes = run(Number(secondsArg) * 1000);
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(JSON.stringify({ peer, payloads: corpus.length, failures, decodes, seconds, per_second: decodes / seconds, sink }));
