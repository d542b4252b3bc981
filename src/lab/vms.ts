/**
 * `tabby lab up --vms N` (issue 20): N small VMs per host, each a QEMU guest on a tap in its
 * host's namespace, plugged in the way an operator would plug a VM without OpenStack: the lab
 * makes the tap (`ip tuntap`, up), runs `tabby workload add` for it (IPAM addresses, the
 * WorkloadEndpoint with the tap and the VM's MAC, labels `app: vm<j>`, `host`, `kind: vm`), and
 * starts QEMU under `nsenter --net` to attach to the tap (qemu.ts; KVM when it works, accel.ts).
 * The guest learns its addresses from the host's agent by DHCP, RA and DHCPv6 (src/dhcp), and
 * answers the lab's TCP probes with busybox nc (init-script.ts). `lab check` probes from a VM
 * through its serial shell (`probeFromVm`). Processes are recorded by pid (role `vm`) for
 * `lab down`. Shell (I/O).
 */
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { TabbyError } from "../errors.js";
import { addWorkloadTo } from "../vm/workload-store.js";
import type { Store } from "../datastore/store.js";
import { buildInitramfs, vmKernel } from "../vm/initramfs.js";
import { READY_MARK } from "../vm/init-script.js";
import { qemuArgs, vmMac } from "../vm/qemu.js";
import { KVM_PROBE_FILE, vmAccelCached } from "../vm/accel.js";
import { vmShell } from "../vm/serial-shell.js";
import { LAB_NAMESPACE, TCP_PORTS } from "./plan.js";
import { ipIn, labEffects, type LabEffects } from "./sh.js";
import { LAB_ROOT, writeLabState, type LabState, type LabWorkload } from "./state.js";
import type { ProbeResult, ProbeTarget } from "./probe.js";

/** The tap of VM `j` on host `host` ("taph1vm1"; at most 15 characters). */
export function vmTap(host: string, j: number): string {
  const name = `tap${host}vm${j}`;
  if (name.length > 15) throw new TabbyError("LAB_BAD_SHAPE", `VM tap name ${name} is longer than 15 characters`);
  return name;
}

export function vmLabels(host: string, j: number): Record<string, string> {
  return { app: `vm${j}`, host, kind: "vm" };
}

/** Boots `perHost` VMs on every host of a lab whose agents run; returns when every VM has its addresses. */
export async function startLabVms(state: LabState, store: Store, perHost: number, say: (l: string) => void, fx: LabEffects = labEffects()): Promise<void> {
  if (perHost <= 0) return;
  const kernel = vmKernel();
  const initrd = join(state.dir, "vm-initrd.gz");
  buildInitramfs(kernel, initrd, TCP_PORTS);
  // the KVM probe's verdict is kept in the lab root (a tmpfs: a reboot probes again)
  const { accel, cached } = await vmAccelCached(process.env, { kernel: kernel.image, initrd }, join(LAB_ROOT, KVM_PROBE_FILE));
  const how = cached ? ` (kept verdict, ${join(LAB_ROOT, KVM_PROBE_FILE)}; TABBY_LAB_VM_ACCEL=probe probes again)` : "";
  say(`vms: kernel ${kernel.release}, initramfs ${initrd} (busybox, dhcpcd), QEMU with ${accel === "kvm" ? "KVM" : "TCG (KVM not usable here)"}${how}`);
  const started: LabWorkload[] = [];
  for (const [hi, h] of state.plan.hosts.entries()) {
    for (let j = 1; j <= perHost; j++) {
      const name = `${h.name}-vm${j}`;
      const tap = vmTap(h.name, j);
      const mac = vmMac(hi + 1, j);
      await ipIn(fx.runner, h.netns, "tuntap", "add", "dev", tap, "mode", "tap");
      await ipIn(fx.runner, h.netns, "link", "set", tap, "up");
      const added = await addWorkloadTo(
        store,
        {
          interface: tap,
          name,
          namespace: LAB_NAMESPACE,
          labels: Object.entries(vmLabels(h.name, j))
            .map(([k, v]) => `${k}=${v}`)
            .join(","),
          mac,
          orchestrator: "libvirt",
          node: h.name,
        },
        process.env,
      );
      const shell = join(state.dir, `${name}.shell`);
      const console = join(state.dir, `${name}.console`);
      // the lab's one process supervisor; nsenter (a path, not `ip netns exec`): QEMU needs the network namespace only
      const proc = await fx.supervisor.start({
        role: "vm",
        name,
        cmd: "qemu-system-x86_64",
        args: qemuArgs({ name, kernel: kernel.image, initrd, tap, mac, console, shell, accel }),
        netns: `/run/netns/${h.netns}`,
        log: join(state.dir, `${name}.qemu.log`),
        marker: shell,
      });
      state.processes.push(proc);
      const w: LabWorkload = { name, host: h.name, netns: h.netns, interface: tap, kind: "vm", shell, console };
      for (const a of added.addresses) {
        if (a.includes(":")) w.ipv6 = a;
        else w.ipv4 = a;
      }
      state.workloads.push(w);
      started.push(w);
      writeLabState(state);
    }
  }
  await Promise.all(started.map((w) => waitReady(w, state)));
  for (const w of started) say(`vm ${w.name} on ${w.host}: ${w.ipv4 ?? "-"} ${w.ipv6 ?? "-"} by DHCP/DHCPv6 (${w.interface})`);
}

