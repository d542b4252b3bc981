/**
 * Where the agent reads BGP passwords without Kubernetes: Calico's `password.secretKeyRef
 * {name, key}` (BGPPeer) and `nodeMeshPassword` (BGPConfiguration) name a Secret and a key in
 * it; tabby reads the file `<dir>/<name>/<key>` (the layout of a Kubernetes Secret mounted as a
 * volume, one directory per Secret). One trailing newline is dropped (files written with echo).
 * A name or key that is not a plain file name, a missing, unreadable, empty or world-
 * accessible file is an error with the reason: the peering is refused, never opened without it.
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { SecretLookup } from "../calc/bgp-peers.js";

export const DEFAULT_SECRETS_DIR = "/etc/tabby/secrets";

/** A Secret name (DNS-1123 subdomain) and a Secret key ([-._a-zA-Z0-9]+, not . or ..). */
const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const KEY = /^[-._a-zA-Z0-9]+$/;

export function fileSecrets(dir: string): SecretLookup {
  return (ref) => {
    if (!NAME.test(ref.name)) return { error: `secret name ${JSON.stringify(ref.name)} is not a valid Secret name` };
    if (!KEY.test(ref.key) || ref.key === "." || ref.key === "..") return { error: `secret key ${JSON.stringify(ref.key)} is not a valid Secret key` };
    const path = join(dir, ref.name, ref.key);
    try {
      const st = statSync(path);
      if (!st.isFile()) return { error: `${path} is not a file` };
      if ((st.mode & 0o007) !== 0) return { error: `${path} is open to other users (mode ${(st.mode & 0o777).toString(8)}); make it 0600 or 0640` };
      let value = readFileSync(path, "utf8");
      if (value.endsWith("\n")) value = value.slice(0, -1);
      if (value === "") return { error: `${path} is empty` };
      return { value };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return { error: code === "ENOENT" ? `${path} does not exist` : `cannot read ${path}: ${(err as Error).message}` };
    }
  };
}
