/**
 * The YAML config of `tabby bgp run` (docs/bgp.md): parsed, every key checked against the known
 * ones (a misspelt `peer:` or `pasive:` is an error suggesting `peers`/`passive`, never ignored),
 * and every value checked, each error naming the file, line and column and the key's path
 * ("tabby.yaml:7:5: peers[1].pasive: unknown key; did you mean passive?"). Peer import/export
 * policies are compiled here too, so a bad term is reported at start with its place rather than
 * when the speaker first uses it. Pure: takes the text, does no I/O.
 */
import { isIP } from "node:net";
import { TabbyError, hasCode } from "../errors.js";
import type { PeerConfig, OriginatedRoute, GracefulRestartOptions } from "../bgp/speaker.js";
import { BFD_DEFAULTS, validateOptions } from "../bfd/options.js";
import { compilePolicy } from "../bgp/policy.js";
import { formatPath, locateYaml, nearest, type YamlPath } from "./yaml-where.js";

export interface BgpRunConfig {
  routerId: string;
  asNumber: number;
  clusterId?: string;
  listen?: { address: string; port?: number } | false;
  control?: string;
  peers?: PeerConfig[];
  announce?: OriginatedRoute[];
  /** Install the best learned routes into this namespace's kernel FIB (protocol 152). Default false. */
  installRoutes?: boolean;
  /** Graceful restart as a restarting speaker (RFC 4724); `true` for the defaults. */
  gracefulRestart?: Omit<GracefulRestartOptions, "restarting"> | boolean;
  /** Prometheus metrics on http://address:port/metrics (address default 127.0.0.1, port 9091); absent: off. */
  metrics?: { address?: string; port?: number };
}

/** The keys each mapping may have: a leaf, a mapping (that may also be a scalar such as `true`), or a list of one shape. */
type Shape = "leaf" | { map: Record<string, Shape>; scalar?: boolean } | { list: Shape };

const L = "leaf" as const;
const PREFIX_MATCH: Shape = { list: { map: { prefix: L, ge: L, le: L } } };
const ADD_REMOVE: Shape = { map: { add: L, remove: L } };
const POLICY: Shape = {
  list: {
    map: {
      match: { map: { prefix: PREFIX_MATCH, notPrefix: PREFIX_MATCH, source: L, community: L, largeCommunity: L } },
      action: L,
      set: { map: { localPref: L, med: L, communities: ADD_REMOVE, largeCommunities: ADD_REMOVE, nextHop: L } },
    },
  },
};
const PEER: Shape = {
  map: {
    address: L,
    asNumber: L,
    port: L,
    passive: L,
    localAddress: L,
    localIPv6: L,
    families: L,
    holdTime: L,
    connectRetry: L,
    routeReflectorClient: L,
    import: POLICY,
    export: POLICY,
    password: L,
    addPath: L,
    gracefulRestartTime: L,
    nextHopSelf: L,
    keepaliveTime: L,
    ttlSecurity: L,
    expectedRouterId: L,
    allowOwnAs: L,
    maxPrefixes: L,
    bfd: { scalar: true, map: { minRx: L, minTx: L, multiplier: L, multihop: L, auth: { map: { type: L, keyId: L, key: L } } } },
  },
};
const CONFIG: Shape = {
  map: {
    routerId: L,
    asNumber: L,
    clusterId: L,
    listen: { scalar: true, map: { address: L, port: L } },
    control: L,
    peers: { list: PEER },
    announce: { list: { map: { prefix: L, nextHop: L, communities: L, largeCommunities: L } } },
    installRoutes: L,
    gracefulRestart: { scalar: true, map: { restartTime: L, selectionDeferralTime: L, preserveForwarding: L } },
    metrics: { map: { address: L, port: L } },
  },
};

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** A config error: CLI_CONFIG, the message starting with "FILE:LINE:COL: path:". */
export class ConfigError extends TabbyError {}

