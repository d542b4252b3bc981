/**
 * The contract of one CLI command: a module under src/cli/ exporting `run`. Commands are loaded
 * lazily by main.ts so that `tabby` starts fast whatever the verb.
 */
export interface CliIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

/** Runs the command with the arguments after its verb; resolves to the exit code. */
export type CommandRun = (argv: string[], io: CliIO) => Promise<number>;

export interface CommandModule {
  run: CommandRun;
}

/** A usage error (bad arguments or options): main prints the message, exit code 2 (docs/cli.md). */
export class UsageError extends Error {
  readonly code = "CLI_USAGE";
}