/** Waits for the VM's ready line; the addresses it shows must be the ones IPAM gave (by DHCP). */
async function waitReady(w: LabWorkload, state: LabState, timeoutMs = 240_000): Promise<void> {
  const proc = state.processes.find((p) => p.role === "vm" && p.name === w.name)!;
  for (let t = 0; t < timeoutMs; t += 500) {
    const text = existsSync(w.console!) ? readFileSync(w.console!, "utf8") : "";
    const line = text.split("\n").find((l) => l.startsWith(READY_MARK));
    if (line) {
      const want = [w.ipv4 && `${w.ipv4}/32`, w.ipv6 && `${w.ipv6}/128`].filter(Boolean) as string[];
      const missing = want.filter((a) => !line.includes(a));
      if (missing.length) throw new TabbyError("LAB_VM_ADDRESS", `VM ${w.name} came up without ${missing.join(", ")} (its console says: ${line.trim()})`);
      return;
    }
    if (!existsSync(`/proc/${proc.pid}`))
      throw new TabbyError("LAB_VM_FAILED", `VM ${w.name} (QEMU pid ${proc.pid}) exited; see ${join(state.dir, `${w.name}.qemu.log`)} and ${w.console}`);
    await sleep(500);
  }
  throw new TabbyError("LAB_TIMEOUT", `VM ${w.name} did not get its addresses within ${timeoutMs / 1000} s; its console: ${w.console}`);
}

/** The longest command sent to a VM's shell (a tty in canonical mode takes lines of 4095 bytes). */
const MAX_SHELL_LINE = 3000;

/** The busybox commands that probe `t` from inside a VM, printing "R" when reached. Pure. */
export function vmProbeCommand(t: ProbeTarget): string {
  const fam = t.family === 6 ? "-6" : "-4";
  if (t.protocol === "icmp")
    return `{ ping ${fam} -c 1 -W 3 ${t.address} >/dev/null 2>&1 || ping ${fam} -c 1 -W 3 ${t.address} >/dev/null 2>&1; } && echo R || echo U`;
  const accept = (t.accept ?? [t.name]).map((n) => `"${n}"`).join(" ");
  return `a=$(nc -w 4 ${t.address} ${t.port} </dev/null 2>/dev/null | tr -d '\\r\\n'); r=U; for n in ${accept}; do [ "$a" = "$n" ] && r=R; done; echo "$r $a"`;
}

/**
 * `lab check` from a VM: every target at once, as background jobs of one command through the
 * VM's serial shell (each prints "<index> R|U [answer]"), then the results in target order.
 */
export async function probeFromVm(w: LabWorkload, targets: ProbeTarget[]): Promise<ProbeResult[]> {
  if (!w.shell) throw new TabbyError("LAB_VM_SHELL", `workload ${w.name} is not a VM`);
  if (!targets.length) return [];
  // One line per command (an interactive shell prints continuation prompts into the output
  // otherwise), each under the tty's 4096-byte line limit: the jobs go in batches.
  const jobs = targets.map((t, i) => `( r=$(${vmProbeCommand(t)}); echo "${i} $r" ) &`);
  const batches: string[][] = [[]];
  for (const j of jobs) {
    const cur = batches[batches.length - 1]!;
    if (cur.length && cur.join(" ").length + j.length > MAX_SHELL_LINE) batches.push([j]);
    else cur.push(j);
  }
  const lines = new Map<number, string[]>();
  for (const b of batches) {
    const r = await vmShell(w.shell, `{ ${b.join(" ")} wait; } 2>/dev/null`, 120_000);
    for (const l of r.output.split("\n")) {
      const [i, ...rest] = l.trim().split(/\s+/);
      if (i !== undefined && /^\d+$/.test(i)) lines.set(Number(i), rest);
    }
  }
  return targets.map((t, i) => {
    const [verdict, ...answer] = lines.get(i) ?? [];
    const reached = verdict === "R";
    return {
      ...t,
      reached,
      ...(!reached && t.protocol === "tcp" ? { error: answer.length ? `answered as ${JSON.stringify(answer.join(" "))}` : "no answer" } : {}),
      ...(verdict === undefined ? { error: "no result from the VM" } : {}),
    };
  });
}
