// The playground jail serve serves at /: an editor, a language picker from
// /v1/profiles, stdin or test cases, and the run's progress and result
// from /v1/runs. Everything it loads comes from the same server.
import { EditorView, basicSetup } from "codemirror";
import { EditorState, Compartment, Prec } from "@codemirror/state";
import { keymap } from "@codemirror/view";
import { indentUnit } from "@codemirror/language";
import { indentWithTab } from "@codemirror/commands";

const $ = (id) => document.getElementById(id);

// Each language's highlighting, by profile name, or else by the source
// file's extension. A language's parser is loaded when it is first
// chosen: the page does not fetch all of them up front.
const cpp = () => import("@codemirror/lang-cpp").then((m) => m.cpp());
const go = () => import("@codemirror/lang-go").then((m) => m.go());
const java = () => import("@codemirror/lang-java").then((m) => m.java());
const javascript = () => import("@codemirror/lang-javascript").then((m) => m.javascript());
const python = () => import("@codemirror/lang-python").then((m) => m.python());
const byProfile = { c: cpp, cpp: cpp, go: go, java: java, node: javascript, python3: python };
const byExtension = { c: cpp, cc: cpp, cpp: cpp, cxx: cpp, h: cpp, hpp: cpp, go: go, java: java, js: javascript,
  mjs: javascript, py: python };

// The starter programs read a name from stdin and greet it.
const starters = {
  c: `#include <stdio.h>
#include <string.h>

int main(void) {
    char name[256] = "world";
    if (fgets(name, sizeof name, stdin))
        name[strcspn(name, "\\n")] = 0;
    printf("Hello, %s!\\n", name);
    return 0;
}
`,
  cpp: `#include <iostream>
#include <string>

int main() {
    std::string name;
    if (!std::getline(std::cin, name)) name = "world";
    std::cout << "Hello, " << name << "!\\n";
}
`,
  go: `package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

func main() {
	name, _ := bufio.NewReader(os.Stdin).ReadString('\\n')
	name = strings.TrimSpace(name)
	if name == "" {
		name = "world"
	}
	fmt.Printf("Hello, %s!\\n", name)
}
`,
  java: `import java.util.Scanner;

public class Main {
    public static void main(String[] args) {
        Scanner in = new Scanner(System.in);
        String name = in.hasNextLine() ? in.nextLine() : "world";
        System.out.println("Hello, " + name + "!");
    }
}
`,
  node: `const name = require("fs").readFileSync(0, "utf8").trim() || "world";
console.log(\`Hello, \${name}!\`);
`,
  python3: `import sys

name = sys.stdin.readline().strip() or "world"
print(f"Hello, {name}!")
`,
};

const state = {
  profiles: [],
  profile: null,
  mode: "run",
  // Each language's code, kept while switching between them.
  drafts: {},
  tests: [{ stdin: "1 2\n", expect: "3\n" }],
  running: null,
};

// Any CSP violation is kept, for the tests to see: the page must work
// under its own policy.
const cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  cspViolations.push(`${e.violatedDirective}: ${e.blockedURI || "inline"}`);
});

// --- the editor ----------------------------------------------------------

const language = new Compartment();
const nonce = document.querySelector('meta[name="jail-csp-nonce"]')?.content;
const view = new EditorView({
  parent: $("editor"),
  state: EditorState.create({
    doc: "",
    extensions: [
      basicSetup,
      Prec.highest(keymap.of([{ key: "Mod-Enter", run: () => (run(), true) }])),
      keymap.of([indentWithTab]),
      indentUnit.of("    "),
      language.of([]),
      nonce && !nonce.startsWith("{{") ? EditorView.cspNonce.of(nonce) : [],
    ],
  }),
});

function setCode(text) {
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
}

async function highlight(p) {
  const ext = (p.source_name || "").split(".").pop();
  const lang = byProfile[p.name] || byExtension[ext];
  let support = [];
  try {
    if (lang) support = await lang();
  } catch (e) {
    console.warn(`no highlighting for ${p.name}: ${e.message}`);
  }
  if (state.profile === p) view.dispatch({ effects: language.reconfigure(support) });
}

// --- profiles --------------------------------------------------------------

async function loadProfiles() {
  const select = $("lang");
  try {
    const res = await fetch("/v1/profiles");
    const body = await res.json();
    if (!res.ok) throw new Error(body.error?.message || res.statusText);
    state.profiles = body.profiles || [];
  } catch (e) {
    showError(`Could not load the languages: ${e.message}`);
    return;
  }
  select.replaceChildren(...state.profiles.map((p) => new Option(label(p), p.name)));
  select.disabled = false;
  const saved = localStorage.getItem("jail.profile");
  const first = state.profiles.find((p) => p.name === saved) || state.profiles.find((p) => p.name === "python3") ||
    state.profiles[0];
  if (first) choose(first.name);
}

