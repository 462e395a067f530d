#!/usr/bin/env node
// Checks a GGUF file with @huggingface/gguf, a parser written independently of encore, against
// an expectation JSON. Usage:
//
//   node check.mjs <file.gguf> <expect.json> [--verbose]
//
// Exit status 0 when everything matches, 1 on any mismatch (each printed on its own line), 2 on
// bad usage. The expectation JSON (every field optional):
//
//   {
//     "version": 3,                     GGUF version
//     "alignment": 32,                  general.alignment, or 32 when the key is absent
//     "tensor_data_offset": 1234,       file offset of the data section
//     "kv_count": 20, "tensor_count": 9,
//     "exact_metadata": true,           the file has no keys beyond those in "metadata"
//     "metadata": {
//       "key": {"type": "uint32", "value": 5},
//       "key2": {"type": "array", "element_type": "string", "value": ["a", "b"]}
//     },                                uint64/int64 values may be given as decimal strings;
//                                       a "value" may be left out to check the type only
//     "exact_tensors": true,            the file has exactly these tensors, in this order
//     "tensors": [
//       {"name": "t", "ne": [64, 5], "type": 8, "offset": 0, "n_bytes": 170, "crc32": 123}
//     ]                                 ne innermost first, as in the file; type is the ggml
//                                       type code; n_bytes and crc32 check the data itself
//   }
import { gguf, GGUFValueType } from "@huggingface/gguf";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";

const TYPE_NAMES = {
  [GGUFValueType.UINT8]: "uint8",
  [GGUFValueType.INT8]: "int8",
  [GGUFValueType.UINT16]: "uint16",
  [GGUFValueType.INT16]: "int16",
  [GGUFValueType.UINT32]: "uint32",
  [GGUFValueType.INT32]: "int32",
  [GGUFValueType.FLOAT32]: "float32",
  [GGUFValueType.BOOL]: "bool",
  [GGUFValueType.STRING]: "string",
  [GGUFValueType.ARRAY]: "array",
  [GGUFValueType.UINT64]: "uint64",
  [GGUFValueType.INT64]: "int64",
  [GGUFValueType.FLOAT64]: "float64",
};
const HEADER_KEYS = new Set(["version", "tensor_count", "kv_count"]);

const args = process.argv.slice(2);
const verbose = args.includes("--verbose");
const [file, expectFile] = args.filter((a) => a !== "--verbose");
if (!file || !expectFile) {
  console.error("usage: node check.mjs <file.gguf> <expect.json> [--verbose]");
  process.exit(2);
}

const errors = [];
const fail = (msg) => errors.push(msg);
const show = (v) => JSON.stringify(v, (_, x) => (typeof x === "bigint" ? x.toString() + "n" : x));

// Compares a parsed value with an expected one; `type` is a type name or undefined (unknown,
// inside nested arrays).
function sameValue(actual, expected, type) {
  if (Array.isArray(expected)) {
    return (
      Array.isArray(actual) &&
      actual.length === expected.length &&
      expected.every((e, i) => sameValue(actual[i], e, undefined))
    );
  }
  if (typeof actual === "bigint") return actual.toString() === String(expected);
  if (typeof actual === "number" && (type === "float32" || type === "float64"))
    return Object.is(actual, expected);
  return actual === expected || (typeof actual === "number" && Object.is(actual, expected));
}

function sameArray(actual, expected, elemType) {
  if (!Array.isArray(actual) || actual.length !== expected.length) return false;
  return expected.every((e, i) => sameValue(actual[i], e, elemType));
}

let parsed;
try {
  parsed = await gguf(path.resolve(file), { allowLocalFile: true, typedMetadata: true });
} catch (e) {
  console.error(`gguf_js: ${file}: @huggingface/gguf cannot parse it: ${e.message}`);
  process.exit(1);
}
const expect = JSON.parse(fs.readFileSync(expectFile, "utf8"));
const { metadata, typedMetadata, tensorInfos, tensorDataOffset, littleEndian } = parsed;

if (!littleEndian) fail("file is big-endian");
if (expect.version !== undefined && metadata.version !== expect.version)
  fail(`version: file ${metadata.version}, expected ${expect.version}`);
if (expect.kv_count !== undefined && BigInt(metadata.kv_count) !== BigInt(expect.kv_count))
  fail(`kv_count: file ${metadata.kv_count}, expected ${expect.kv_count}`);
if (expect.tensor_count !== undefined && BigInt(metadata.tensor_count) !== BigInt(expect.tensor_count))
  fail(`tensor_count: file ${metadata.tensor_count}, expected ${expect.tensor_count}`);
