/**
 * Writes a chat history database in the layout of `mcp-llm-studio` 3.1.5 (read from its published npm package):
 * one `sessions` table, one row per message, ordered by rowid.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { dirname } from "node:path";

/** One row: session id, role, content, created_at (epoch ms). */
export type ReferenceRow = readonly [
  id: string,
  role: "system" | "user" | "assistant",
  content: string,
  at: number,
];

/**
 * Creates the file (and its folder) with the reference's schema and rows.
 *
 * @param path Where to write
 * @param rows The messages, in insertion order
 */
export async function writeReferenceDb(path: string, rows: readonly ReferenceRow[]): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  const db = new DatabaseSync(path);
  db.exec(`CREATE TABLE sessions (id TEXT NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL,
    created_at INTEGER NOT NULL); CREATE INDEX idx_sessions_id ON sessions(id);`);
  const insert = db.prepare("INSERT INTO sessions VALUES (?, ?, ?, ?)");
  for (const row of rows) insert.run(...row);
  db.close();
}