function label(p) {
  const names = { c: "C", cpp: "C++", go: "Go", java: "Java", node: "JavaScript (Node)", python3: "Python 3" };
  return names[p.name] || p.name;
}

function choose(name) {
  if (state.profile) state.drafts[state.profile.name] = view.state.doc.toString();
  const p = state.profiles.find((x) => x.name === name);
  if (!p) return;
  state.profile = p;
  $("lang").value = name;
  localStorage.setItem("jail.profile", name);
  $("version").textContent = p.version || p.description || "";
  $("version").title = p.description || "";
  $("source-name").textContent = p.source_name || "main";
  view.dispatch({ effects: language.reconfigure([]) });
  highlight(p);
  setCode(state.drafts[name] ?? starters[name] ?? "");
  const lim = p.limits || {}, max = p.max_limits || {};
  $("limit-time").placeholder = lim.time || "";
  $("limit-time").title = max.time ? `at most ${max.time}` : "";
  $("limit-mem").placeholder = lim.mem || "";
  $("limit-mem").title = max.mem ? `at most ${max.mem}` : "";
}

// --- modes and tests --------------------------------------------------------

function setMode(mode) {
  state.mode = mode;
  $("mode-run").setAttribute("aria-selected", String(mode === "run"));
  $("mode-tests").setAttribute("aria-selected", String(mode === "tests"));
  $("run-input").hidden = mode !== "run";
  $("tests-input").hidden = mode !== "tests";
  clearResult();
}

function renderTests() {
  const list = $("tests");
  list.replaceChildren(...state.tests.map((t, i) => {
    const li = el("li", { className: "test-case" });
    const head = el("div", { className: "case-head" }, `Test ${i + 1}`);
    head.append(el("span", { className: "verdict small pending", id: `case-verdict-${i}` }));
    head.append(el("span", { className: "spacer" }));
    const remove = el("button", { className: "link remove-test", title: "Remove this test" }, "remove");
    remove.addEventListener("click", () => { state.tests.splice(i, 1); renderTests(); });
    head.append(remove);
    const body = el("div", { className: "case-body" });
    for (const [key, name] of [["stdin", "stdin"], ["expect", "expected output"]]) {
      const ta = el("textarea", { rows: 3, spellcheck: false, className: `case-${key}` });
      ta.value = t[key];
      ta.addEventListener("input", () => { t[key] = ta.value; });
      const l = el("label", {}, name);
      l.append(ta);
      body.append(l);
    }
    li.append(head, body);
    return li;
  }));
  for (const v of list.querySelectorAll(".verdict")) v.textContent = "";
}

function el(tag, props = {}, text) {
  const e = Object.assign(document.createElement(tag), props);
  if (text !== undefined) e.textContent = text;
  return e;
}

// --- running ----------------------------------------------------------------

function request() {
  const p = state.profile;
  const req = { profile: p.name, files: [{ name: p.source_name || "main", text: view.state.doc.toString() }] };
  const limits = {};
  if ($("limit-time").value.trim()) limits.time = $("limit-time").value.trim();
  if ($("limit-mem").value.trim()) limits.mem = $("limit-mem").value.trim();
  if (Object.keys(limits).length) req.limits = limits;
  if (state.mode === "run") {
    req.stdin = { text: $("stdin").value };
  } else {
    req.check = $("check").value;
    req.tests = state.tests.map((t, i) => ({ name: String(i + 1), stdin: { text: t.stdin }, expect: { text: t.expect } }));
  }
  return req;
}

async function run() {
  if (state.running || !state.profile) return;
  if (state.mode === "tests" && state.tests.length === 0) {
    showError("Add a test first.");
    return;
  }
  clearResult();
  const run = { id: null, source: null, mode: state.mode, total: state.mode === "tests" ? state.tests.length : 0 };
  state.running = run;
  busy(true);
  status("Sending…");
  try {
    // A quick run answers within the wait in one round trip; tests stream
    // their verdicts as they come, so they do not wait.
    const url = run.mode === "run" ? "/v1/runs?wait=2s" : "/v1/runs";
    const res = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(request()) });
    const body = await res.json().catch(() => ({}));
    if (res.status === 200) return finish(run, body);
    if (res.status !== 202) throw apiError(res, body);
    run.id = body.id;
    follow(run);
  } catch (e) {
    end(run);
    showError(e.message);
  }
}