const alignment = Number(metadata["general.alignment"] ?? 32);
if (expect.alignment !== undefined && alignment !== expect.alignment)
  fail(`alignment: file ${alignment}, expected ${expect.alignment}`);
if (expect.tensor_data_offset !== undefined && tensorDataOffset !== BigInt(expect.tensor_data_offset))
  fail(`tensor_data_offset: file ${tensorDataOffset}, expected ${expect.tensor_data_offset}`);

// Metadata.
const expectedMeta = expect.metadata ?? {};
const fileKeys = Object.keys(typedMetadata).filter((k) => !HEADER_KEYS.has(k));
if (BigInt(metadata.kv_count) !== BigInt(fileKeys.length))
  fail(`kv_count ${metadata.kv_count} but ${fileKeys.length} distinct keys parsed (duplicate keys?)`);
for (const [key, want] of Object.entries(expectedMeta)) {
  const got = typedMetadata[key];
  if (!got) {
    fail(`metadata '${key}': missing`);
    continue;
  }
  const gotType = TYPE_NAMES[got.type] ?? `type ${got.type}`;
  if (gotType !== want.type) {
    fail(`metadata '${key}': type ${gotType}, expected ${want.type}`);
    continue;
  }
  if (want.type === "array") {
    const gotElem = TYPE_NAMES[got.subType] ?? `type ${got.subType}`;
    if (want.element_type !== undefined && gotElem !== want.element_type)
      fail(`metadata '${key}': array of ${gotElem}, expected array of ${want.element_type}`);
    else if ("value" in want && !sameArray(got.value, want.value, want.element_type))
      fail(`metadata '${key}': value ${show(got.value)}, expected ${show(want.value)}`);
  } else if ("value" in want && !sameValue(got.value, want.value, want.type)) {
    fail(`metadata '${key}': value ${show(got.value)}, expected ${show(want.value)}`);
  }
  if (verbose) console.log(`  ${key}: ${gotType} = ${show(got.value).slice(0, 100)}`);
}
if (expect.exact_metadata)
  for (const key of fileKeys) if (!(key in expectedMeta)) fail(`metadata '${key}': not expected`);

// Tensors.
const expectedTensors = expect.tensors ?? [];
if (expect.exact_tensors) {
  const names = tensorInfos.map((t) => t.name);
  const wantNames = expectedTensors.map((t) => t.name);
  if (show(names) !== show(wantNames)) fail(`tensor names ${show(names)}, expected ${show(wantNames)}`);
}
const byName = new Map(tensorInfos.map((t) => [t.name, t]));
const fd = fs.openSync(file, "r");
const fileSize = fs.fstatSync(fd).size;
for (const want of expectedTensors) {
  const got = byName.get(want.name);
  if (!got) {
    fail(`tensor '${want.name}': missing`);
    continue;
  }
  const where = `tensor '${want.name}'`;
  if (want.ne !== undefined && !sameArray(got.shape, want.ne, undefined))
    fail(`${where}: ne ${show(got.shape)}, expected ${show(want.ne)}`);
  if (want.type !== undefined && got.dtype !== want.type)
    fail(`${where}: type ${got.dtype}, expected ${want.type}`);
  if (want.offset !== undefined && got.offset !== BigInt(want.offset))
    fail(`${where}: offset ${got.offset}, expected ${want.offset}`);
  if (got.offset % BigInt(alignment) !== 0n) fail(`${where}: offset ${got.offset} not aligned`);
  if (want.n_bytes !== undefined) {
    const start = Number(tensorDataOffset + got.offset);
    if (start + want.n_bytes > fileSize) {
      fail(`${where}: ${want.n_bytes} bytes at ${start} run past the end of the file (${fileSize})`);
    } else if (want.crc32 !== undefined) {
      const buf = Buffer.alloc(want.n_bytes);
      fs.readSync(fd, buf, 0, want.n_bytes, start);
      const crc = zlib.crc32(buf);
      if (crc !== want.crc32) fail(`${where}: data crc32 ${crc}, expected ${want.crc32}`);
    }
  }
  if (verbose) console.log(`  ${want.name}: ne ${show(got.shape)} type ${got.dtype} offset ${got.offset}`);
}
fs.closeSync(fd);

if (errors.length) {
  for (const e of errors) console.error(`gguf_js: ${file}: MISMATCH ${e}`);
  console.error(`gguf_js: ${file}: ${errors.length} mismatches`);
  process.exit(1);
}
console.log(
  `gguf_js: ${file}: OK (${Object.keys(expectedMeta).length} metadata keys, ` +
    `${expectedTensors.length} tensors checked by @huggingface/gguf)`,
);
