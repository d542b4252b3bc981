/**
 * Docker's plugin protocol as tabby's driver answers it: JSON bodies, and errors as
 * `{"Err": message}` (dockerd shows the message to the user). Pure.
 */
import { TabbyError } from "../errors.js";

/** An error answered to dockerd as `{"Err": message}`. */
export class DockerPluginError extends TabbyError {}

export const bad = (msg: string, details?: Record<string, unknown>) => new DockerPluginError("CNI_DOCKER_BAD_REQUEST", msg, details);

export type Body = Record<string, unknown>;
export const str = (b: Body, k: string): string => {
  const v = b[k];
  if (typeof v !== "string" || !v) throw bad(`${k} is required`);
  return v;
};
export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The answer to an error: dockerd reads `Err`. */
export function errorBody(e: unknown): { Err: string } {
  return { Err: e instanceof Error ? e.message : String(e) };
}
