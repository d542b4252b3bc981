/**
 * Runs a command in a lab VM through the shell its /init keeps on the second serial port
 * (QEMU exposes it as a unix socket): writes the command between two marker echos and reads
 * until the end marker with the exit status. One command at a time per socket (the caller's
 * job). `parseShellOutput` is pure (tty output: CR LF, possibly the command echoed back).
 * Shell (I/O).
 */
import { connect } from "node:net";
import { TabbyError } from "../errors.js";

export interface ShellResult {
  code: number;
  output: string;
}

/** The output between the start marker line and the end marker line, and the status. Pure. */
export function parseShellOutput(text: string, mark: string): ShellResult | undefined {
  const lines = text.replace(/\r/g, "").split("\n");
  // a line may begin with the shell's prompt (printed before the command's output)
  const start = lines.findIndex((l) => l.endsWith(`${mark}-start`));
  if (start < 0) return undefined;
  for (let i = start + 1; i < lines.length; i++) {
    const m = new RegExp(`${mark}-end (\\d+)$`).exec(lines[i]!);
    if (m) return { code: Number(m[1]), output: lines.slice(start + 1, i).join("\n") };
  }
  return undefined;
}

/** A tty in canonical mode takes input lines of at most 4095 bytes (and waits forever for the rest). */
export const MAX_COMMAND_BYTES = 3900;

export function vmShell(socket: string, command: string, timeoutMs = 30_000): Promise<ShellResult> {
  if (Buffer.byteLength(command) > MAX_COMMAND_BYTES || command.includes("\n")) {
    return Promise.reject(
      new TabbyError("LAB_VM_SHELL", `a command for the VM shell must be one line of at most ${MAX_COMMAND_BYTES} bytes (the serial tty's limit)`),
    );
  }
  const mark = `__tabby${process.pid}x${Math.floor(Math.random() * 1e9)}`;
  return new Promise((resolve, reject) => {
    const s = connect(socket);
    let text = "";
    const timer = setTimeout(() => {
      s.destroy();
      reject(new TabbyError("LAB_VM_SHELL", `no answer from the VM shell at ${socket} within ${timeoutMs} ms`, { output: text.slice(-500) }));
    }, timeoutMs);
    s.setEncoding("utf8");
    s.on("data", (d: string) => {
      text += d;
      const r = parseShellOutput(text, mark);
      if (r) {
        clearTimeout(timer);
        s.destroy();
        resolve(r);
      }
    });
    s.on("error", (e) => {
      clearTimeout(timer);
      reject(new TabbyError("LAB_VM_SHELL", `cannot reach the VM shell at ${socket}: ${e.message}`));
    });
    // the markers are printed with printf so that an echoed command line never matches them
    s.write(`printf '%s-start\\n' ${mark}; ${command}; printf '%s-end %d\\n' ${mark} $?\n`);
  });
}
