/**
 * What main.ts knows about the command it is running, for the shared helpers that need it (the
 * datastore flag: whether the command only reads, where to say which datastore it used). Kept
 * apart from datastore-flag.ts so that main.ts loads no datastore code for commands that use none.
 */
export interface CommandContext {
  /** "get", "node run"... */
  command: string;
  /** "read": never create a database; "write" or undefined: create a missing SQLite file. */
  access: "read" | "write" | undefined;
  stderr: NodeJS.WritableStream;
}

let current: CommandContext | undefined;

/** Set by main.ts before it runs a command; unset in in-process tests of one module. */
export function setCommandContext(c: CommandContext | undefined): void {
  current = c;
}

export function commandContext(): CommandContext | undefined {
  return current;
}
