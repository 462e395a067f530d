// Helpers for the `encore serve` checks: start a server on a free loopback port and wait until it
// is ready, stop it with SIGTERM, raw HTTP calls, /metrics parsing, `encore` CLI runs and a reader
// for the safetensors files `encore logits` writes. Everything is bounded in time.
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import assert from "node:assert/strict";

export const encore = process.env.ENCORE_BIN || "build/encore";

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Starts `encore serve ARGS --port P`; resolves once /health answers 200 (at most `timeoutMs`).
// `loadDelayMs`: the server waits that long before loading (ENCORE_TEST_LOAD_DELAY_MS), so the
// loading state can be observed; a small model otherwise loads before the first poll.
export async function startServer(args, { timeoutMs = 60000, loadDelayMs = 0 } = {}) {
  const port = await freePort();
  const env = { ...process.env };
  if (loadDelayMs > 0) env.ENCORE_TEST_LOAD_DELAY_MS = String(loadDelayMs);
  const proc = spawn(encore, ["serve", "--port", String(port), ...args], {
    stdio: ["ignore", "inherit", "pipe"],
    env,
  });
  let stderr = "";
  proc.stderr.on("data", (d) => (stderr += d));
  let exited = null;
  const exit = new Promise((resolve) =>
    proc.on("exit", (code, signal) => resolve((exited = { code, signal })))
  );
  const url = `http://127.0.0.1:${port}`;
  const t0 = Date.now();
  let sawLoading = false;  // /health answered 503 while the model was loading
  for (;;) {
    if (exited) throw new Error(`encore serve exited early (${JSON.stringify(exited)}): ${stderr}`);
    if (Date.now() - t0 > timeoutMs) {
      proc.kill("SIGKILL");
      throw new Error("encore serve did not become ready in time");
    }
    try {
      const r = await fetch(`${url}/health`);
      if (r.status === 200) break;
      if (r.status === 503) sawLoading = true;
    } catch {}
    await sleep(5);
  }
  return {
    url,
    port,
    proc,
    sawLoading,
    stderr: () => stderr,
    // SIGTERM; resolves with the exit status (SIGKILL after `graceMs`).
    async stop(graceMs = 30000) {
      if (exited) return exited;
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
      const r = await exit;
      clearTimeout(timer);
      return r;
    },
  };
}

export async function postJson(url, body, headers = {}) {
  const r = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await r.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: r.status, json, text };
}

// The OpenAI error envelope, with the status and (optionally) param expected.
export function assertErrorEnvelope(res, status, param) {
  assert.equal(res.status, status, `status of ${res.text}`);
  assert.ok(res.json && res.json.error, `error envelope in ${res.text}`);
  const e = res.json.error;
  assert.equal(typeof e.message, "string");
  assert.ok(e.message.length > 0);
  assert.equal(typeof e.type, "string");
  assert.ok("param" in e && "code" in e, `param and code in ${res.text}`);
  if (param !== undefined) assert.equal(e.param, param, `param of ${res.text}`);
}

// Prometheus text -> { "name{labels}": value }.
export async function metrics(url, headers = {}) {
  const r = await fetch(`${url}/metrics`, { headers });
  assert.equal(r.status, 200);
  const out = {};
  for (const line of (await r.text()).split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}

// Sum of a metric over all label sets.
export function metricSum(m, name) {
  let s = 0;
  for (const [k, v] of Object.entries(m)) if (k === name || k.startsWith(name + "{")) s += v;
  return s;
}

// Runs the encore CLI; returns stdout.
export function cli(args) {
  return execFileSync(encore, args, { encoding: "utf8", timeout: 120000, stdio: ["ignore", "pipe", "pipe"] });
}

// Reads an F32 tensor from a safetensors file: { shape, data: Float32Array }.
export function readSafetensors(path, name) {
  const buf = fs.readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8"));
  const t = header[name];
  assert.equal(t.dtype, "F32");
  const [b, e] = t.data_offsets;
  const bytes = buf.subarray(8 + n + b, 8 + n + e);
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  return { shape: t.shape, data };
}

// log-softmax of row r of a [rows, vocab] matrix, in double precision.
export function logSoftmaxRow(data, vocab, r) {
  let max = -Infinity;
  for (let i = 0; i < vocab; i++) max = Math.max(max, data[r * vocab + i]);
  let sum = 0;
  for (let i = 0; i < vocab; i++) sum += Math.exp(data[r * vocab + i] - max);
  const lse = max + Math.log(sum);
  return (id) => data[r * vocab + id] - lse;
}

// Runs async `fn` over `items` with at most `limit` in flight; results in order.
export async function pool(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  });
  await Promise.all(workers);
  return out;
}

// A named check: prints one line, rethrows with the name.
export async function check(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    console.log(`FAIL ${name}: ${e.stack || e}`);
    throw e;
  }
}
