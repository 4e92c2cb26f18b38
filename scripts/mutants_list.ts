/**
 * The hand-made mutants of `deno task mutants` (scripts/mutants.ts): each replaces one exact, unique text
 * in one file with the slip a real change could make, and names the tests that must notice it. When code
 * moves or changes, update the text here (the runner reports a mutant whose text is gone as stale).
 *
 * @module
 */

/** One mutant. */
export interface Mutant {
  /** A short name. */
  readonly id: string;
  /** The file, relative to the repository. */
  readonly file: string;
  /** The exact text replaced (must occur once). */
  readonly from: string;
  /** What replaces it. */
  readonly to: string;
  /** The test files that guard it. */
  readonly tests: readonly string[];
  /** Only tests whose name matches (deno test --filter). */
  readonly filter?: string;
  /** What slip it stands for. */
  readonly why: string;
}

const GLOB_TESTS = ["tests/lib/glob_test.ts", "tests/lib/pattern_test.ts", "tests/lib/ignore_rules_test.ts"];
const FILES_TESTS = ["tests/lib/files_hostile_test.ts", "tests/tools/delegation_test.ts"];
const SESSIONS_TESTS = ["tests/lib/sessions_test.ts"];
const RACE_TESTS = "tests/lib/files_race_test.ts";

