#!/usr/bin/env python3
"""The PyTorch peer of `encore bench --device cuda`: the same shapes through `transformers`
(bf16, sdpa attention, random weights from a Llama-3-8B-shaped config), on the same GPU, in the
same run, with the same ceilings measured through torch. Prints one table, with encore's figures
beside it when the JSON line of `encore bench --device cuda` is given (--encore-log).

Rows: prefill tokens/s at 512, 2048 and 8192 tokens (one sequence, logits of the last token);
decode tokens/s at batch 1, 8 and 64 after contexts of 512 and 4096 (a DynamicCache of the
context repeated over the batch, one token per item per step); the scoring workload (a
2000-token rubric prefix, items of 300 tokens, logits of the last position for 10 letter
labels): per item with the full prompt, and reusing the prefix's past_key_values in batches of 16.
With --compiled, also PyTorch's fastest decode, the transformers docs' recipe for generation: a
StaticCache and the forward under torch.compile(mode="reduce-overhead", fullgraph=True), at
batch 1 and 8 after a 512-token context; the seconds of the first (compiling) calls are printed,
and a batch is skipped once compiling has spent --compile-budget seconds. If that path raises
(an API mismatch), one line says so and the rest of the table is still printed.
"""
import argparse
import inspect
import json
import statistics
import time

import torch
import transformers


def cuda_time(fn, repeats):
    """Median seconds of fn() over `repeats` runs after one warm-up."""
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def ceilings():
    n = 8192
    a = torch.rand(n, n, device="cuda", dtype=torch.bfloat16) - 0.5
    b = torch.rand(n, n, device="cuda", dtype=torch.bfloat16) - 0.5
    s = cuda_time(lambda: a @ b, 10)
    gemm = 2 * n**3 / s / 1e12
    del a, b
    src = torch.rand(1 << 30, device="cuda")  # 4 GiB
    dst = torch.empty_like(src)
    s = cuda_time(lambda: dst.copy_(src), 10)
    copy = 2 * src.numel() * 4 / s / 1e9
    del src, dst
    return gemm, copy


def make_model():
    config = transformers.LlamaConfig(
        vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
        num_attention_heads=32, num_key_value_heads=8, head_dim=128, max_position_embeddings=131072,
        rms_norm_eps=1e-5, rope_theta=500000.0, tie_word_embeddings=False,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})
    config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = transformers.LlamaForCausalLM(config).to(torch.bfloat16)
    model.eval()
    return model, config


def static_decode(model, fwd, config, prompt, step_ids, pass_cache_position):
    """(median seconds of a decode step, seconds of the first 3 calls) of `fwd`, the compiled
    model.forward, on a StaticCache filled with `prompt` (batch x context): one token per item
    per step, at positions context, context + 1, ..., each step copying the logits to the host."""
    batch, context = prompt.shape
    cache = transformers.StaticCache(config=config, max_cache_len=context + 64)

    # transformers before 5.3 places a static cache's writes by `cache_position`; later versions
    # dropped the argument (the cache counts its own length, in a tensor updated in place).
    def extra(first, n):
        return {"cache_position": torch.arange(first, first + n, device="cuda")} \
            if pass_cache_position else {}

    # Fill eagerly, as generate() does (its prefill is not compiled): this also allocates the
    # cache's tensors and marks their addresses static for the compiled steps.
    model(prompt, past_key_values=cache, use_cache=True, logits_to_keep=1, **extra(0, context))
    # One fresh tensor per step for the positions (views of one tensor could recompile).
    steps = [(torch.full((batch, 1), context + i, device="cuda"), extra(context + i, 1))
             for i in range(19)]

    def step(i):
        torch.compiler.cudagraph_mark_step_begin()
        o = fwd(step_ids, position_ids=steps[i][0], past_key_values=cache, use_cache=True,
                **steps[i][1])
        o.logits.float().cpu()

    t0 = time.perf_counter()
    for i in range(3):  # compiles, then records the CUDA graph ("reduce-overhead"), then replays
        step(i)
    first = time.perf_counter() - t0
    times = []
    for i in range(3, 19):
        t0 = time.perf_counter()
        step(i)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), first


