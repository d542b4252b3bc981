/**
 * Delegated IPAM (CNI spec 1.0 "Delegated plugins"): a plugin whose `ipam.type` is not tabby-ipam
 * is found in CNI_PATH and executed with the same environment and network configuration; its stdout
 * is the result or the error.
 */
import { spawn } from "node:child_process";
import { access, constants } from "node:fs/promises";
import { join } from "node:path";
import type { CniCommand, CniEnv, NetConf } from "./config.js";
import { CNI_ERR, CniError } from "./errors.js";
import { parseResult, type CniResult } from "./result.js";

export type DelegateIpam = (command: CniCommand, conf: NetConf, env: CniEnv) => Promise<CniResult | undefined>;

async function findPlugin(type: string, path: string[]): Promise<string> {
  if (!/^[A-Za-z0-9_.-]+$/.test(type)) throw new CniError(CNI_ERR.INVALID_CONFIG, `ipam.type ${JSON.stringify(type)} is not a plugin name`);
  for (const dir of path) {
    const file = join(dir, type);
    try {
      await access(file, constants.X_OK);
      return file;
    } catch {
      /* next */
    }
  }
  throw new CniError(CNI_ERR.INVALID_CONFIG, `IPAM plugin ${type} not found in CNI_PATH (${path.join(":")})`);
}

export const execDelegateIpam: DelegateIpam = async (command, conf, env) => {
  const file = await findPlugin(conf.ipam!.type, env.path);
  const childEnv = {
    ...process.env,
    CNI_COMMAND: command,
    CNI_CONTAINERID: env.containerId,
    CNI_NETNS: env.netns,
    CNI_IFNAME: env.ifname,
    CNI_ARGS: env.args,
    CNI_PATH: env.path.join(":"),
  };
  const { code, stdout } = await new Promise<{ code: number; stdout: string }>((resolve, reject) => {
    const child = spawn(file, [], { env: childEnv, stdio: ["pipe", "pipe", "inherit"] });
    const out: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.on("error", reject);
    child.on("close", (c) => resolve({ code: c ?? 1, stdout: Buffer.concat(out).toString("utf8") }));
    child.stdin.on("error", () => {});
    child.stdin.end(JSON.stringify(conf.raw));
  });
  if (code !== 0) {
    let e: { code?: number; msg?: string } = {};
    try {
      e = JSON.parse(stdout) as typeof e;
    } catch {
      /* not JSON */
    }
    throw new CniError(typeof e.code === "number" ? e.code : CNI_ERR.IO_FAILURE, `IPAM plugin ${conf.ipam!.type} ${command} failed: ${e.msg ?? stdout.trim()}`);
  }
  if (command !== "ADD") return undefined;
  try {
    return parseResult(JSON.parse(stdout));
  } catch (err) {
    if (err instanceof CniError) throw err;
    throw new CniError(CNI_ERR.DECODING_FAILURE, `IPAM plugin ${conf.ipam!.type} printed no JSON result`);
  }
};
