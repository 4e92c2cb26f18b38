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
  // Delegation at LM Studio's defaults: the KV ledger, the overflow retry, sizing, packing
  {
    id: "ledger-ignores-tokens",
    file: "lib/kv_ledger.ts",
    from: "return this.#inFlight < this.#slots && this.#used + waiter.tokens <= this.#capacity;",
    to: "return this.#inFlight < this.#slots;",
    tests: ["tests/lib/kv_ledger_test.ts", "tests/tools/overflow_test.ts"],
    why: "the ledger admits a request whatever the shared cache holds",
  },
  {
    id: "ledger-alone-not-exclusive",
    file: "lib/kv_ledger.ts",
    from: "if (this.#exclusive || waiter.alone) return false;",
    to: "if (waiter.alone) return false;",
    tests: ["tests/lib/kv_ledger_test.ts"],
    why: "a request retried alone lets others start beside it",
  },
  {
    id: "ledger-per-call",
    file: "lib/kv_ledger.ts",
    from: "  let ledger = ledgers.get(id);\n  if (ledger) {",
    to: "  let ledger = ledgers.get(id);\n  if (ledger && false) {",
    tests: ["tests/lib/kv_ledger_test.ts", "tests/tools/overflow_test.ts"],
    why: "each use gets its own ledger: calls of one process no longer share the cache's account",
  },
  {
    id: "overflow-never-retried",
    file: "lib/admission.ts",
    from:
      "if (!isSharedOverflow(error) || tooLarge || attempt >= OVERFLOW_RETRIES || options.signal?.aborted) {",
    to: "if (true) {",
    tests: ["tests/lib/admission_test.ts", "tests/tools/overflow_test.ts"],
    why: "a shared-cache overflow caused by others fails the request",
  },
  {
    id: "overflow-retry-not-alone",
    file: "lib/admission.ts",
    from: "alone: attempt > 0,",
    to: "alone: false,",
    tests: ["tests/lib/admission_test.ts"],
    why: "the retry after a shared overflow runs beside others again",
  },
  {
    id: "overflow-retry-too-large",
    file: "lib/admission.ts",
    from: "const tooLarge = instance !== undefined && tokens > instance.context;",
    to: "const tooLarge = false;",
    tests: ["tests/lib/admission_test.ts"],
    why: "a request too large on its own is retried in vain",
  },
  {
    id: "cjk-three-per-token",
    file: "lib/tokens.ts",
    from: "if (isDense(c)) dense++;",
    to: "if (isDense(c)) other++;",
    tests: ["tests/lib/tokens_test.ts", "tests/tools/packing_test.ts"],
    filter: "/tokens|Chinese/",
    why: "Chinese, Japanese and Korean sized at 3 characters per token",
  },
  {
    id: "delegated-max-tokens-whole",
    file: "lib/context_budget.ts",
    from: "Math.min(DEFAULT_MAX_TOKENS, Math.floor(context / 4))",
    to: "DEFAULT_MAX_TOKENS",
    tests: ["tests/lib/context_budget_test.ts", "tests/tools/packing_test.ts"],
    filter: "/delegatedMaxTokens|quarter/",
    why: "delegated work keeps 2,048 tokens per answer at any context",
  },
  {
    id: "sizing-first-instance",
    file: "lib/context_budget.ts",
    from: "all.reduce((smallest, i) => i.context < smallest.context ? i : smallest);",
    to: "all[0]!;",
    tests: ["tests/lib/context_budget_test.ts", "tests/tools/packing_test.ts"],
    filter: "/sizingInstance|smallest/",
    why: "requests sized to the first loaded instance, not the smallest",
  },
  {
    id: "load-no-step-down",
    file: "tools/ask_load.ts",
    from: "if (!isMemoryRefusal(error) || asked <= FLOOR || tries >= MAX_LOAD_TRIES) {",
    to: "if (true) {",
    tests: ["tests/tools/packing_test.ts"],
    filter: "memory",
    why: "a load refused for lack of memory is not tried smaller",
  },
  {
    id: "split-drops-last-line",
    file: "lib/packing.ts",
    from: "  flush(lines.length - 1);\n  return pieces;",
    to: "  return pieces;",
    tests: ["tests/lib/packing_test.ts"],
    why: "the last part of a split file is lost",
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
