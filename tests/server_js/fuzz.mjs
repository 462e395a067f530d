// Bounded fuzz of `encore serve` request handling: random bytes, mutated JSON bodies (wrong types,
// huge numbers, lone surrogates, invalid UTF-8, deep nesting, truncation), and raw-socket abuse
// (truncated bodies, oversized headers, broken request lines). Every answer must be a 2xx or a
// 4xx (with the OpenAI error envelope when 4xx comes from an endpoint; requests with broken
// framing may instead be answered by closing the connection); afterwards the server must
// answer /health and hold no KV block (pool accounting through /metrics).
// Usage: node tests/server_js/fuzz.mjs [n_requests] [seed]
import assert from "node:assert/strict";
import net from "node:net";
import { startServer, metrics, metricSum, sleep, pool } from "./lib.mjs";

const nRequests = Number(process.argv[2] || 600);
let seed = Number(process.argv[3] || 12345);
function rand() {  // xorshift32: the same run for the same seed
  seed ^= seed << 13; seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5; seed >>>= 0;
  return seed / 4294967296;
}
const pick = (a) => a[Math.floor(rand() * a.length)];
const randInt = (n) => Math.floor(rand() * n);

const samples = {
  "/v1/completions": [
    { model: "brown-llama-12l", prompt: "The city", max_tokens: 4, temperature: 0 },
    { prompt: [0, 271, 1040], max_tokens: 0, echo: true, logprobs: 2 },
    { prompt: ["a", "b"], max_tokens: 2, n: 2, stop: ["."], seed: 3, top_k: 5, top_p: 0.9, min_p: 0.1 },
    { prompt: "Stream", max_tokens: 3, stream: true, stream_options: { include_usage: true } },
  ],
  "/v1/chat/completions": [
    { model: "brown-llama-12l", messages: [{ role: "user", content: "Hi" }], max_tokens: 3 },
    { messages: [{ role: "user", content: [{ type: "text", text: "Yo" }] }], max_tokens: 2, logprobs: true, top_logprobs: 2, stream: true },
  ],
  "/tokenize": [{ content: "Hello", add_special: true, with_pieces: true }, { prompt: "x", add_special_tokens: false }],
  "/detokenize": [{ tokens: [0, 271, 1040] }],
  "/v1/score": [
    { rubric: "r", items: [{ id: 1, story: "A short tale." }, { story: "Another." }] },
    { rubric: { version: 1, template: "{story}", cue: " Rating:", labels: ["yes", "no"] }, items: [{ story: "x" }] },
  ],
  "/v1/choose": [{ records: [{ context: "Q", choices: [" a", " b c"], gold: 0 }] }],
};
const endpoints = Object.keys(samples);

const weird = [
  null, true, false, 0, -1, 1, 3, 0.5, -0.0, 1e300, -1e300, 2 ** 53, 2 ** 64, -(2 ** 63), 1e-300,
  "", "x", "\u0000", "\ud800", "🙂".repeat(50), "a".repeat(5000), [], [1, 2], [[1], [2]], [""],
  {}, { a: 1 }, [null], [-5], [1e20], { content: 5 },
];

function mutateValue(v, depth = 0) {
  if (v && typeof v === "object" && depth < 3 && rand() < 0.6) {
    const c = Array.isArray(v) ? [...v] : { ...v };
    const keys = Object.keys(c);
    if (keys.length && rand() < 0.8) {
      const k = pick(keys);
      if (rand() < 0.15) delete c[k];
      else c[k] = mutateValue(c[k], depth + 1);
    } else if (!Array.isArray(c)) {
      c[pick(["model", "prompt", "max_tokens", "n", "logprobs", "echo", "stream", "stop", "temperature", "seed", "messages", "tokens", "content", "zzz"])] = pick(weird);
    }
    return c;
  }
  return pick(weird);
}

function textMutations(s) {
  const b = Buffer.from(s, "utf8");
  switch (randInt(7)) {
    case 0: return b.subarray(0, randInt(b.length));                         // truncated JSON
    case 1: { const c = Buffer.from(b); c[randInt(c.length)] = randInt(256); return c; }
    case 2: return Buffer.concat([b.subarray(0, b.length - 1), Buffer.from([0xff, 0xfe, 0x22, 0x7d])]);
    case 3: { const i = s.indexOf('"', 10); return i > 0 ? Buffer.concat([b.subarray(0, i + 1), Buffer.from([0xc3, 0x28, 0xe2, 0x82]), b.subarray(i + 1)]) : b; }
    case 4: return Buffer.from("[".repeat(5000) + "]".repeat(5000));     // deep nesting
    case 5: return Buffer.from(s.replace(/\d+/, "1" + "0".repeat(400))); // a huge literal
    default: return Buffer.from(Array.from({ length: randInt(300) }, () => randInt(256)));
  }
}