def gemm_flops_per_token(c):
    d, q, kv, f = c.hidden_size, c.num_attention_heads * c.head_dim, \
        c.num_key_value_heads * c.head_dim, c.intermediate_size
    return 2.0 * (2 * d * q + 2 * d * kv + 3 * d * f) * c.num_hidden_layers


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--score-items", type=int, default=2000,
                    help="items of the batched-reuse scoring workload (per item: an eighth)")
    ap.add_argument("--encore-log", help="output of `encore bench --device cuda` (its JSON line)")
    ap.add_argument("--compiled", action="store_true",
                    help="also decode with a StaticCache and torch.compile (reduce-overhead)")
    ap.add_argument("--compile-budget", type=float, default=300,
                    help="seconds of compiling after which --compiled skips its next batch")
    args = ap.parse_args()
    gemm_tflops, copy_gbps = ceilings()
    model, config = make_model()
    vocab = config.vocab_size
    flops = gemm_flops_per_token(config)
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters()) \
        - model.model.embed_tokens.weight.numel() * 2 + config.hidden_size * 2
    kv_bytes = config.num_hidden_layers * 2 * config.num_key_value_heads * config.head_dim * 2
    rows = []  # (name, torch figure, unit, torch fraction, key into encore's JSON)
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, "
          f"transformers {transformers.__version__}")
    print(f"ceilings (torch): bf16 GEMM 8192^3 {gemm_tflops:.1f} TFLOP/s, "
          f"device copy {copy_gbps:.1f} GB/s")
    gen = torch.Generator(device="cuda").manual_seed(1)

    def ids(batch, n):
        return torch.randint(0, vocab, (batch, n), device="cuda", generator=gen)

    with torch.inference_mode():
        for n in (512, 2048, 8192):
            x = ids(1, n)
            s = cuda_time(lambda: model(x, use_cache=False, logits_to_keep=1), 3)
            tps = n / s
            rows.append((f"prefill {n}", tps, "tok/s", flops * tps / (gemm_tflops * 1e12),
                         ("prefill", n)))
        for context in (512, 4096):
            prompt = ids(1, context)
            out = model(prompt, use_cache=True, logits_to_keep=1)
            base = out.past_key_values
            for batch in (1, 8, 64):
                cache = transformers.DynamicCache()
                for li, layer in enumerate(base.layers):
                    cache.update(layer.keys.expand(batch, -1, -1, -1).contiguous(),
                                 layer.values.expand(batch, -1, -1, -1).contiguous(), li)
                step_ids = ids(batch, 1)
                model(step_ids, past_key_values=cache, use_cache=True)  # warm-up
                torch.cuda.synchronize()
                times = []
                for _ in range(16):
                    t0 = time.perf_counter()
                    o = model(step_ids, past_key_values=cache, use_cache=True)
                    o.logits.float().cpu()
                    times.append(time.perf_counter() - t0)
                s = statistics.median(times)
                tps = batch / s
                read = weight_bytes + batch * (context + 8) * kv_bytes
                rows.append((f"decode {batch} x {context}", tps, "tok/s",
                             read / s / (copy_gbps * 1e9), ("decode", batch, context)))
                del cache
            del base, out
        # Scoring: 2000-token prefix, items of 300 tokens, 10 label logits at the last position.
        prefix = ids(1, 2000)
        labels = torch.arange(32, 42, device="cuda")
        n_items = args.score_items
        items = ids(n_items, 300)
        per_item = max(8, n_items // 8)
        t0 = time.perf_counter()
        for i in range(per_item):
            o = model(torch.cat([prefix, items[i:i + 1]], dim=1), use_cache=False,
                      logits_to_keep=1)
            o.logits[0, -1, labels].float().cpu()
        s = time.perf_counter() - t0
        ips = per_item / s
        floor = flops * 300 / (gemm_tflops * 1e12)  # seconds of GEMM work per item at the peak
        rows.append(("score, full prompt per item", ips, "items/s", ips * floor, None))
        base = model(prefix, use_cache=True, logits_to_keep=1).past_key_values
        batch = 16
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for b0 in range(0, n_items, batch):
            chunk = items[b0:b0 + batch]
            cache = transformers.DynamicCache()
            for li, layer in enumerate(base.layers):
                cache.update(layer.keys.expand(chunk.shape[0], -1, -1, -1).contiguous(),
                             layer.values.expand(chunk.shape[0], -1, -1, -1).contiguous(), li)
            o = model(chunk, past_key_values=cache, use_cache=True, logits_to_keep=1)
            o.logits[:, -1, labels].float().cpu()
        s = time.perf_counter() - t0
        ips = n_items / s
        rows.append((f"score, prefix KV reused, batches of {batch}", ips, "items/s", ips * floor,
                     None))

    if args.compiled:
        # dynamic=False: batch 1 and 8 each get their own specialized graph, as generate() does
        # per batch size, rather than one graph with a symbolic batch after the recompile.
        context, spent = 512, 0.0
        try:
            with torch.no_grad():  # as the docs' StaticCache loop; compiled graphs run in it
                fwd = torch.compile(model.forward, mode="reduce-overhead", fullgraph=True,
                                    dynamic=False)
                pass_cp = "cache_position" in inspect.signature(model.forward).parameters
                prompt = ids(1, context)
                for batch in (1, 8):
                    name = f"decode {batch} x {context}, static cache + torch.compile"
                    if spent > args.compile_budget:
                        print(f"{name}: not measured (compile budget of "
                              f"{args.compile_budget:.0f} s spent)")
                        continue
                    s, first = static_decode(model, fwd, config, prompt.expand(batch, -1),
                                             ids(batch, 1), pass_cp)
                    spent += first
                    print(f"{name}: first 3 calls (compiling, recording CUDA graphs) {first:.1f} s")
                    tps = batch / s
                    read = weight_bytes + batch * (context + 8) * kv_bytes
                    rows.append((name, tps, "tok/s", read / s / (copy_gbps * 1e9),
                                 ("decode", batch, context)))
        except Exception as e:  # an API mismatch of these versions: the rest is still printed
            print(f"compiled decode: not measured "
                  f"({type(e).__name__}: {' '.join(str(e).split())[:200]})")

    encore = None
    if args.encore_log:
        for line in open(args.encore_log):
            line = line.strip()
            if line.startswith("{") and "gemm_tflops" in line:
                encore = json.loads(line)

    def encore_figure(key):
        if not encore or not key:
            return None
        if key[0] == "prefill":
            for r in encore.get("prefill", []):
                if r["tokens"] == key[1]:
                    return r["tokens_per_s"], r["of_gemm_peak"]
        else:
            for r in encore.get("decode", []):
                if r["batch"] == key[1] and r["context"] == key[2]:
                    return r["tokens_per_s"], r["of_copy_bandwidth"]
        return None

    print()
    w = max([40] + [len(r[0]) + len(r[2]) + 3 for r in rows])  # names with their units
    print(f"{'workload':<{w}} {'torch':>10} {'of ceiling':>11} {'encore':>10} {'of ceiling':>11}"
          f" {'encore/torch':>13}")
    for name, fig, unit, frac, key in rows:
        e = encore_figure(key)
        es = f"{e[0]:>10.1f} {100 * e[1]:>10.1f}% {e[0] / fig:>12.2f}x" if e else \
            f"{'-':>10} {'-':>11} {'-':>13}"
        print(f"{name + ' (' + unit + ')':<{w}} {fig:>10.1f} {100 * frac:>10.1f}% {es}")
    print(json.dumps({"torch": {r[0]: r[1] for r in rows}, "gemm_tflops": gemm_tflops,
                      "copy_gbps": copy_gbps}))


if __name__ == "__main__":
    main()
