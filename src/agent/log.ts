/** A small structured logger: one JSON object per line on stderr, with a level threshold. */
export type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Logger = (level: Level, msg: string, fields?: Record<string, unknown>) => void;

export function jsonLogger(min: Level = "info", out: NodeJS.WritableStream = process.stderr, base: Record<string, unknown> = {}): Logger {
  return (level, msg, fields) => {
    if (ORDER[level] < ORDER[min]) return;
    out.write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...base, ...fields }) + "\n");
  };
}
