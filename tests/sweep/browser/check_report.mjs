#!/usr/bin/env node
// Opens a sweep report.html from disk in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core) and checks: no console errors or page errors, no network request (only the
// file itself and inline data: URLs), every heatmap image decoded with a non-zero size, and that
// clicking a metric's column header sorts the plan table by it (ascending, then descending).
//
//   node check_report.mjs <report.html> <column header text>
//
// Exit status 0 when all holds, 1 otherwise (each failure on its own line).
import { chromium } from "playwright-core";
import path from "node:path";

const [file, column] = process.argv.slice(2);
if (!file || !column) {
  console.error("usage: node check_report.mjs <report.html> <column header text>");
  process.exit(2);
}
const failures = [];
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  const errors = [], requests = [];
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("request", (r) => {
    const url = r.url();
    if (!url.startsWith("data:") && url !== "file://" + path.resolve(file)) requests.push(url);
  });
  await page.goto("file://" + path.resolve(file), { waitUntil: "load" });

  const images = await page.$$eval("img.map", (els) =>
    els.map((e) => ({ alt: e.alt, ok: e.complete && e.naturalWidth > 0 && e.naturalHeight > 0 })));
  if (images.length === 0) failures.push("no heatmap image in the report");
  for (const img of images) if (!img.ok) failures.push(`heatmap not drawn: ${img.alt}`);

  // The plan table sorted by clicking the column header.
  const headers = await page.$$eval("#plans thead th", (ths) => ths.map((t) => t.textContent));
  const col = headers.indexOf(column);
  if (col < 0) failures.push(`no column '${column}' in the plan table (${headers.join(", ")})`);
  else {
    const values = () => page.$$eval(`#plans tbody tr`, (rows, c) =>
      rows.map((r) => r.cells[c].getAttribute("data-v")).filter((v) => v !== "" && v !== null)
        .map(Number), col);
    const before = await values();
    const th = page.locator("#plans thead th").nth(col);
    await th.click();
    const asc = await values();
    await th.click();
    const desc = await values();
    const sorted = (v, dir) => v.every((x, k) => k === 0 || dir * (x - v[k - 1]) >= 0);
    if (asc.length < 2) failures.push("fewer than 2 values to sort");
    if (!sorted(asc, 1)) failures.push(`clicking '${column}' did not sort ascending`);
    if (!sorted(desc, -1)) failures.push(`clicking '${column}' again did not sort descending`);
    if (sorted(before, 1) && sorted(before, -1)) failures.push("the column is constant");
    if (asc.length !== before.length) failures.push("sorting lost rows");
  }
  for (const e of errors) failures.push(`console error: ${e}`);
  for (const r of requests) failures.push(`network request: ${r}`);
} finally {
  await browser.close();
}
for (const f of failures) console.error(f);
if (failures.length) process.exit(1);
console.log(`report ok: ${path.basename(file)}`);