/** Every mutant, security- and durability-critical code first. */
export const MUTANTS: readonly Mutant[] = [
  // Path patterns (lib/glob.ts)
  {
    id: "glob-star-crosses-slash",
    file: "lib/pattern.ts",
    from: "if (unit !== SLASH) nextCount = addClosure(code, next, state, nextCount);",
    to: "nextCount = addClosure(code, next, state, nextCount);",
    tests: GLOB_TESTS,
    why: "`*` matches across folders",
  },
  {
    id: "glob-any-crosses-slash",
    file: "lib/pattern.ts",
    from: "if (unit !== SLASH) nextCount = addClosure(code, next, state + 1, nextCount);",
    to: "nextCount = addClosure(code, next, state + 1, nextCount);",
    tests: GLOB_TESTS,
    why: "`?` matches `/`",
  },
  {
    id: "glob-class-negation-ignored",
    file: "lib/pattern.ts",
    from: "inClass(code, at, unit) !== (code[at] === 1)",
    to: "inClass(code, at, unit)",
    tests: GLOB_TESTS,
    why: "`[!abc]` treated as `[abc]`",
  },
  {
    id: "glob-budget-not-charged",
    file: "lib/pattern.ts",
    from: "if (budget && (budget.steps -= count + visited) < 0) throw new BudgetExceededError();",
    to: "",
    tests: GLOB_TESTS,
    why: "matching work is not counted against the call's budget",
  },
  {
    id: "glob-closure-not-charged",
    file: "lib/pattern.ts",
    from: "if (budget && (budget.steps -= count + visited) < 0)",
    to: "if (budget && (budget.steps -= count) < 0)",
    tests: GLOB_TESTS,
    why: "states visited without reading are not charged: the budget under-counts the real work",
  },
  {
    id: "glob-globstar-runs-kept",
    file: "lib/pattern.ts",
    from: "if (i !== globstarEnd) {",
    to: "if (true) {",
    tests: GLOB_TESTS,
    why: "`**/**/…` keeps one loop per globstar: hundreds of live states per character",
  },
  {
    id: "glob-reversed-range-accepted",
    file: "lib/pattern.ts",
    from: 'if (options.syntax === "glob") throw new PatternError(pattern, `the range ${range} is reversed`);',
    to: "",
    tests: GLOB_TESTS,
    why: "an invalid range is silently accepted",
  },
  {
    id: "gitignore-invalid-line-drops-file",
    file: "lib/ignore_rules.ts",
    from: "if (!(error instanceof PatternError)) throw error;\n      remark(error.reason, false);",
    to: "if (error instanceof PatternError) throw error;\n      remark(error.reason, false);",
    tests: [...GLOB_TESTS, "tests/lib/files_hostile_test.ts"],
    why: "one invalid .gitignore line makes the whole file unusable",
  },
  {
    id: "gitignore-negation-lost",
    file: "lib/ignore_rules.ts",
    from: "return (rule.flags & NEGATE) === 0;",
    to: "return true;",
    tests: GLOB_TESTS,
    why: "`!keep.log` no longer re-includes",
  },
  {
    id: "gitignore-max-rules-dropped",
    file: "lib/ignore_rules.ts",
    from: "if (this.#rules.length >= MAX_IGNORE_RULES) {",
    to: "if (false) {",
    tests: GLOB_TESTS,
    why: "no bound on rules per .gitignore",
  },
  // Reading files (lib/files.ts)
  {
    id: "walk-no-gitignore",
    file: "lib/walk.ts",
    from: "(budget) => this.#ignored(path, entry.isDirectory, active, budget),",
    to: "() => false,",
    tests: FILES_TESTS,
    why: "the folder walk applies no .gitignore rules",
  },
  {
    id: "walk-no-ancestor-ignores",
    file: "lib/walk.ts",
    from: "const ancestors = await this.#ancestorIgnores(start);",
    to: "const ancestors: Ignore[] = [];",
    tests: FILES_TESTS,
    why: "the walk starts with no .gitignore rules from the folders above",
  },
  {
    id: "walk-hidden-read",
    file: "lib/walk.ts",
    from: 'if (entry.name.startsWith(".")) continue;',
    to: "",
    tests: FILES_TESTS,
    why: "hidden files and folders are read",
  },
  {
    id: "walk-oversized-gitignore-applied",
    file: "lib/walk.ts",
    from: "if (info.size > MAX_IGNORE_BYTES) {",
    to: "if (info.size > MAX_IGNORE_BYTES * 1024) {",
    tests: ["tests/lib/files_hostile_test.ts"],
    why: "a huge .gitignore is read",
  },
  {
    id: "walk-call-ignore-bytes-uncapped",
    file: "lib/walk.ts",
    from: "if (this.#ignoreBytes + info.size > MAX_CALL_IGNORE_BYTES) {",
    to: "if (false) {",
    tests: ["tests/lib/files_hostile_test.ts"],
    filter: "1 MiB hostile",
    why: "one call compiles any number of large .gitignore files",
  },
  {
    id: "walk-entry-slice-off",
    file: "lib/walk.ts",
    from: "const slice = Math.min(ENTRY_STEPS, this.#budget.steps);",
    to: "const slice = this.#budget.steps;",
    tests: ["tests/lib/files_hostile_test.ts"],
    filter: "slice",
    why: "one entry may use the whole call's budget in one synchronous stretch",
  },
  {
    id: "walk-depth-unbounded",
    file: "lib/walk.ts",
    from: "if (depth < MAX_DEPTH) stack.push",
    to: "if (depth < MAX_DEPTH * 4) stack.push",
    tests: ["tests/lib/files_hostile_test.ts"],
    why: "the depth cap no longer holds",
  },
  {
    id: "walk-never-yields",
    file: "lib/walk.ts",
    from: "if (performance.now() - this.#sliceStart < SLICE_MS) return;",
    to: "return;",
    tests: ["tests/lib/files_hostile_test.ts"],
    filter: "hostile .gitignore",
    why: "a walk holds the event loop until it ends",
  },
  {
    id: "frame-unescaped",
    file: "lib/files.ts",
    from: '<file path="${escapeAttribute(file.path)}">',
    to: '<file path="${file.path}">',
    tests: ["tests/lib/files_hostile_test.ts"],
    why: "file names go unescaped into the framing",
  },
  {
    id: "frame-text-not-neutralised",
    file: "lib/files.ts",
    from: "${neutraliseTags(file.text)}",
    to: "${file.text}",
    tests: ["tests/lib/files_hostile_test.ts"],
    why: "file text can forge a <file path=…> tag",
  },
  {
    id: "read-same-file-unchecked",
    file: "lib/files.ts",
    from: `if (roots && !isInside(real, roots)) return { reason: "a link to outside the allowed folders" };`,
    to: "",
    tests: ["tests/lib/files_hostile_test.ts"],
    filter: "readText",
    why: "a file swapped (or its folder) after the roots check is read anyway",
  },
  {
    id: "binary-not-sniffed",
    file: "lib/files.ts",
    from: 'if (bytes.subarray(0, SNIFF_BYTES).includes(0)) return { reason: "binary" };',
    to: "",
    tests: ["tests/tools/delegation_test.ts"],
    why: "binary files are sent as text",
  },
  {
    id: "files-cap-off",
    file: "lib/files.ts",
    from: "if (files.length >= maxFiles) {",
    to: "if (files.length >= maxFiles * 100) {",
    tests: ["tests/lib/files_hostile_test.ts"],
    why: "the files-per-call cap no longer holds",
  },
  // Issue 30: behaviour that new code could get wrong (each found by a test that failed with it)
  {
    id: "start-link-not-checked",
    file: "lib/files.ts",
    from: "if (roots && !isInside(await resolveReal(start), roots)) {",
    to: "if (false) {",
    tests: [RACE_TESTS],
    filter: "start folder",
    why: "a start folder linking out of the roots is walked (its names show up as skipped)",
  },
  {
    id: "start-link-not-resolved",
    file: "lib/files.ts",
    from: "if (roots && !isInside(await resolveReal(start), roots)) {",
    to: "if (roots && !isInside(start, roots)) {",
    tests: [RACE_TESTS],
    filter: "start folder",
    why: "the start folder is checked before its links are resolved",
  },
  {
    id: "read-handle-not-compared",
    file: "lib/files.ts",
    from:
      'if (!sameFile(await Deno.stat(real), info)) return { reason: "changed while it was read; pass it again" };',
    to: "",
    tests: [RACE_TESTS],
    filter: "swapped back inside",
    why: "a file opened outside the roots and swapped back before its path is resolved is read",
  },
  {
    id: "gitignore-swap-applied",
    file: "lib/walk.ts",
    from: 'if (!sameFile(await handle.stat(), info)) return { file, unusable: "changed while it was read" };',
    to: "",
    tests: [RACE_TESTS],
    filter: "swapped between its size check",
    why: "a .gitignore swapped between its size check and its open is applied",
  },
  {
    id: "total-per-file-only",
    file: "lib/files.ts",
    from: "if (chars + read.text.length > options.maxTotalChars) {",
    to: "if (read.text.length > options.maxTotalChars) {",
    tests: [RACE_TESTS],
    filter: "total per call",
    why: "the total per call ignores what was already read",
  },
  {
    id: "examined-cap-off-by-one",
    file: "lib/files.ts",
    from: "if (examined++ >= maxExamined) {",
    to: "if (examined++ > maxExamined) {",
    tests: [RACE_TESTS],
    filter: "stop at the cap",
    why: "the files-per-call cap opens one file more than it says",
  },
  {
    id: "gitignore-deeper-outranked",
    file: "lib/walk.ts",
    from: "const active = own.rules ? [...inherited, { dir, rules: own.rules }] : inherited;",
    to: "const active = own.rules ? [{ dir, rules: own.rules }, ...inherited] : inherited;",
    tests: [RACE_TESTS],
    filter: "precedence",
    why: "a deeper .gitignore ranks below its parents: its !keep no longer re-includes",
  },
  {
    id: "exclude-outranks-gitignore",
    file: "lib/walk.ts",
    from: "return exclude.rules ? [{ dir: top, rules: exclude.rules }, ...rules] : rules;",
    to: "return exclude.rules ? [...rules, { dir: top, rules: exclude.rules }] : rules;",
    tests: [RACE_TESTS],
    filter: "precedence",
    why: ".git/info/exclude ranks above .gitignore",
  },
  {
    id: "range-merge-shrinks",
    file: "lib/pattern.ts",
    from: "out[out.length - 1] = Math.max(out[out.length - 1]!, high);",
    to: "out[out.length - 1] = high;",
    tests: [RACE_TESTS],
    filter: "ranges",
    why: "a range nested in another (`[a-zb-c]`) shrinks the class",
  },
  {
    id: "range-one-char-reversed",
    file: "lib/pattern.ts",
    from: "if (high >= previous) ranges.push(previous, high);",
    to: "if (high > previous) ranges.push(previous, high);",
    tests: [RACE_TESTS],
    filter: "ranges",
    why: "a one-character range (`[a-a]`) is taken as reversed",
  },
  {
    id: "text-surrogates-split",
    file: "lib/pattern.ts",
    from: "if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {",
    to: "if (false) {",
    tests: [RACE_TESTS],
    filter: "globs:",
    why: "a character outside the basic plane is matched as two halves",
  },
  {
    id: "glob-pattern-utf16",
    file: "lib/pattern.ts",
    from: "if (glob) { for (const c of pattern) units.push(c.codePointAt(0)!); }",
    to: "if (false) { /* code points */ }",
    tests: [RACE_TESTS],
    filter: "globs:",
    why: "a glob is compiled in UTF-16 halves: an emoji in a class or a literal never matches",
  },
  // Containment (lib/is_inside.ts)
  {
    id: "inside-no-separator",
    file: "lib/is_inside.ts",
    from: "const prefix = root.endsWith(rules.sep) ? root : root + rules.sep;",
    to: "const prefix = root;",
    tests: ["tests/lib/is_inside_test.ts"],
    why: "a sibling folder `/home/me/proj-evil` counts as inside `/home/me/proj`",
  },
  {
    id: "inside-not-normalised",
    file: "lib/is_inside.ts",
    from: "const normal = rules.resolve(p);",
    to: "const normal = p;",
    tests: ["tests/lib/is_inside_test.ts"],
    why: "`..` segments escape the folder",
  },
  {
    id: "inside-case-folded-on-posix",
    file: "lib/is_inside.ts",
    from: "return windows ? normal.toLowerCase() : normal;",
    to: "return normal.toLowerCase();",
    tests: ["tests/lib/is_inside_test.ts"],
    why: "POSIX paths compared without case",
  },
  {
    id: "inside-link-not-resolved",
    file: "lib/is_inside.ts",
    from: "return await Deno.realPath(path);",
    to: "return resolve(path);",
    tests: ["tests/lib/is_inside_test.ts"],
    why: "symbolic links are not resolved before the check",
  },
  // Secrets (lib/redact.ts)
  {
    id: "redact-first-only",
    file: "lib/redact.ts",
    from: "out.replaceAll(secret, REDACTED)",
    to: "out.replace(secret, REDACTED)",
    tests: ["tests/lib/redact_test.ts"],
    why: "only the first occurrence of the key is hidden",
  },
  {
    id: "redact-stack-kept",
    file: "lib/redact.ts",
    from: "copy.stack = redact(error.stack ?? error.message);",
    to: "copy.stack = error.stack ?? error.message;",
    tests: ["tests/lib/redact_test.ts"],
    why: "a logged error's stack keeps the key",
  },
  // Chat history durability (lib/sessions.ts)
  {
    id: "sessions-synchronous-normal",
    file: "lib/sessions.ts",
    from: "PRAGMA synchronous = FULL;",
    to: "PRAGMA synchronous = NORMAL;",
    tests: SESSIONS_TESTS,
    why: "commits are not durable at once",
  },
  {
    id: "sessions-no-transaction",
    file: "lib/sessions.ts",
    from: "return transaction(this.#db, work);",
    to: "return work();",
    tests: SESSIONS_TESTS,
    why: "a chat turn is written without its transaction",
  },
  {
    id: "sessions-no-wal",
    file: "lib/sessions.ts",
    from: 'if (!memory) this.#db.exec("PRAGMA journal_mode = WAL");',
    to: "",
    tests: SESSIONS_TESTS,
    why: "the store is not in WAL mode",
  },
  // Framing and the guard
  {
    id: "framer-bound-off",
    file: "lib/line_framer.ts",
    from: "if (this.#size > this.#max) {",
    to: "if (this.#size > this.#max * 1024) {",
    tests: ["tests/lib/line_framer_test.ts"],
    why: "a line can grow without bound",
  },
  {
    id: "stdio-batch-unhandled",
    file: "transports/stdio.ts",
    from: "if (Array.isArray(value)) {",
    to: "if (false) {",
    tests: ["tests/e2e/stdio_test.ts"],
    why: "stdio batch handling removed",
  },
  // Network failures
  {
    id: "timeout-classifier-narrowed",
    file: "lib/net_failure.ts",
    from: 'test: /timed out|ETIMEDOUT|os error 110/i, reason: "connection timed out"',
    to: 'test: /ETIMEDOUT/, reason: "connection timed out"',
    tests: ["tests/lib/net_failure_test.ts"],
    why: "a timeout is no longer recognised",
  },
  // Inference and history
  {
    id: "history-ignores-max-tokens",
    file: "lib/context_budget.ts",
    from: "(window - maxTokens - MARGIN_TOKENS) * CHARS_PER_TOKEN - fixedChars",
    to: "(window - MARGIN_TOKENS) * CHARS_PER_TOKEN - fixedChars",
    tests: ["tests/tools/chat_budget_test.ts", "tests/lib/context_budget_test.ts"],
    why: "chat history budget ignores max_tokens",
  },
  {
    id: "ttft-at-last-token",
    file: "lib/inference.ts",
    from: "this.#firstTokenAt ??= now;",
    to: "this.#firstTokenAt = now;",
    tests: ["tests/lib/generation_timing_test.ts", "tests/tools/ask_test.ts"],
    why: "time to first token measured at the last token",
  },
  {
    id: "download-no-backoff",
    file: "lib/download.ts",
    from: "const delay = Math.min(options.intervalMs, firstDelay * 2 ** poll);",
    to: "const delay = options.intervalMs;",
    tests: ["tests/lib/download_test.ts", "tests/tools/fidelity_test.ts"],
    why: "download polling without backoff (always the long interval)",
  },
  {
    id: "download-backoff-never-grows",
    file: "lib/download.ts",
    from: "const delay = Math.min(options.intervalMs, firstDelay * 2 ** poll);",
    to: "const delay = firstDelay;",
    tests: ["tests/lib/download_test.ts", "tests/tools/fidelity_test.ts"],
    why: "download polling without backoff (always the first delay)",
  },
  {
    id: "prompts-cap-off",
    file: "tools/ask_input.ts",
    from: "export const MAX_ITEMS = 200;",
    to: "export const MAX_ITEMS = 20_000;",
    tests: ["tests/tools/ask_limits_test.ts"],
    why: "`prompts` without its 200-item cap",
  },
  {
    id: "images-cap-off",
    file: "tools/ask_input.ts",
    from: ".min(1).max(10)",
    to: ".min(1).max(1000)",
    tests: ["tests/tools/ask_limits_test.ts"],
    why: "`images` without its 10-image cap",
  },
  // HTTP access control (transports/http_access.ts)
  {
    id: "http-token-case-insensitive",
    file: "transports/http_access.ts",
    from: "await sameSecret(given, settings.token);",
    to: "await sameSecret(given.toLowerCase(), settings.token.toLowerCase());",
    tests: ["tests/transports/http_access_test.ts"],
    why: "the bearer token compared case-insensitively",
  },
  {
    id: "http-origin-prefix",
    file: "transports/http_access.ts",
    from: "!settings.allowedOrigins.includes(origin)",
    to: "!settings.allowedOrigins.some((allowed) => origin.startsWith(allowed))",
    tests: ["tests/transports/http_access_test.ts"],
    why: "an Origin accepted by prefix instead of equality",
  },
  {
    id: "http-host-port-rewritten",
    file: "transports/http_access.ts",
    from: 'hosts.add(/:\\d+$/.test(bare) && !bare.endsWith("]") ? bare : `${bare}:${port}`);',
    to: 'hosts.add(`${bare.replace(/:\\d+$/, "")}:${port}`);',
    tests: ["tests/transports/http_access_test.ts"],
    why: "the Host check rewrites the port",
  },
];
