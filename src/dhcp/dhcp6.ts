/**
 * DHCPv6 (RFC 8415) for a routed workload: a stateful server for one client per link that hands
 * out the workload's IPAM address in IA_NA (the client installs it as a /128; its routes come
 * from the router advertisement, ra.ts) and DNS servers (RFC 3646). Solicit is answered with
 * Advertise, or with Reply when the client asked for Rapid Commit; Request, Renew and Rebind
 * with Reply; Confirm with Success or NotOnLink; Information-request with Reply; Release and
 * Decline with Success. The server's DUID is DUID-LL of the host interface's MAC. Pure.
 */
import { parseIP } from "../net/ip.js";
import { malformed } from "./errors.js";

export const DHCP6_CLIENT_PORT = 546;
export const DHCP6_SERVER_PORT = 547;

export const SOLICIT = 1;
export const ADVERTISE = 2;
export const REQUEST6 = 3;
export const CONFIRM = 4;
export const RENEW = 5;
export const REBIND = 6;
export const REPLY = 7;
export const RELEASE6 = 8;
export const DECLINE6 = 9;
export const INFORMATION_REQUEST = 11;

export const OPT_CLIENTID = 1;
export const OPT_SERVERID = 2;
export const OPT_IA_NA = 3;
export const OPT_IAADDR = 5;
export const OPT_STATUS_CODE = 13;
export const OPT_RAPID_COMMIT = 14;
export const OPT_DNS_SERVERS = 23;
export const OPT_DOMAIN_LIST = 24;

export interface Dhcp6Option {
  code: number;
  data: Uint8Array;
}

export interface Dhcp6Message {
  type: number;
  xid: number;
  options: Dhcp6Option[];
}

/** Decodes option TLVs (code 2, length 2, data); NET_DHCP_MALFORMED when one runs past the end. */
export function decodeOptions6(b: Uint8Array): Dhcp6Option[] {
  const out: Dhcp6Option[] = [];
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let i = 0;
  while (i < b.length) {
    if (i + 4 > b.length) throw malformed("DHCPv6 option header truncated");
    const code = v.getUint16(i);
    const len = v.getUint16(i + 2);
    if (i + 4 + len > b.length) throw malformed(`DHCPv6 option ${code} runs past its container`, { len });
    out.push({ code, data: b.subarray(i + 4, i + 4 + len) });
    i += 4 + len;
  }
  return out;
}

export function decodeDhcp6(b: Uint8Array): Dhcp6Message {
  if (b.length < 4) throw malformed("DHCPv6 message shorter than 4 bytes");
  const type = b[0]!;
  if (type === 12 || type === 13) throw malformed("DHCPv6 relay messages are not served");
  return { type, xid: (b[1]! << 16) | (b[2]! << 8) | b[3]!, options: decodeOptions6(b.subarray(4)) };
}

export function encodeOptions6(opts: readonly Dhcp6Option[]): Uint8Array {
  const out = new Uint8Array(opts.reduce((n, o) => n + 4 + o.data.length, 0));
  const v = new DataView(out.buffer);
  let i = 0;
  for (const o of opts) {
    v.setUint16(i, o.code);
    v.setUint16(i + 2, o.data.length);
    out.set(o.data, i + 4);
    i += 4 + o.data.length;
  }
  return out;
}

export function encodeDhcp6(m: Dhcp6Message): Uint8Array {
  const opts = encodeOptions6(m.options);
  const out = new Uint8Array(4 + opts.length);
  out[0] = m.type;
  out[1] = (m.xid >> 16) & 0xff;
  out[2] = (m.xid >> 8) & 0xff;
  out[3] = m.xid & 0xff;
  out.set(opts, 4);
  return out;
}

function v6bytes(a: string): Uint8Array {
  const ip = parseIP(a);
  if (ip.family !== 6) throw malformed(`${a} is not an IPv6 address`);
  return ip.bytes;
}

/** DUID-LL (RFC 8415 §11.4): type 3, hardware type 1 (Ethernet), the MAC. */
export function duidLL(mac: string): Uint8Array {
  return Uint8Array.from([0, 3, 0, 1, ...mac.split(":").map((x) => parseInt(x, 16))]);
}