// One HTTP request over a raw socket; resolves { status } or { status: 0 } when the server closes
// without answering.
function rawRequest(port, data, timeoutMs = 15000) {
  return new Promise((resolve) => {
    const sock = net.connect(port, "127.0.0.1");
    let got = "";
    const done = (status) => { sock.destroy(); resolve({ status }); };
    sock.setTimeout(timeoutMs, () => done(-1));
    sock.on("data", (d) => {
      got += d.toString("latin1");
      const m = /^HTTP\/1\.1 (\d{3})/.exec(got);
      if (m && got.includes("\r\n\r\n")) done(Number(m[1]));
    });
    sock.on("error", () => {  // a reset can come after the answer (unread bytes at close)
      const m = /^HTTP\/1\.1 (\d{3})/.exec(got);
      done(m ? Number(m[1]) : 0);
    });
    sock.on("close", () => {
      const m = /^HTTP\/1\.1 (\d{3})/.exec(got);
      done(m ? Number(m[1]) : 0);
    });
    sock.write(data);
    sock.end();
  });
}

const server = await startServer(["--threads", "2", "--chat-template", "tests/server_js/chat_template.jinja", "--max-body", "256KiB",
  "--rubric", "r=examples/rubrics/story_quality.yaml"]);
const counts = {};
const bad = [];
try {
  const cases = Array.from({ length: nRequests }, (_, i) => i);
  await pool(cases, 8, async (i) => {
    const endpoint = pick(endpoints);
    const kind = randInt(10);
    let status, body;
    if (kind < 6) {  // JSON with mutated values
      body = JSON.stringify(mutateValue(pick(samples[endpoint])));
      const r = await fetch(server.url + endpoint, { method: "POST", headers: { "content-type": "application/json" }, body });
      status = r.status;
      const text = await r.text();
      if (status >= 400 && status < 500) {
        const j = JSON.parse(text);
        assert.ok(j.error && typeof j.error.message === "string", `envelope: ${text}`);
      }
    } else if (kind < 9) {  // mutated bytes
      body = textMutations(JSON.stringify(pick(samples[endpoint])));
      const r = await fetch(server.url + endpoint, { method: "POST", headers: { "content-type": "application/json" }, body });
      status = r.status;
      await r.text();
    } else {  // raw socket abuse
      const which = randInt(5);
      const payload = JSON.stringify(pick(samples[endpoint]));
      const raw = [
        `POST ${endpoint} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${payload.length + 50}\r\n\r\n${payload}`,
        `POST ${endpoint} HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20000)}\r\nContent-Length: 2\r\n\r\n{}`,
        `POST ${endpoint} HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}`,
        `GARBAGE /\r\n\r\n`,
        `POST ${endpoint} HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 300 }, (_, k) => `X-H${k}: v`).join("\r\n")}\r\nContent-Length: 2\r\n\r\n{}`,
      ][which];
      body = `raw case ${which}`;
      status = (await rawRequest(server.port, raw)).status;
      // A broken framing (truncated body, header over the limit, bad length) may be answered by
      // closing the connection: that, or a 4xx, never a 5xx or a hang.
      if (status === 0) status = "closed";
    }
    counts[status] = (counts[status] || 0) + 1;
    const ok = status === "closed" || (status >= 200 && status < 300) || (status >= 400 && status < 500);
    if (!ok) bad.push({ endpoint, status, body: String(body).slice(0, 200) });
  });
  console.log("fuzz: statuses", JSON.stringify(counts));
  assert.deepEqual(bad, [], `answers outside 2xx/4xx: ${JSON.stringify(bad.slice(0, 5))}`);
  const h = await fetch(server.url + "/health");
  assert.equal(h.status, 200, "the server no longer answers /health");
  const t0 = Date.now();
  let m;
  for (;;) {
    m = await metrics(server.url);
    if (m.encore_active_requests === 0 && m.encore_queue_depth === 0) break;
    assert.ok(Date.now() - t0 < 30000, "requests still running 30 s after the fuzz");
    await sleep(100);
  }
  assert.equal(metricSum(m, "encore_kv_blocks_referenced"), 0, "KV blocks leaked");
  assert.equal(metricSum(m, "encore_kv_blocks_reserved"), 0, "KV reservations leaked");
  assert.equal(metricSum(m, "encore_kv_blocks_available"), metricSum(m, "encore_kv_blocks"));
  const exit = await server.stop();
  assert.equal(exit.code, 0, `exit ${JSON.stringify(exit)}`);
  console.log("server fuzz: OK");
} catch (e) {
  console.log(`server fuzz: FAILED: ${e.stack || e}`);
  console.log(server.stderr().slice(-2000));
  await server.stop();
  process.exit(1);
}