export function parseConfig(text: string, file = "config"): BgpRunConfig {
  const y = locateYaml(text);
  // at: where in the file (line and column of that key); shown: the path printed before the message
  const fail = (at: YamlPath, why: string, shown: YamlPath = []): never => {
    const p = y.at(at);
    throw new ConfigError("CLI_CONFIG", `${file}${p ? `:${p.line}:${p.col}` : ""}: ${shown.length ? `${formatPath(shown)}: ` : ""}${why}`, {
      file,
      path: formatPath(at),
      ...(p ?? {}),
    });
  };
  if (y.syntax)
    throw new ConfigError("CLI_CONFIG", `${file}:${y.syntax.line}:${y.syntax.col}: not valid YAML: ${y.syntax.message}`, {
      file,
      line: y.syntax.line,
      col: y.syntax.col,
    });
  const c = y.value as Partial<BgpRunConfig> | null | undefined;
  if (!isMapping(c)) fail([], "the config is a YAML mapping (routerId, asNumber, peers, ...)");

  // Every key known: checked first, so a misspelt key is named rather than reported as a missing one.
  const check = (v: unknown, shape: Shape, path: (string | number)[]): void => {
    if (shape === "leaf") return;
    if ("list" in shape) {
      if (Array.isArray(v)) v.forEach((item, i) => check(item, shape.list, [...path, i]));
      else if (v !== undefined && v !== null) fail(path, "must be a list", path);
      return;
    }
    if (!isMapping(v)) return; // a scalar where a mapping may go is checked below with its meaning
    for (const [k, sub] of Object.entries(v)) {
      const known = Object.keys(shape.map);
      if (!known.includes(k)) {
        const near = nearest(k, known);
        fail([...path, k], `unknown key ${k}${near ? `; did you mean ${near}?` : ` (known here: ${known.join(", ")})`}`, path);
      }
      check(sub, shape.map[k]!, [...path, k]);
    }
  };
  check(c, CONFIG, []);

  const cfg = c as Partial<BgpRunConfig>;
  if (typeof cfg.routerId !== "string") fail(cfg.routerId === undefined ? [] : ["routerId"], "routerId (dotted quad) is required");
  if (typeof cfg.asNumber !== "number") fail(cfg.asNumber === undefined ? [] : ["asNumber"], "asNumber is required");
  // Types and ranges the speaker would otherwise refuse at start, without the line.
  const m0 = c as Record<string, unknown>;
  const want = (v: unknown, path: (string | number)[], ok: (v: unknown) => boolean, what: string) => {
    if (v !== undefined && !ok(v)) fail(path, `${formatPath(path)} must be ${what}, not ${JSON.stringify(v)}`);
  };
  const int = (lo: number, hi: number) => (v: unknown) => Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi;
  const ipv4 = (v: unknown) => typeof v === "string" && isIP(v) === 4;
  const ip = (v: unknown) => typeof v === "string" && isIP(v) !== 0;
  const bool = (v: unknown) => typeof v === "boolean";
  const str = (v: unknown) => typeof v === "string" && v !== "";
  const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === "string");
  const cidr = (v: unknown) => typeof v === "string" && /^[^/]+\/\d{1,3}$/.test(v) && isIP(v.split("/")[0]!) !== 0;
  want(m0["routerId"], ["routerId"], ipv4, "a dotted quad");
  want(m0["asNumber"], ["asNumber"], int(1, 4294967295), "an AS number (1-4294967295)");
  want(m0["clusterId"], ["clusterId"], ipv4, "a dotted quad");
  want(m0["control"], ["control"], str, "a socket path");
  if (isMapping(m0["listen"])) {
    want(m0["listen"]["address"], ["listen", "address"], ip, "an IP address");
    want(m0["listen"]["port"], ["listen", "port"], int(0, 65535), "a port number");
  }
  if (isMapping(m0["gracefulRestart"])) {
    const g = m0["gracefulRestart"];
    want(g["restartTime"], ["gracefulRestart", "restartTime"], int(0, 4095), "0-4095 seconds");
    want(g["selectionDeferralTime"], ["gracefulRestart", "selectionDeferralTime"], int(0, 65535), "seconds");
    want(g["preserveForwarding"], ["gracefulRestart", "preserveForwarding"], bool, "true or false");
  }
  ((Array.isArray(m0["announce"]) ? m0["announce"] : []) as unknown[]).forEach((a, i) => {
    if (!isMapping(a)) return fail(["announce", i], "every announcement is a mapping {prefix, nextHop, communities, largeCommunities}", ["announce", i]);
    if (a["prefix"] === undefined) fail(["announce", i], "every announcement needs a prefix", ["announce", i]);
    want(a["prefix"], ["announce", i, "prefix"], cidr, "a prefix (address/length)");
    want(a["nextHop"], ["announce", i, "nextHop"], ip, "an IP address");
    want(a["communities"], ["announce", i, "communities"], strings, 'a list of communities ("65000:1")');
    want(a["largeCommunities"], ["announce", i, "largeCommunities"], strings, 'a list of large communities ("64512:1:2")');
  });
  ((Array.isArray(m0["peers"]) ? m0["peers"] : []) as unknown[]).forEach((p, i) => {
    if (!isMapping(p)) return fail(["peers", i], "every peer is a mapping {address, asNumber, ...}", ["peers", i]);
    const at = (k: string) => ["peers", i, k];
    want(p["address"], at("address"), ip, "an IP address");
    want(p["asNumber"], at("asNumber"), int(1, 4294967295), "an AS number (1-4294967295)");
    want(p["port"], at("port"), int(1, 65535), "a port number");
    want(p["localAddress"], at("localAddress"), ip, "an IP address");
    want(p["localIPv6"], at("localIPv6"), (v) => typeof v === "string" && isIP(v) === 6, "an IPv6 address");
    want(p["families"], at("families"), (v) => Array.isArray(v) && v.length > 0 && v.every((f) => f === "ipv4" || f === "ipv6"), "a list of ipv4 and/or ipv6");
    want(p["holdTime"], at("holdTime"), (v) => v === 0 || int(3, 65535)(v), "0 or 3-65535 seconds (RFC 4271)");
    want(p["connectRetry"], at("connectRetry"), (v) => typeof v === "number" && v > 0, "seconds above 0");
    for (const k of ["routeReflectorClient", "addPath"]) want(p[k], at(k), bool, "true or false");
    want(p["password"], at("password"), str, "a string");
    want(p["gracefulRestartTime"], at("gracefulRestartTime"), int(0, 4095), "0-4095 seconds");
    want(p["ttlSecurity"], at("ttlSecurity"), int(0, 254), "a hop count (1-254; 0 is off)");
    want(p["expectedRouterId"], at("expectedRouterId"), ipv4, "a dotted quad");
  });
  (cfg.peers ?? []).forEach((p, i) => {
    const at = (...k: (string | number)[]) => ["peers", i, ...k];
    if (typeof p.address !== "string" || typeof p.asNumber !== "number") fail(at(), "every peer needs address and asNumber");
    if (p.nextHopSelf !== undefined && typeof p.nextHopSelf !== "boolean") fail(at("nextHopSelf"), `peer ${p.address}: nextHopSelf is true or false`);
    if (p.passive !== undefined && typeof p.passive !== "boolean") fail(at("passive"), `peer ${p.address}: passive is true or false`);
    parseBfd(p, (k, why) => fail(at("bfd", ...k), why));
    for (const [k, min] of [
      ["keepaliveTime", 1],
      ["allowOwnAs", 0],
      ["maxPrefixes", 1],
    ] as const) {
      const v = p[k];
      if (v !== undefined && (!Number.isInteger(v) || v < min)) fail(at(k), `peer ${p.address}: ${k} is a whole number of at least ${min}`);
    }
    for (const dir of ["import", "export"] as const) {
      if (p[dir] === undefined) continue;
      try {
        compilePolicy(p[dir], true);
      } catch (e) {
        const m = /^policy term (\d+): /.exec((e as Error).message);
        const term = m ? Number(m[1]) - 1 : undefined;
        fail(term === undefined ? at(dir) : at(dir, term), `peer ${p.address}: ${dir}: ${(e as Error).message}`);
      }
    }
  });
  if (cfg.installRoutes !== undefined && typeof cfg.installRoutes !== "boolean") fail(["installRoutes"], "installRoutes is true or false");
  const gr = cfg.gracefulRestart;
  if (gr !== undefined && typeof gr !== "boolean" && !isMapping(gr)) fail(["gracefulRestart"], "gracefulRestart is true, false or a mapping");
  const m = cfg.metrics as unknown;
  if (m !== undefined) {
    if (!isMapping(m)) fail(["metrics"], "metrics is a mapping {address, port}");
    const mm = m as Record<string, unknown>;
    if (mm["address"] !== undefined && (typeof mm["address"] !== "string" || isIP(mm["address"]) === 0))
      fail(["metrics", "address"], `metrics: address must be an IP address, got ${JSON.stringify(mm["address"])}`);
    const port = mm["port"];
    if (port !== undefined && (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535))
      fail(["metrics", "port"], `metrics: port must be 1-65535, got ${JSON.stringify(port)}`);
  }
  const listen = cfg.listen as unknown;
  if (listen !== undefined && listen !== false && !isMapping(listen)) fail(["listen"], "listen is false or a mapping {address, port}");
  // RFC 8212: an eBGP session with no policy configured imports and exports nothing
  const asn = cfg.asNumber;
  cfg.peers = (cfg.peers ?? []).map((p) => (p.asNumber === asn ? p : { ...p, import: p.import ?? [], export: p.export ?? [] }));
  return cfg as BgpRunConfig;
}