function apiError(res, body) {
  const e = body.error || {};
  const where = e.field ? ` (${e.field})` : "";
  return new Error(`${e.message || res.statusText || "request failed"}${where}`);
}

// follow streams a task's events; where the stream breaks, it polls.
function follow(run) {
  const es = new EventSource(`/v1/runs/${run.id}/events`);
  run.source = es;
  es.addEventListener("queued", () => status("Queued…"));
  es.addEventListener("started", (e) => {
    const d = JSON.parse(e.data);
    if (d.step && d.step !== "run") status(`Compiling (${d.step})…`);
    else if (d.test) status(`Running test ${d.test} of ${run.total}…`);
    else if (d.step) status("Running…");
    else status("Started…");
  });
  es.addEventListener("test", (e) => showTest(JSON.parse(e.data)));
  es.addEventListener("done", (e) => { es.close(); finish(run, JSON.parse(e.data)); });
  es.onerror = () => {
    if (state.running !== run) return;
    es.close();
    poll(run);
  };
}

async function poll(run) {
  while (state.running === run) {
    try {
      const res = await fetch(`/v1/runs/${run.id}`);
      const body = await res.json();
      if (!res.ok) throw apiError(res, body);
      if (body.state === "done" || body.state === "cancelled") return finish(run, body);
      status(body.state === "queued" ? "Queued…" : "Running…");
    } catch (e) {
      end(run);
      return showError(e.message);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function stop() {
  const run = state.running;
  if (!run || !run.id) return;
  status("Stopping…");
  await fetch(`/v1/runs/${run.id}`, { method: "DELETE" }).catch(() => {});
}

function end(run) {
  if (run.source) run.source.close();
  if (state.running === run) state.running = null;
  busy(false);
}

function busy(on) {
  $("run").disabled = on;
  $("stop").hidden = !on;
  document.body.dataset.running = on ? "1" : "";
}

// --- showing results ----------------------------------------------------------

function clearResult() {
  setVerdict("");
  status("");
  $("stats").hidden = true;
  $("reason").hidden = true;
  $("error").hidden = true;
  $("compile-box").hidden = true;
  $("stdout").replaceChildren();
  $("stderr").replaceChildren();
  $("stderr-box").hidden = true;
  $("run-output").hidden = state.mode !== "run";
  $("test-results").hidden = true;
  $("test-results").tBodies[0].replaceChildren();
  $("notes").hidden = true;
  for (const v of document.querySelectorAll("#tests .verdict")) { v.textContent = ""; v.className = "verdict small pending"; }
}

function finish(run, v) {
  end(run);
  if (v.error) return showError(`${v.error.message}${v.error.field ? ` (${v.error.field})` : ""}`);
  if (v.state === "cancelled") {
    status("Stopped.");
    return;
  }
  const r = v.result;
  if (!r) return showError("The server sent no result.");
  setVerdict(r.verdict);
  const bad = (r.compile || []).find((c) => c.verdict !== "OK");
  const compileText = (r.compile || []).map((c) => excerptText(c.output)).filter(Boolean).join("\n");
  if (compileText) {
    $("compile-box").hidden = false;
    $("compile-output").textContent = compileText;
  }
  if (bad) {
    status(`Compilation failed (${bad.step}: ${bad.reason || `exit ${bad.exit_code}`}).`);
  } else if (run.mode === "run" && r.run) {
    const x = r.run;
    showStats((x.cpu_user || 0) + (x.cpu_sys || 0), x.wall_time, x.peak_memory, x.signal || x.exit_code);
    reason(x.reason);
    status(`Done in ${secs(v.time)}${v.queue_time > 0.05 ? `, after ${secs(v.queue_time)} in the queue` : ""}.`);
  } else if (r.tests) {
    for (const t of r.tests) showTest(t);
    const top = (k) => Math.max(0, ...r.tests.map((t) => t[k] || 0));
    showStats(top("cpu_time"), top("wall_time"), top("peak_memory"));
    labels(["Max CPU", "Max wall", "Max memory"]);
    status(`${r.passed} of ${r.total} tests passed${r.skipped ? `, ${r.skipped} skipped` : ""}.`);
  }
  $("run-output").hidden = !(run.mode === "run" && r.run);
  if (run.mode === "run" && r.run) {
    showExcerpt($("stdout"), r.run.output);
    if (r.run.stderr && r.run.stderr.bytes > 0) {
      $("stderr-box").hidden = false;
      showExcerpt($("stderr"), r.run.stderr);
    }
  }
  const notes = r.warnings || [];
  if (notes.length) {
    $("notes").hidden = false;
    $("notes-list").replaceChildren(...notes.map((n) => el("li", {}, n)));
  }
}

// showTest puts one test's result in the table (once per test) and on its
// case in the editor of cases.
function showTest(t) {
  const table = $("test-results");
  table.hidden = false;
  const body = table.tBodies[0];
  let row = body.querySelector(`tr[data-test="${CSS.escape(t.name)}"]`);
  if (!row) {
    row = el("tr", { className: "test-row" });
    row.dataset.test = t.name;
    body.append(row);
  }
  row.dataset.verdict = t.verdict;
  const badge = el("span", { className: "verdict small" }, t.verdict);
  badge.dataset.verdict = t.verdict;
  const msg = el("td", {}, t.message || t.reason || t.error || "");
  const out = excerptText(t.output);
  if (t.verdict !== "OK" && (out || t.stderr?.bytes)) {
    const d = el("details");
    d.append(el("summary", {}, "output"));
    const pre = el("pre");
    showExcerpt(pre, t.output);
    d.append(pre);
    if (t.stderr?.bytes) {
      const err = el("pre");
      showExcerpt(err, t.stderr);
      d.append(el("div", { className: "muted" }, "stderr"), err);
    }
    msg.append(d);
  }
  const cell = el("td");
  cell.append(badge);
  row.replaceChildren(el("td", {}, t.name), cell, el("td", { className: "num" }, secs(t.cpu_time)),
    el("td", { className: "num" }, secs(t.wall_time)), el("td", { className: "num" }, bytes(t.peak_memory)), msg);
  const i = Number(t.name) - 1;
  const caseBadge = $(`case-verdict-${i}`);
  if (caseBadge) {
    caseBadge.textContent = t.verdict;
    caseBadge.className = "verdict small";
    caseBadge.dataset.verdict = t.verdict;
  }
}

function showStats(cpu, wall, mem, exit) {
  $("stats").hidden = false;
  labels(["CPU", "Wall", "Peak memory"]);
  $("stat-cpu").textContent = secs(cpu);
  $("stat-wall").textContent = secs(wall);
  $("stat-mem").textContent = bytes(mem);
  $("stat-exit").parentElement.hidden = exit === undefined;
  $("stat-exit").textContent = exit ?? "";
}

function labels(names) {
  $("stats").querySelectorAll("dt").forEach((dt, i) => { if (names[i]) dt.textContent = names[i]; });
}

function reason(text) {
  $("reason").hidden = !text;
  $("reason").textContent = text || "";
}

function excerptText(x) {
  if (!x) return "";
  if (x.b64) return `[${x.bytes} bytes of binary output]`;
  return x.text || "";
}

function showExcerpt(pre, x) {
  pre.replaceChildren();
  if (!x || x.bytes === 0) {
    pre.append(el("span", { className: "note" }, "(nothing)"));
    return;
  }
  pre.append(excerptText(x));
  if (x.truncated) pre.append(el("span", { className: "note" }, `\n… ${bytes(x.bytes)} in all`));
}

function setVerdict(v) {
  $("verdict").textContent = v;
  $("verdict").dataset.verdict = v;
  document.body.dataset.verdict = v;
}

function status(text) { $("status").textContent = text; }

function showError(text) {
  $("error").hidden = false;
  $("error").textContent = text;
  setVerdict("");
  status("");
}

function secs(s) {
  if (s === undefined || s === null) return "–";
  return s < 1 ? `${Math.round(s * 1000)} ms` : `${s.toFixed(2)} s`;
}

function bytes(n) {
  if (!n) return "–";
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

// --- wiring ---------------------------------------------------------------------

$("lang").addEventListener("change", (e) => choose(e.target.value));
$("mode-run").addEventListener("click", () => setMode("run"));
$("mode-tests").addEventListener("click", () => setMode("tests"));
$("run").addEventListener("click", run);
$("stop").addEventListener("click", stop);
$("reset").addEventListener("click", () => state.profile && setCode(starters[state.profile.name] ?? ""));
$("add-test").addEventListener("click", () => { state.tests.push({ stdin: "", expect: "" }); renderTests(); });
document.addEventListener("keydown", (e) => {
  if ((e.ctrlKey || e.metaKey) && e.key === "Enter") { e.preventDefault(); run(); }
});
$("stdin").value = "world\n";
renderTests();

// A hook for scripts and tests: what a user does by hand, without the
// editor's auto-indentation getting in the way of pasted programs.
window.jail = {
  view,
  setCode,
  getCode: () => view.state.doc.toString(),
  choose,
  setMode,
  setTests(tests) { state.tests = tests.map((t) => ({ stdin: t.stdin ?? "", expect: t.expect ?? "" })); renderTests(); },
  cspViolations,
};

loadProfiles().then(() => { document.body.dataset.ready = "1"; });
