// Bounded load test of `encore serve` on loopback: the same fixed set of completion requests
// served one at a time, then from many concurrent clients. Every request must succeed and give
// the same (greedy) text in both runs. Prints requests/s, generated tokens/s and p50/p99 latency
// of each run and their ratio (a measurement, not asserted).
// Usage: node tests/server_js/load.mjs [requests] [concurrency] [max_tokens] [threads]
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import OpenAI from "openai";
import { startServer, metrics, metricSum, pool } from "./lib.mjs";

const nRequests = Number(process.argv[2] || 64);
const concurrency = Number(process.argv[3] || 16);
const maxTokens = Number(process.argv[4] || 32);
const threads = String(process.argv[5] || 2);
const model = "assets/brown-llama-12l";

const words = fs.readFileSync(`${model}/heldout.txt`, "utf8").split(/\s+/).filter(Boolean);
const prompts = Array.from({ length: nRequests }, (_, i) =>
  words.slice(i * 13, i * 13 + 20 + (i % 17) * 3).join(" "));

const server = await startServer(["--threads", threads, "--parallel", String(Math.max(concurrency, 1))]);
const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "none", maxRetries: 0, timeout: 300000 });

async function one(prompt) {
  const t0 = performance.now();
  const r = await client.completions.create({
    model: "brown-llama-12l", prompt, max_tokens: maxTokens, temperature: 0, ignore_eos: true,
  });
  assert.equal(r.usage.completion_tokens, maxTokens);
  return { text: r.choices[0].text, ms: performance.now() - t0, tokens: r.usage.completion_tokens };
}

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

async function phase(limit) {
  const t0 = performance.now();
  const results = await pool(prompts, limit, one);
  const seconds = (performance.now() - t0) / 1000;
  const tokens = results.reduce((a, r) => a + r.tokens, 0);
  const ms = results.map((r) => r.ms);
  return {
    results, seconds, rps: nRequests / seconds, tps: tokens / seconds,
    p50: quantile(ms, 0.5), p99: quantile(ms, 0.99),
  };
}

try {
  await one(prompts[0]);  // warm-up
  const seq = await phase(1);
  const conc = await phase(concurrency);
  assert.deepEqual(conc.results.map((r) => r.text), seq.results.map((r) => r.text),
    "concurrent texts differ from one-at-a-time texts");
  const m = await metrics(server.url);
  assert.equal(metricSum(m, "encore_kv_blocks_referenced"), 0);
  const line = (name, p) =>
    `${name}: ${p.seconds.toFixed(2)} s, ${p.rps.toFixed(2)} req/s, ${p.tps.toFixed(1)} tok/s, ` +
    `p50 ${p.p50.toFixed(0)} ms, p99 ${p.p99.toFixed(0)} ms`;
  console.log(`load: ${nRequests} requests, max_tokens ${maxTokens}, --threads ${threads}, ` +
              `${os.cpus().length} CPUs (${os.cpus()[0].model})`);
  console.log(line("  one at a time", seq));
  console.log(line(`  ${concurrency} concurrent`, conc));
  console.log(`  throughput ratio ${(conc.tps / seq.tps).toFixed(2)}x, largest batch ` +
              `${m.encore_batch_sequences_max} sequences`);
  const exit = await server.stop();
  assert.equal(exit.code, 0);
  console.log("server load: OK");
} catch (e) {
  console.log(`server load: FAILED: ${e.stack || e}`);
  await server.stop();
  process.exit(1);
}
