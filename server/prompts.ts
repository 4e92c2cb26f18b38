/**
 * MCP prompts: a few slash commands a person can invoke (in Claude Code: `/mcp__lmstudio__review`), each
 * expanding to instructions for the assistant to call `ask` or `chat` so the local model does the work.
 * Model keys and session ids complete as the person types (`completion/complete`).
 *
 * @module
 */
import { z } from "zod";
import { completable, type McpServer, type RegisteredPrompt } from "./sdk.ts";
import { onePage } from "./one_page.ts";
import type { Deps } from "./deps.ts";

/** At most this many completion values (the MCP spec's limit per reply). */
const MAX_COMPLETIONS = 100;

/**
 * Registers the prompts.
 *
 * @param server The server
 * @param deps LM Studio (for model keys) and the session store (for session ids)
 */
export function registerPrompts(server: McpServer, deps: Deps): void {
  const modelKeys = async (value: string): Promise<string[]> => {
    try {
      const models = await deps.client.catalog();
      return matching(models.filter((m) => m.type === "llm").map((m) => m.key), value);
    } catch {
      return []; // LM Studio is down: no suggestions; the tool call will say why.
    }
  };
  const sessionIds = (value: string | undefined): string[] => {
    try {
      return matching(deps.sessions().list(500, 0).map((s) => s.id), value ?? "");
    } catch {
      return [];
    }
  };
  const model = completable(z.string().describe("Model key from model_list"), modelKeys);

  const review = server.registerPrompt("review", {
    title: "Review with a local model",
    description: "Have a local model review files or a diff; you get its findings, not the files",
    argsSchema: {
      model,
      files: z.string().describe("Paths, folders or globs, separated by spaces (e.g. src/**/*.ts)"),
      focus: z.string().optional().describe("What to look for (default: bugs, risks, unclear code)"),
    },
  }, ({ model, files, focus }) =>
    say(
      `Use the lmstudio ask tool to have a local model review code, without reading the files yourself:\n` +
        call("ask", {
          model,
          files: split(files),
          prompt: `Review these files. Focus on ${focus?.trim() || "bugs, risks and unclear code"}. ` +
            "Cite file paths and quote the lines you mean. Be concise; say so if you find nothing.",
        }) +
        "\nThe server reads every file, in several requests merged into one answer when they do not fit one. " +
        "Then report the findings to me, checking any you doubt.",
    ));

  const summarizeFolder = server.registerPrompt("summarize-folder", {
    title: "Summarise a folder with a local model",
    description: "A local model reads every text file of a folder and summarises it (map, then reduce)",
    argsSchema: {
      model,
      folder: z.string().describe("The folder (hidden and .gitignored files are skipped)"),
    },
  }, ({ model, folder }) =>
    say(
      "Use the lmstudio ask tool so a local model reads the folder for you, one file per request:\n" +
        call("ask", {
          model,
          files: [folder],
          each: true,
          prompt: "Summarise this file in two or three sentences: its purpose and its main parts.",
          combine: "From these per-file summaries, write a short overview of the folder: what it is for, " +
            "how its parts fit together, and where to start reading.",
        }) +
        "\nShow me the overview, then the files it read and skipped.",
    ));

  const secondOpinion = server.registerPrompt("second-opinion", {
    title: "Second opinion from a local model",
    description: "Ask a local model to check an answer or a plan; pass session_id to keep a thread",
    argsSchema: {
      model,
      question: z.string().describe("The question, with the answer or plan to check"),
      session_id: completable(
        z.string().describe("A chat session to continue (chat action=list shows them)"),
        sessionIds,
      ).optional(),
    },
  }, ({ model, question, session_id }) =>
    say(
      (session_id
        ? "Use the lmstudio chat tool (the session keeps the earlier exchanges):\n" +
          call("chat", {
            session_id,
            model,
            message: `Give a second opinion. Point out mistakes, gaps and better options:\n\n${question}`,
          })
        : "Use the lmstudio ask tool:\n" +
          call("ask", {
            model,
            prompt: `Give a second opinion. Point out mistakes, gaps and better options:\n\n${question}`,
          })) +
        "\nThen tell me where it agrees, where it differs, and what you make of the differences.",
    ));
  // The SDK installed its prompts/list with the first prompt; ours answers the same list in one page.
  const prompts = { review, "summarize-folder": summarizeFolder, "second-opinion": secondOpinion };
  server.server.setRequestHandler(
    "prompts/list",
    onePage("prompts/list", () => ({ prompts: listed(prompts) })),
  );
}

/** The prompts as `prompts/list` shows them: fixed for the process, so built once. */
let cachedList: ListedPrompt[] | undefined;

/** One entry of `prompts/list`. */
interface ListedPrompt {
  readonly name: string;
  readonly title?: string | undefined;
  readonly description?: string | undefined;
  readonly arguments: { name: string; description?: string | undefined; required: boolean }[];
}

function listed(prompts: Record<string, RegisteredPrompt>): ListedPrompt[] {
  return cachedList ??= Object.entries(prompts).map(([name, prompt]) => {
    const schema = prompt.argsSchema
      ? z.toJSONSchema(prompt.argsSchema as unknown as z.ZodType, { io: "input" }) as {
        properties?: Record<string, { description?: string }>;
        required?: string[];
      }
      : {};
    return {
      name,
      title: prompt.title,
      description: prompt.description,
      arguments: Object.entries(schema.properties ?? {}).map(([arg, property]) => ({
        name: arg,
        description: property.description,
        required: schema.required?.includes(arg) ?? false,
      })),
    };
  });
}

function matching(values: readonly string[], prefix: string): string[] {
  const lower = prefix.toLowerCase();
  return values.filter((v) => v.toLowerCase().includes(lower)).slice(0, MAX_COMPLETIONS);
}

function split(paths: string): string[] {
  return paths.split(/[\s,]+/).filter(Boolean);
}

function call(tool: string, args: Record<string, unknown>): string {
  return `${tool} ${JSON.stringify(args, null, 2)}`;
}

function say(text: string): { messages: { role: "user"; content: { type: "text"; text: string } }[] } {
  return { messages: [{ role: "user", content: { type: "text", text } }] };
}