/** `bfd: true` (FRR's defaults: 300 ms, 300 ms, 3), `false`, or a mapping of the fields to change. */
function parseBfd(p: PeerConfig, fail: (path: (string | number)[], why: string) => never): void {
  const b: unknown = p.bfd;
  if (b === undefined || b === false) {
    delete p.bfd;
    return;
  }
  if (b === true) {
    p.bfd = { ...BFD_DEFAULTS };
    return;
  }
  if (!isMapping(b)) fail([], `peer ${p.address}: bfd is true, false or a mapping`);
  const auth: unknown = (b as { auth?: unknown }).auth;
  if (auth !== undefined && !isMapping(auth)) fail(["auth"], `peer ${p.address}: bfd: auth is a mapping {type, keyId, key}`);
  const o = { ...BFD_DEFAULTS, ...(b as object) } as NonNullable<PeerConfig["bfd"]>;
  if (o.multihop !== undefined && typeof o.multihop !== "boolean") fail(["multihop"], `peer ${p.address}: bfd: multihop is true or false`);
  try {
    validateOptions(o);
  } catch (e) {
    if (hasCode(e, "BFD_CONFIG")) {
      const field = ["minRx", "minTx", "multiplier", "auth"].find((k) => (e as Error).message.includes(k));
      fail(field && (b as Record<string, unknown>)[field] !== undefined ? [field] : [], `peer ${p.address}: ${(e as Error).message}`);
    }
    throw e;
  }
  p.bfd = o;
}
