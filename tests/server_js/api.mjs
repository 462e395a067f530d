// `encore serve` through the official openai client (v6, maxRetries 0) and raw HTTP:
// completions with echo + logprobs against `encore logits`, the prefix cache serving the same
// request again (usage, /metrics, bitwise equal numbers), greedy text against `encore generate`,
// streaming, 32 concurrent streams against the same requests one by one (batches form),
// tokenize/detokenize against `encore tokenize`, chat, errors in the OpenAI envelope, the API key,
// a client that disconnects mid-stream, and SIGTERM draining a running stream.
// Usage: node tests/server_js/api.mjs (from the repository root; ENCORE_BIN overrides the binary).
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync, spawnSync } from "node:child_process";
import OpenAI from "openai";
import {
  startServer, postJson, assertErrorEnvelope, metrics, metricSum, cli, readSafetensors,
  logSoftmaxRow, check, sleep,
} from "./lib.mjs";

const model = "assets/brown-llama-12l";
const key = "test-key-" + process.pid;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "encore-serve-"));
const auth = { authorization: `Bearer ${key}` };

const chatTemplateFile = "tests/server_js/chat_template.jinja";
const server = await startServer(["-m", model, "--threads", "2", "--api-key", key, "--plan", "rys:4,8",
  "--chat-template", chatTemplateFile, "--rubric", "story=examples/rubrics/story_quality.yaml"], { loadDelayMs: 500 });
const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: key, maxRetries: 0, timeout: 120000 });
const heldout = fs.readFileSync(`${model}/heldout.txt`, "utf8");
let failed = false;

// The conversation rendered by jinja2 as transformers' apply_chat_template renders it.
function execJinja(template, messages) {
  const py = `
import json, sys, jinja2
args = json.load(sys.stdin)
env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
t = env.from_string(args["template"])
sys.stdout.write(t.render(messages=args["messages"], bos_token="<|begin_of_text|>",
                          eos_token="<|end_of_text|>", add_generation_prompt=True))
`;
  return execFileSync("/usr/bin/python3", ["-c", py], {
    input: JSON.stringify({ template, messages }), encoding: "utf8",
  });
}

async function run(name, fn) {
  try {
    await check(name, fn);
  } catch {
    failed = true;
  }
}

