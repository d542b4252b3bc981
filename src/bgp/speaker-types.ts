/**
 * The speaker's public types: its options, the routes it is given and hands out (FIB changes,
 * route views), and the status of its peers. Shared by the speaker's modules and its callers
 * (agent, CLI, metrics) through speaker.ts. Types only.
 */
import type { Clock } from "../clock.js";
import type { PeerConfig } from "./peer-config.js";
import type { BgpNetwork } from "./transport.js";
import type { PacerOptions } from "./send-pacer.js";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFn = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

export interface SpeakerOptions {
  routerId: string;
  asNumber: number;
  listen?: { address: string; port: number } | false;
  clusterId?: string;
  clock?: Clock;
  log?: LogFn;
  /**
   * Graceful restart as a restarting speaker (RFC 4724). Without it the speaker is a helper only
   * (it keeps a restarting peer's routes, and lists no families of its own).
   */
  gracefulRestart?: GracefulRestartOptions;
  /** Runs BFD for peers whose config has `bfd` (src/bfd/service.ts); without it such peers are refused. */
  failureDetector?: FailureDetector;
  /** Where connections come from (transport.ts): TCP by default (tcp-transport.ts), in memory in tests. */
  network?: BgpNetwork;
  /** How UPDATE writes are paced across sessions (send-pacer.ts); DEFAULT_PACING unless a test sets it. */
  pacing?: PacerOptions;
}

/** A failure detector (BFD) the speaker asks to watch a peer; `onDown` when its path fails. */
export interface FailureDetector {
  watch(peer: string, localAddress: string | undefined, opts: NonNullable<PeerConfig["bfd"]>, onDown: (reason: string) => void): { close(): void };
}

export interface GracefulRestartOptions {
  /** Restart time advertised (seconds, ≤ 4095): how long peers keep our routes. Default 120. */
  restartTime?: number;
  /** This start is a restart: set the R bit and defer selection until the peers' End-of-RIB. */
  restarting?: boolean;
  /** The F bit for every family: our forwarding state survives a restart (default true). */
  preserveForwarding?: boolean;
  /** Upper bound on the deferral (seconds, default 360 as in FRR). */
  selectionDeferralTime?: number;
}

export interface OriginatedRoute {
  prefix: string;
  nextHop?: string;
  communities?: string[];
  /** RFC 8092 large communities, "global:local1:local2". */
  largeCommunities?: string[];
}

export interface FibChange {
  prefix: string;
  nextHops: string[];
}

export interface PeerStatus {
  address: string;
  asNumber: number;
  state: string;
  established: boolean;
  uptimeSeconds?: number;
  prefixesReceived: number;
  prefixesAccepted: number;
  prefixesAdvertised: number;
  /** The update group of the session (peers sharing one Adj-RIB-Out and encoding); absent when down. */
  updateGroup?: number;
  lastError?: string;
  /** Since the speaker was made: UPDATEs received and sent, and how often the Established session was lost. */
  updatesReceived?: number;
  updatesSent?: number;
  flaps?: number;
  /** Why the session is not Established, in words: the socket error, the NOTIFICATION sent or received, a limit hit. */
  reason?: string;
}

export interface RouteView {
  prefix: string;
  paths: {
    nextHop: string;
    asPath: number[];
    origin: string;
    localPref?: number;
    med?: number;
    communities: string[];
    /** RFC 8092, as "global:local1:local2"; present when the path has any. */
    largeCommunities?: string[];
    peer: string;
    best: boolean;
    originatorId?: string;
    clusterList?: string[];
  }[];
}
