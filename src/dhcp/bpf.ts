/**
 * The classic BPF program (Linux Documentation/networking/filter.rst) the responder's packet
 * socket carries, so that the kernel hands it only requests: IPv4 UDP to port 67 (unfragmented),
 * IPv6 ICMPv6 router solicitations and IPv6 UDP to port 547 (no extension headers). Offsets are
 * from the network header (a cooked SOCK_DGRAM socket); the EtherType is read with the
 * SKF_AD_PROTOCOL ancillary load. Pure: the instructions as bytes (struct sock_filter).
 */

export interface BpfInsn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

const LD_H_ABS = 0x28;
const LD_B_ABS = 0x30;
const LD_H_IND = 0x48;
const LDX_B_MSH = 0xb1;
const JEQ_K = 0x15;
const JSET_K = 0x45;
const RET_K = 0x06;
const SKF_AD_PROTOCOL = 0xfffff000;

/** The filter; `accept` is the snap length returned for a matching packet. */
export function requestFilter(accept = 0x40000): BpfInsn[] {
  // Assembled with labels: [code, k, trueLabel?, falseLabel?]
  type Step = { label?: string; code: number; k: number; t?: string; f?: string };
  const prog: Step[] = [
    { code: LD_H_ABS, k: SKF_AD_PROTOCOL },
    { code: JEQ_K, k: 0x0800, t: "v4", f: "not4" },
    { label: "not4", code: JEQ_K, k: 0x86dd, t: "v6", f: "drop" },
    { label: "v4", code: LD_B_ABS, k: 9 },
    { code: JEQ_K, k: 17, t: "v4udp", f: "drop" },
    { label: "v4udp", code: LD_H_ABS, k: 6 },
    { code: JSET_K, k: 0x1fff, t: "drop", f: "v4port" },
    { label: "v4port", code: LDX_B_MSH, k: 0 },
    { code: LD_H_IND, k: 2 },
    { code: JEQ_K, k: 67, t: "accept", f: "drop" },
    { label: "v6", code: LD_B_ABS, k: 6 },
    { code: JEQ_K, k: 58, t: "icmp6", f: "udp6" },
    { label: "udp6", code: JEQ_K, k: 17, t: "udp6port", f: "drop" },
    { label: "udp6port", code: LD_H_ABS, k: 42 },
    { code: JEQ_K, k: 547, t: "accept", f: "drop" },
    { label: "icmp6", code: LD_B_ABS, k: 40 },
    { code: JEQ_K, k: 133, t: "accept", f: "drop" },
    { label: "drop", code: RET_K, k: 0 },
    { label: "accept", code: RET_K, k: accept },
  ];
  const at = new Map(prog.flatMap((s, i) => (s.label ? [[s.label, i] as const] : [])));
  return prog.map((s, i) => {
    const rel = (l?: string) => (l === undefined ? 0 : at.get(l)! - i - 1);
    return { code: s.code, jt: rel(s.t), jf: rel(s.f), k: s.k >>> 0 };
  });
}

/** struct sock_filter[] in the host's byte order (little-endian on every machine tabby runs on). */
export function encodeFilter(prog: readonly BpfInsn[]): Uint8Array {
  const out = new Uint8Array(8 * prog.length);
  const v = new DataView(out.buffer);
  prog.forEach((p, i) => {
    v.setUint16(8 * i, p.code, true);
    out[8 * i + 2] = p.jt;
    out[8 * i + 3] = p.jf;
    v.setUint32(8 * i + 4, p.k, true);
  });
  return out;
}