function be32(...ns: number[]): Uint8Array {
  const b = new Uint8Array(4 * ns.length);
  ns.forEach((n, i) => new DataView(b.buffer).setUint32(4 * i, n));
  return b;
}

function status(code: number, text: string): Dhcp6Option {
  return { code: OPT_STATUS_CODE, data: Uint8Array.from([code >> 8, code & 0xff, ...new TextEncoder().encode(text)]) };
}

export interface Dhcp6Lease {
  address: string;
  /** Host interface MAC: the server DUID. */
  serverMac: string;
  preferredSeconds: number;
  validSeconds: number;
  dns: string[];
}

function same(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return !!a && a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The answer to a client's message, or undefined (not ours, or nothing to say). */
export function answerDhcp6(req: Dhcp6Message, lease: Dhcp6Lease): Dhcp6Message | undefined {
  const opt = (code: number) => req.options.find((o) => o.code === code)?.data;
  const clientId = opt(OPT_CLIENTID);
  const serverId = duidLL(lease.serverMac);
  const theirServer = opt(OPT_SERVERID);
  const base: Dhcp6Option[] = [{ code: OPT_SERVERID, data: serverId }];
  if (clientId) base.push({ code: OPT_CLIENTID, data: Uint8Array.from(clientId) });
  const dns: Dhcp6Option[] = lease.dns.length ? [{ code: OPT_DNS_SERVERS, data: Uint8Array.from(lease.dns.flatMap((d) => [...v6bytes(d)])) }] : [];
  const iaNa = (): Dhcp6Option[] =>
    req.options
      .filter((o) => o.code === OPT_IA_NA && o.data.length >= 12)
      .map((o) => {
        const iaid = o.data.subarray(0, 4);
        const t1 = Math.floor(lease.preferredSeconds / 2);
        const t2 = Math.floor((lease.preferredSeconds * 4) / 5);
        const addr = encodeOptions6([
          { code: OPT_IAADDR, data: Uint8Array.from([...v6bytes(lease.address), ...be32(lease.preferredSeconds, lease.validSeconds)]) },
        ]);
        return { code: OPT_IA_NA, data: Uint8Array.from([...iaid, ...be32(t1, t2), ...addr]) };
      });
  switch (req.type) {
    case SOLICIT: {
      if (!clientId || theirServer) return undefined; // RFC 8415 §16.2
      const rapid = opt(OPT_RAPID_COMMIT) !== undefined;
      return {
        type: rapid ? REPLY : ADVERTISE,
        xid: req.xid,
        options: [...base, ...(rapid ? [{ code: OPT_RAPID_COMMIT, data: new Uint8Array(0) }] : []), ...iaNa(), ...dns],
      };
    }
    case REQUEST6:
    case RENEW:
      if (!clientId || !same(theirServer, serverId)) return undefined;
      return { type: REPLY, xid: req.xid, options: [...base, ...iaNa(), ...dns] };
    case REBIND:
      if (!clientId) return undefined;
      return { type: REPLY, xid: req.xid, options: [...base, ...iaNa(), ...dns] };
    case CONFIRM: {
      if (!clientId) return undefined;
      const mine = v6bytes(lease.address);
      const addrs = req.options
        .filter((o) => o.code === OPT_IA_NA && o.data.length >= 12)
        .flatMap((o) =>
          decodeOptions6(o.data.subarray(12))
            .filter((x) => x.code === OPT_IAADDR)
            .map((x) => x.data.subarray(0, 16)),
        );
      const ok = addrs.every((a) => same(a, mine));
      return { type: REPLY, xid: req.xid, options: [...base, ok ? status(0, "all addresses on link") : status(4, "not on link")] };
    }
    case INFORMATION_REQUEST:
      if (theirServer && !same(theirServer, serverId)) return undefined;
      return { type: REPLY, xid: req.xid, options: [...base, ...dns] };
    case RELEASE6:
    case DECLINE6:
      if (!clientId || !same(theirServer, serverId)) return undefined;
      return { type: REPLY, xid: req.xid, options: [...base, status(0, "")] };
    default:
      return undefined;
  }
}
