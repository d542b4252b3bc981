/**
 * Entry for the CNI plugins when run by a container runtime (placeholder until the CNI
 * plugin lands; replaced by src/cni/).
 */
export async function runCniPlugin(_name: "tabby" | "tabby-ipam"): Promise<number> {
  process.stdout.write(JSON.stringify({ cniVersion: "1.0.0", code: 4, msg: "tabby CNI plugin not built yet" }) + "\n");
  return 1;
}