try {
  await run("health: 503 while the model loaded, then 200, open without the key", async () => {
    assert.ok(server.sawLoading, "/health never answered 503 while loading");
    const r = await fetch(`${server.url}/health`);
    assert.equal(r.status, 200);
  });

  await run("a second server on a port in use fails with one line naming it; bad options too", async () => {
    const r = spawnSync(process.env.ENCORE_BIN || "build/encore", ["serve", "--port", String(server.port)], { encoding: "utf8", timeout: 60000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`encore: error: cannot listen on 127\\.0\\.0\\.1:${server.port}`));
    const bad = spawnSync(process.env.ENCORE_BIN || "build/encore", ["serve", "--port", "1", "--rubric", "nofile"], { encoding: "utf8", timeout: 60000 });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--rubric 'nofile': expected NAME=FILE/);
  });

  await run("api key: 401 without, models listed with it", async () => {
    const r = await fetch(`${server.url}/v1/models`);
    assertErrorEnvelope({ status: r.status, json: await r.json(), text: "" }, 401);
    const bad = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "wrong", maxRetries: 0 });
    await assert.rejects(bad.models.list(), (e) => e.status === 401);
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    assert.deepEqual(ids, ["brown-llama-12l", "brown-llama-12l@rys:4,8"]);
  });

  // A prompt of 45 tokens: two full KV blocks of 16 and a partial one.
  const promptText = heldout.slice(0, 400);
  const cliIds = JSON.parse(cli(["tokenize", "-m", model, "--text", promptText])).ids;
  const ids = cliIds.slice(0, 45);

  await run("tokenize/detokenize: llama.cpp and vLLM field names, equal to encore tokenize", async () => {
    const a = await postJson(`${server.url}/tokenize`, { content: promptText, add_special: true }, auth);
    assert.equal(a.status, 200);
    assert.deepEqual(a.json.tokens, cliIds);
    const b = await postJson(`${server.url}/tokenize`, { prompt: promptText, model: "brown-llama-12l" }, auth);
    assert.deepEqual(b.json.tokens, cliIds);
    assert.equal(b.json.count, cliIds.length);
    const c = await postJson(`${server.url}/tokenize`, { content: "Hello world", with_pieces: true }, auth);
    assert.equal(c.json.tokens.map((t) => t.piece).join(""), "Hello world");
    const d = await postJson(`${server.url}/detokenize`, { tokens: cliIds.slice(1) }, auth);
    assert.equal(d.json.content, promptText);
    assert.equal(d.json.prompt, promptText);
  });

  await run("echo + logprobs, max_tokens 0: every prompt token's logprob equals encore logits (1e-6); the repeat comes from the prefix cache, bitwise equal", async () => {
    const out = path.join(tmp, "logits.safetensors");
    cli(["logits", "-m", model, "--threads", "2", "--tokens", ids.join(","), "-o", out]);
    const { shape, data } = readSafetensors(out, "logits");
    assert.deepEqual(shape, [ids.length, 4096]);
    const req = { model: "brown-llama-12l", prompt: ids, max_tokens: 0, echo: true, logprobs: 3 };
    const m0 = await metrics(server.url, auth);
    const first = await client.completions.create(req);
    const lp = first.choices[0].logprobs;
    assert.equal(lp.token_logprobs.length, ids.length);
    assert.equal(lp.token_logprobs[0], null);
    assert.equal(lp.top_logprobs[0], null);
    for (let i = 1; i < ids.length; i++) {
      const want = logSoftmaxRow(data, 4096, i - 1)(ids[i]);
      assert.ok(Math.abs(lp.token_logprobs[i] - want) <= 1e-6, `token ${i}: ${lp.token_logprobs[i]} vs ${want}`);
      // top_logprobs: the 3 best plus the prompt token, each equal to the logits' log-softmax
      const row = logSoftmaxRow(data, 4096, i - 1);
      const top = Object.entries(lp.top_logprobs[i]);
      assert.ok(top.length >= 3 && top.length <= 4);
      const best = Math.max(...Array.from(data.subarray((i - 1) * 4096, i * 4096)));
      assert.ok(Math.abs(Math.max(...top.map(([, v]) => v)) - row(Array.from(data.subarray((i - 1) * 4096, i * 4096)).indexOf(best))) <= 1e-6);
    }
    assert.equal(lp.tokens.length, ids.length);
    assert.equal(lp.text_offset[0], 0);
    assert.equal(first.choices[0].text, promptText.slice(0, lp.text_offset.at(-1) + lp.tokens.at(-1).length));
    assert.equal(first.usage.prompt_tokens, ids.length);
    assert.equal(first.usage.completion_tokens, 0);
    assert.equal(first.usage.prompt_tokens_details.cached_tokens, 0);

    const second = await client.completions.create(req);
    assert.deepEqual(second.choices[0].logprobs, lp, "the cached answer differs");
    // two full blocks reused; the last reused position is recomputed for the next token's logprob
    assert.equal(second.usage.prompt_tokens_details.cached_tokens, 31);
    const m1 = await metrics(server.url, auth);
    assert.equal(m1.encore_prefix_cache_hit_tokens_total - m0.encore_prefix_cache_hit_tokens_total, 31);
    assert.equal(m1.encore_prompt_logprob_cache_hit_tokens_total - m0.encore_prompt_logprob_cache_hit_tokens_total, 31);
    assert.equal(m1.encore_prefix_cache_hits_total - m0.encore_prefix_cache_hits_total, 1);
    // The same prompt as text gives the same numbers.
    const asText = await client.completions.create({ ...req, prompt: promptText.slice(0, lp.text_offset.at(-1) + lp.tokens.at(-1).length) });
    assert.deepEqual(asText.choices[0].logprobs.token_logprobs, lp.token_logprobs);
  });

  await run("lm-evaluation-harness local-completions loglikelihood request shape (batched token ids, echo, max_tokens 1)", async () => {
    // The payload that lm-eval's LocalCompletionsAPI sends for loglikelihood requests, and the
    // slicing its parse_logprobs applies: token_logprobs[ctxlen:-1], greedy = each equals its top.
    const ctx = ids.slice(0, 20), cont = ids.slice(20, 30);
    const payload = { model: "brown-llama-12l", prompt: [ctx.concat(cont), ids.slice(0, 12)], temperature: 0, max_tokens: 1, logprobs: 1, seed: 1234, echo: true };
    const r = await postJson(`${server.url}/v1/completions`, payload, auth);
    assert.equal(r.status, 200, r.text);
    const choices = [...r.json.choices].sort((a, b) => a.index - b.index);
    assert.equal(choices.length, 2);
    const lp = choices[0].logprobs;
    assert.equal(lp.token_logprobs.length, ctx.length + cont.length + 1);
    const contLogprobs = lp.token_logprobs.slice(ctx.length, -1);
    assert.equal(contLogprobs.length, cont.length);
    const tops = lp.top_logprobs.slice(ctx.length, -1);
    for (let i = 0; i < cont.length; i++) {  // the dict: the best token and the prompt's own
      const values = Object.values(tops[i]);
      assert.ok(values.length >= 1 && values.length <= 2);
      assert.ok(Math.max(...values) >= contLogprobs[i]);
      assert.equal(tops[i][lp.tokens[ctx.length + i]], contLogprobs[i]);
    }
    // the continuation's log-likelihood equals the echo request's numbers for the same tokens
    const e = await client.completions.create({ model: "brown-llama-12l", prompt: ctx.concat(cont), max_tokens: 0, echo: true, logprobs: 0 });
    assert.deepEqual(contLogprobs, e.choices[0].logprobs.token_logprobs.slice(ctx.length));
  });

  const greedy = { model: "brown-llama-12l", max_tokens: 24, temperature: 0 };
  await run("greedy completion equals encore generate --temp 0; stream equals non-stream", async () => {
    const prompt = "The committee said that";
    const r = await client.completions.create({ ...greedy, prompt });
    const gen = cli(["generate", "-m", model, "--threads", "2", "-p", prompt, "-n", "24", "--temp", "0"]);
    assert.equal(prompt + r.choices[0].text + "\n", gen);
    assert.equal(r.choices[0].finish_reason, "length");
    assert.equal(r.usage.completion_tokens, 24);
    const stream = await client.completions.create({ ...greedy, prompt, stream: true, stream_options: { include_usage: true } });
    let text = "", usage = null, finish = null;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      for (const c of chunk.choices) {
        text += c.text;
        if (c.finish_reason) finish = c.finish_reason;
      }
    }
    assert.equal(text, r.choices[0].text);
    assert.equal(finish, "length");
    assert.equal(usage.completion_tokens, 24);
  });

  await run("stop strings, n, seed, logprobs of generated tokens", async () => {
    const r = await client.completions.create({ ...greedy, prompt: "It was the best", stop: [" the"], max_tokens: 40 });
    assert.ok(!r.choices[0].text.includes(" the"));
    const s = await client.completions.create({ model: "brown-llama-12l", prompt: "Once", max_tokens: 12, temperature: 1, seed: 7, n: 2, logprobs: 2 });
    assert.equal(s.choices.length, 2);
    const again = await client.completions.create({ model: "brown-llama-12l", prompt: "Once", max_tokens: 12, temperature: 1, seed: 7, n: 2, logprobs: 2 });
    assert.deepEqual(again.choices.map((c) => c.text), s.choices.map((c) => c.text));
    for (const c of s.choices) {
      assert.equal(c.logprobs.tokens.length, 12);
      for (const v of c.logprobs.token_logprobs) assert.ok(v <= 0);
    }
  });

  await run("the plan model id is served from the same weights and differs from the model", async () => {
    const a = await client.completions.create({ ...greedy, prompt: "The jury", max_tokens: 0, echo: true, logprobs: 0 });
    const b = await client.completions.create({ ...greedy, model: "brown-llama-12l@rys:4,8", prompt: "The jury", max_tokens: 0, echo: true, logprobs: 0 });
    assert.notDeepEqual(a.choices[0].logprobs.token_logprobs, b.choices[0].logprobs.token_logprobs);
    const out = path.join(tmp, "rys.safetensors");
    const ids2 = (await postJson(`${server.url}/tokenize`, { content: "The jury", add_special: true }, auth)).json.tokens;
    cli(["logits", "-m", model, "--threads", "2", "--layers", "rys:4,8", "--tokens", ids2.join(","), "-o", out]);
    const { data } = readSafetensors(out, "logits");
    for (let i = 1; i < ids2.length; i++)
      assert.ok(Math.abs(b.choices[0].logprobs.token_logprobs[i] - logSoftmaxRow(data, 4096, i - 1)(ids2[i])) <= 1e-6);
  });

  await run("32 concurrent streaming requests give the texts of the same requests one by one; batches form", async () => {
    const words = heldout.split(/\s+/).filter(Boolean);
    const prompts = Array.from({ length: 32 }, (_, i) => words.slice(i * 7, i * 7 + 3 + (i % 9)).join(" "));
    const one = async (prompt) => {
      const stream = await client.completions.create({ ...greedy, prompt, max_tokens: 16, stream: true });
      let text = "";
      for await (const chunk of stream) for (const c of chunk.choices) text += c.text;
      return text;
    };
    const sequential = [];
    for (const p of prompts) sequential.push(await one(p));
    const before = await metrics(server.url, auth);
    const concurrent = await Promise.all(prompts.map(one));
    const after = await metrics(server.url, auth);
    assert.deepEqual(concurrent, sequential);
    assert.ok(after.encore_batch_sequences_max > 1, "no batch of more than one sequence");
    const big = after['encore_batch_sequences_bucket{le="1"}'] - before['encore_batch_sequences_bucket{le="1"}'];
    const all = after.encore_batch_sequences_count - before.encore_batch_sequences_count;
    assert.ok(all - big > 0, "no evaluation with more than one sequence during the concurrent run");
    console.log(`     concurrent run: ${all} evaluations, ${all - big} with more than one sequence, largest ${after.encore_batch_sequences_max}`);
  });

  await run("chat completion streams the same text as the rendered prompt through /v1/completions", async () => {
    const messages = [
      { role: "system", content: "You are terse." },
      { role: "user", content: "Tell me about the weather." },
    ];
    const r = await client.chat.completions.create({ model: "brown-llama-12l", messages, max_tokens: 12, temperature: 0 });
    const stream = await client.chat.completions.create({ model: "brown-llama-12l", messages, max_tokens: 12, temperature: 0, stream: true, logprobs: true, top_logprobs: 2, stream_options: { include_usage: true } });
    let text = "", role = null, nlp = 0, usage = null;
    for await (const chunk of stream) {
      assert.equal(chunk.object, "chat.completion.chunk");
      assert.equal(chunk.model, r.model);
      if (chunk.usage) usage = chunk.usage;
      for (const c of chunk.choices) {
        if (c.delta.role) role = c.delta.role;
        text += c.delta.content || "";
        if (c.logprobs) {
          for (const e of c.logprobs.content) {
            assert.equal(e.top_logprobs.length, 2);
            nlp++;
          }
        }
      }
    }
    assert.equal(role, "assistant");
    assert.equal(text, r.choices[0].message.content);
    assert.equal(nlp, r.usage.completion_tokens);
    // The streamed request found the first one's prompt in the prefix cache.
    assert.deepEqual([usage.prompt_tokens, usage.completion_tokens, usage.total_tokens],
      [r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens]);
    assert.ok(usage.prompt_tokens_details.cached_tokens > 0);
    // The template rendered by real Jinja (python3-jinja2), sent as a plain prompt.
    const rendered = execJinja(fs.readFileSync(chatTemplateFile, "utf8"), messages);
    const ids3 = (await postJson(`${server.url}/tokenize`, { content: rendered, add_special: false }, auth)).json.tokens;
    const c = await client.completions.create({ ...greedy, prompt: ids3, max_tokens: 12 });
    assert.equal(c.choices[0].text, text);
  });

  await run("/v1/score through the client's raw request equals encore score, bitwise (named and inline rubrics)", async () => {
    const items = fs.readFileSync("examples/heldout_stories.jsonl", "utf8").split("\n").filter(Boolean).slice(0, 6).map((l) => JSON.parse(l));
    const itemsFile = path.join(tmp, "items.jsonl");
    fs.writeFileSync(itemsFile, items.map((i) => JSON.stringify(i)).join("\n") + "\n");
    const viaCli = (rubricFile, extra = []) => {
      const out = path.join(tmp, `scores-${Math.random().toString(16).slice(2)}.jsonl`);
      cli(["score", "-m", model, "--threads", "2", "-r", rubricFile, "-i", itemsFile, "-o", out, ...extra]);
      return fs.readFileSync(out, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
    };
    const want = viaCli("examples/rubrics/story_quality.yaml");
    const got = await client.post("/score", { body: { model: "brown-llama-12l", rubric: "story", items } });
    assert.equal(got.object, "score.list");
    assert.equal(got.data.length, items.length);
    assert.deepEqual(got.data, want);
    assert.equal(got.rubric_hash, want[0].rubric_hash);
    // An inline rubric (the JSON form of a rubric file) on the plan's model id.
    const inline = { version: 1, prefix: "Rate the passage from A (bad) to C (good).\n\n", template: "Passage: {story}\n", cue: "Rating:", labels: "letters:A-C" };
    const rubricFile = path.join(tmp, "inline.json");
    fs.writeFileSync(rubricFile, JSON.stringify(inline));
    const want2 = viaCli(rubricFile, ["--layers", "rys:4,8"]);
    const got2 = await client.post("/score", { body: { model: "brown-llama-12l@rys:4,8", rubric: inline, items, batch_size: 4 } });
    assert.deepEqual(got2.data, want2);
    await assert.rejects(client.post("/score", { body: { rubric: "nope", items } }), (e) => e.status === 400 && e.param === "rubric");
    await assert.rejects(client.post("/score", { body: { rubric: "story", items: [{ id: 1 }] } }), (e) => e.status === 400 && /record 1/.test(e.message));
  });

  await run("/v1/choose equals encore choose, bitwise", async () => {
    const records = [
      { id: "a", context: "The jury said the city", choices: [" was", " of", " elephant"], gold: 0 },
      { id: "b", context: "In the morning", choices: [" the", " he went to the store", " x"], gold: 1 },
      { context: "Prices rose", choices: [" sharply", " quietly"] },
    ];
    const input = path.join(tmp, "choices.jsonl"), out = path.join(tmp, "chosen.jsonl");
    fs.writeFileSync(input, records.map((r) => JSON.stringify(r)).join("\n") + "\n");
    cli(["choose", "-m", model, "--threads", "2", "-i", input, "-o", out]);
    const want = fs.readFileSync(out, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
    const got = await client.post("/choose", { body: { records } });
    assert.deepEqual(got.data, want);
    assert.equal(typeof got.acc, "number");
  });

  await run("bad requests: 4xx with the OpenAI error envelope, naming the field", async () => {
    const u = `${server.url}/v1/completions`;
    assertErrorEnvelope(await postJson(u, "{not json", auth), 400);
    assertErrorEnvelope(await postJson(u, "[1,2]", auth), 400);
    assertErrorEnvelope(await postJson(u, { prompt: "a", temperature: "hot" }, auth), 400, "temperature");
    assertErrorEnvelope(await postJson(u, { prompt: "a", max_tokens: -1 }, auth), 400, "max_tokens");
    assertErrorEnvelope(await postJson(u, { prompt: "a", max_tokens: 1e300 }, auth), 400, "max_tokens");
    assertErrorEnvelope(await postJson(u, { prompt: "a", max_tokens: 2000 }, auth), 400, "max_tokens");
    assertErrorEnvelope(await postJson(u, { prompt: Array(1100).fill(5) }, auth), 400, "prompt");
    assertErrorEnvelope(await postJson(u, { prompt: [1, 2, 99999] }, auth), 400, "prompt");
    assertErrorEnvelope(await postJson(u, { prompt: [] }, auth), 400, "prompt");
    assertErrorEnvelope(await postJson(u, { prompt: "a", n: 0 }, auth), 400, "n");
    assertErrorEnvelope(await postJson(u, { prompt: "a", top_p: 0 }, auth), 400, "top_p");
    assertErrorEnvelope(await postJson(u, { prompt: "a", logprobs: 99 }, auth), 400, "logprobs");
    assertErrorEnvelope(await postJson(u, { prompt: "a", stop: [1] }, auth), 400, "stop");
    assertErrorEnvelope(await postJson(u, { prompt: "a", frequency_penalty: 1 }, auth), 400, "frequency_penalty");
    assertErrorEnvelope(await postJson(u, { model: "nope", prompt: "a" }, auth), 404, "model");
    assertErrorEnvelope(await postJson(`${server.url}/v1/chat/completions`, { messages: "hi" }, auth), 400, "messages");
    assertErrorEnvelope(await postJson(`${server.url}/v1/nothing`, {}, auth), 404);
    assertErrorEnvelope(await postJson(u, { prompt: "x".repeat(9 << 20) }, auth), 413);
    await assert.rejects(client.completions.create({ model: "nope", prompt: "a" }), (e) => e.status === 404 && e.code === "model_not_found");
    await assert.rejects(client.completions.create({ model: "brown-llama-12l", prompt: "a", temperature: 5 }), (e) => e.status === 400 && e.param === "temperature");
    // still serving
    const r = await client.completions.create({ ...greedy, prompt: "Still", max_tokens: 2 });
    assert.equal(r.usage.completion_tokens, 2);
  });

  await run("a client that disconnects mid-stream cancels its request and its blocks are released", async () => {
    const before = await metrics(server.url, auth);
    const ctrl = new AbortController();
    const stream = await client.completions.create({ ...greedy, prompt: "The long", max_tokens: 900, stream: true, ignore_eos: true }, { signal: ctrl.signal });
    let n = 0;
    try {
      for await (const chunk of stream) {
        if (++n === 3) ctrl.abort();
      }
    } catch {}
    const t0 = Date.now();
    let m;
    for (;;) {
      m = await metrics(server.url, auth);
      if (m.encore_cancelled_total > before.encore_cancelled_total && metricSum(m, "encore_kv_blocks_referenced") === 0) break;
      assert.ok(Date.now() - t0 < 20000, `not cancelled: ${JSON.stringify(m)}`);
      await sleep(100);
    }
    assert.ok(m.encore_generated_tokens_total - before.encore_generated_tokens_total < 900);
    assert.equal(metricSum(m, "encore_kv_blocks_reserved"), 0);
  });

  await run("no block held once idle", async () => {
    const m = await metrics(server.url, auth);
    assert.equal(metricSum(m, "encore_kv_blocks_referenced"), 0);
    assert.equal(metricSum(m, "encore_kv_blocks_reserved"), 0);
    assert.equal(m.encore_active_requests, 0);
  });

  await run("SIGTERM drains: a running stream completes, then the server exits 0", async () => {
    const stream = await client.completions.create({ ...greedy, prompt: "At last", max_tokens: 120, stream: true, ignore_eos: true });
    let tokens = 0, sent = false, done = null;
    for await (const chunk of stream) {
      for (const c of chunk.choices) {
        if (c.text) tokens++;
        if (c.finish_reason) done = c.finish_reason;
      }
      if (!sent) {
        sent = true;
        server.proc.kill("SIGTERM");
      }
    }
    assert.equal(done, "length");
    const exit = await server.stop();
    assert.equal(exit.code, 0, `exit ${JSON.stringify(exit)}`);
  });
  await run("KV budget full: requests wait and are never truncated; past --max-queue, 429", async () => {
    // 20 KV blocks of 16 positions: one request of ~5 + 200 positions (14 blocks) at a time.
    const small = await startServer(["-m", model, "--threads", "2", "--kv-budget", "1920KiB", "--max-queue", "1"]);
    try {
      const c = new OpenAI({ baseURL: `${small.url}/v1`, apiKey: "none", maxRetries: 0, timeout: 120000 });
      const ask = (i) => c.completions.create({ model: "brown-llama-12l", prompt: `Request ${i}`, max_tokens: 200, temperature: 0, ignore_eos: true })
        .then((r) => ({ ok: r }), (e) => ({ err: e }));
      const results = await Promise.all([0, 1, 2, 3, 4, 5].map(ask));
      const ok = results.filter((r) => r.ok), refused = results.filter((r) => r.err);
      assert.ok(ok.length >= 2, `${ok.length} answered`);
      assert.ok(refused.length >= 1, "no request was refused");
      for (const r of ok) assert.equal(r.ok.usage.completion_tokens, 200);
      for (const r of refused) assert.ok(r.err.status === 429 && r.err.code === "queue_full", String(r.err));
      const m = await metrics(small.url);
      assert.equal(metricSum(m, "encore_kv_blocks"), 20);
      assert.equal(metricSum(m, "encore_kv_blocks_referenced"), 0);
      // A request that no empty pool could hold is refused at once.
      await assert.rejects(c.completions.create({ model: "brown-llama-12l", prompt: "x", max_tokens: 900 }), (e) => e.status === 400 && e.code === "kv_budget_exceeded");
    } finally {
      assert.equal((await small.stop()).code, 0);
    }
  });
} finally {
  await server.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
}
if (failed) {
  console.log("server api: FAILED");
  process.exit(1);
}
console.log("server api: OK");
