/**
 * A random (version 4) UUID for a resource's metadata.uid, from the kernel's
 * /proc/sys/kernel/random/uuid: the CNI plugins would otherwise load node:crypto (~7 ms of a
 * process whose whole life is ~100 ms) for one call. node:crypto where /proc has none.
 */
import { readFileSync } from "node:fs";

export async function randomUid(): Promise<string> {
  try {
    const uuid = readFileSync("/proc/sys/kernel/random/uuid", "utf8").trim();
    if (/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(uuid)) return uuid;
  } catch {
    /* not Linux, or no /proc */
  }
  return (await import("node:crypto")).randomUUID();
}
