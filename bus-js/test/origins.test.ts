// The allowlist against the adversarial origin table bus-core is held to
// (docs/protocol/origins.json), and its short suffix list against bus-core's.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { Allowlist, OriginError, builtInSuffixes } from "../src/origin.js";

const repo = (path: string): string => readFileSync(new URL("../../../" + path, import.meta.url), "utf8");
const table = JSON.parse(repo("docs/protocol/origins.json"));

test("entries canonicalise as the table says", () => {
  assert.ok(table.canonical.length > 5);
  for (const c of table.canonical) assert.equal(String(new Allowlist(c.entries)), c.display, c.entries.join(" "));
});

test("entries are refused as the table says, with a message that says what to write", () => {
  assert.ok(table.refused.length > 20);
  for (const c of table.refused) {
    assert.throws(
      () => new Allowlist([c.entry]),
      (e: unknown) =>
        e instanceof OriginError &&
        c.problem.includes(e.problem) &&
        e.entry === c.entry &&
        e.message.startsWith(`allowlist entry "${c.entry}": ${e.problem}; `),
      `${JSON.stringify(c.entry)} must be refused as ${c.problem}`,
    );
  }
});

test("origins match as the table says", () => {
  let checked = 0;
  for (const g of table.matching) {
    const list = new Allowlist(g.allowlist, g.opaque);
    for (const o of g.allow) {
      assert.ok(list.allows(o), `${g.allowlist} must allow ${JSON.stringify(o)}`);
      checked++;
    }
    for (const o of g.deny) {
      assert.ok(!list.allows(o), `${g.allowlist} must deny ${JSON.stringify(o)}`);
      checked++;
    }
  }
  assert.ok(checked > 60);
});

test("the short public-suffix list is bus-core's", () => {
  const rust = repo("bus-core/src/origin/suffix.rs");
  const block = /BUILT_IN: &\[&str\] = &\[([^\]]*)\]/.exec(rust);
  assert.ok(block, "BUILT_IN not found in bus-core/src/origin/suffix.rs");
  const theirs = [...block[1].matchAll(/"([^"]+)"/g)].map((m) => m[1]);
  assert.ok(theirs.length > 50);
  assert.deepEqual(builtInSuffixes().sort(), theirs.sort());
});

test("an empty allowlist allows nothing", () => {
  const list = new Allowlist([]);
  assert.ok(list.empty);
  for (const o of ["https://a.com", "null", "", "*"]) assert.ok(!list.allows(o), o);
});
