/**
 * The BGP finite state machine of RFC 4271 §8 as a pure transition function:
 * `step(state, event) → { state, actions }`. Timers and socket operations are actions the session
 * shell carries out; unexpected messages give RFC 6608 FSM errors. Collision detection (§6.8) is
 * done by the session, which owns both connections, and reported as `ConnectionReplaced`. Every
 * change of state goes through `step`, also the shell's own: an inbound connection while idle
 * (`InboundConnection`) and a drop without NOTIFICATION for a graceful restart (`Abort`). Pure.
 */
import type { BgpProtocolError } from "./errors.js";
import { validateOpen } from "./negotiate.js";
import { CeaseSubcode, ErrorCode, FsmSubcode } from "./wire/constants.js";
import type { NotificationMessage } from "./wire/messages.js";
import type { OpenMessage } from "./wire/open.js";

export type FsmStateName = "Idle" | "Connect" | "Active" | "OpenSent" | "OpenConfirm" | "Established";

export interface FsmConfig {
  localAs: number;
  peerAs: number;
  routerId: string;
  /** Proposed hold time, seconds. */
  holdTime: number;
  connectRetryTime: number;
  passive: boolean;
  /** The BGP identifier the peer's OPEN must carry (validateOpen). */
  expectedRouterId?: string;
  /** Configured keepalive interval (seconds); never more than a third of the negotiated hold time. */
  keepaliveTime?: number;
}

export interface FsmState {
  name: FsmStateName;
  config: FsmConfig;
  /** Negotiated hold and keepalive times once an OPEN was accepted. */
  holdTime?: number;
  keepaliveTime?: number;
  peerOpen?: OpenMessage;
  connectRetryCounter: number;
}

export type TimerName = "connectRetry" | "hold" | "keepalive";

export type FsmEvent =
  | { type: "ManualStart" }
  | { type: "ManualStop"; notification?: NotificationMessage }
  | { type: "ConnectRetryTimerExpires" }
  | { type: "HoldTimerExpires" }
  | { type: "KeepaliveTimerExpires" }
  | { type: "TcpConnectionConfirmed" }
  | { type: "TcpConnectionFails" }
  | { type: "OpenReceived"; open: OpenMessage }
  | { type: "KeepaliveReceived" }
  | { type: "UpdateReceived" }
  | { type: "RouteRefreshReceived" }
  | { type: "NotificationReceived"; notification: NotificationMessage }
  | { type: "MessageError"; error: BgpProtocolError }
  /** A connection from the peer was accepted while Idle (the idle-hold wait): go Active and take it. */
  | { type: "InboundConnection" }
  /**
   * Collision resolution (RFC 4271 §6.8) kept the other connection, whose OPEN arrived: the
   * session goes on from OpenSent on it (the OpenReceived follows), its timers restarted. Also
   * from Established when the collision began before it (the OPEN exchange on the other
   * connection was under way): the session is not reported down, and Established again once the
   * other connection is up.
   */
  | { type: "ConnectionReplaced" }
  /**
   * Dropped without a NOTIFICATION and without reporting the session down (RFC 4724 §4: a
   * restarting speaker's peers keep its routes); the shell has closed the connection itself.
   */
  | { type: "Abort" };

export type FsmAction =
  | { type: "connect" }
  | { type: "sendOpen" }
  | { type: "sendKeepalive" }
  | { type: "sendNotification"; notification: NotificationMessage }
  | { type: "closeConnection" }
  | { type: "startTimer"; timer: TimerName; seconds: number }
  | { type: "stopTimer"; timer: TimerName }
  | { type: "established" }
  /** The session left Established (or failed before it); `reason` is for status and logs. */
  | { type: "down"; reason: string; wasEstablished: boolean; graceful: boolean; notification?: { message: NotificationMessage; sent: boolean } };

/** Hold time while waiting for the peer's OPEN (RFC 4271 §8.2.2 suggests 4 minutes). */
export const OPEN_HOLD_TIME = 240;

export function initialState(config: FsmConfig): FsmState {
  return { name: "Idle", config, connectRetryCounter: 0 };
}

export interface StepResult {
  state: FsmState;
  actions: FsmAction[];
}

function notification(code: number, subcode: number, data: Uint8Array = new Uint8Array(0)): NotificationMessage {
  return { type: "notification", code, subcode, data };
}

const ALL_TIMERS: TimerName[] = ["connectRetry", "hold", "keepalive"];

/**
 * `graceful`: the session ended without a NOTIFICATION either way (RFC 4724 §4.2: GR applies). The
 * NOTIFICATION sent or `received`, if any, goes with the down action (RFC 8538 decides on it).
 */
function toIdle(s: FsmState, reason: string, send?: NotificationMessage, graceful = false, received?: NotificationMessage): StepResult {
  const actions: FsmAction[] = [];
  if (send) actions.push({ type: "sendNotification", notification: send });
  actions.push({ type: "closeConnection" });
  for (const t of ALL_TIMERS) actions.push({ type: "stopTimer", timer: t });
  const notified = send ? { message: send, sent: true } : received ? { message: received, sent: false } : undefined;
  actions.push({
    type: "down",
    reason,
    wasEstablished: s.name === "Established",
    graceful: graceful && !send,
    ...(notified ? { notification: notified } : {}),
  });
  const next: FsmState = { name: "Idle", config: s.config, connectRetryCounter: s.connectRetryCounter + 1 };
  return { state: next, actions };
}

function unexpected(s: FsmState, what: string): StepResult {
  const sub =
    s.name === "OpenSent"
      ? FsmSubcode.UNEXPECTED_MESSAGE_IN_OPENSENT
      : s.name === "OpenConfirm"
        ? FsmSubcode.UNEXPECTED_MESSAGE_IN_OPENCONFIRM
        : s.name === "Established"
          ? FsmSubcode.UNEXPECTED_MESSAGE_IN_ESTABLISHED
          : FsmSubcode.UNSPECIFIED;
  return toIdle(s, `unexpected ${what} in ${s.name}`, notification(ErrorCode.FSM, sub));
}

function holdTimerActions(s: FsmState): FsmAction[] {
  return s.holdTime ? [{ type: "startTimer", timer: "hold", seconds: s.holdTime }] : [];
}

export function step(s: FsmState, e: FsmEvent): StepResult {
  const same = (actions: FsmAction[] = []): StepResult => ({ state: s, actions });
  const cfg = s.config;

  if (e.type === "Abort") {
    return { state: { name: "Idle", config: cfg, connectRetryCounter: 0 }, actions: ALL_TIMERS.map((t) => ({ type: "stopTimer", timer: t })) };
  }
  if (e.type === "ConnectionReplaced") {
    if (s.name === "Idle") return same();
    return {
      state: { name: "OpenSent", config: cfg, connectRetryCounter: s.connectRetryCounter },
      actions: [
        { type: "stopTimer", timer: "hold" },
        { type: "stopTimer", timer: "keepalive" },
        { type: "stopTimer", timer: "connectRetry" },
      ],
    };
  }

  // events handled alike in every state past Idle
  if (e.type === "ManualStop") {
    if (s.name === "Idle") return same();
    const send =
      s.name === "OpenSent" || s.name === "OpenConfirm" || s.name === "Established"
        ? (e.notification ?? notification(ErrorCode.CEASE, CeaseSubcode.ADMINISTRATIVE_SHUTDOWN))
        : undefined;
    const r = toIdle(s, "stopped", send);
    return { state: { ...r.state, connectRetryCounter: 0 }, actions: r.actions };
  }
  if (e.type === "NotificationReceived" && s.name !== "Idle") {
    return toIdle(s, `notification ${e.notification.code}/${e.notification.subcode} received`, undefined, false, e.notification);
  }
  if (e.type === "MessageError" && s.name !== "Idle") {
    return toIdle(s, e.error.message, notification(e.error.notifyCode, e.error.notifySubcode, e.error.data));
  }
  if (e.type === "HoldTimerExpires" && (s.name === "OpenSent" || s.name === "OpenConfirm" || s.name === "Established")) {
    return toIdle(s, "hold timer expired", notification(ErrorCode.HOLD_TIMER_EXPIRED, 0));
  }

  switch (s.name) {
    case "Idle":
      if (e.type === "ManualStart") {
        if (cfg.passive) return { state: { ...s, name: "Active" }, actions: [] };
        return {
          state: { ...s, name: "Connect" },
          actions: [{ type: "connect" }, { type: "startTimer", timer: "connectRetry", seconds: cfg.connectRetryTime }],
        };
      }
      if (e.type === "TcpConnectionConfirmed") return same([{ type: "closeConnection" }]);
      if (e.type === "InboundConnection") return { state: { ...s, name: "Active" }, actions: [] };
      return same();

    case "Connect":
    case "Active":
      switch (e.type) {
        case "TcpConnectionConfirmed":
          return {
            state: { ...s, name: "OpenSent" },
            actions: [{ type: "stopTimer", timer: "connectRetry" }, { type: "sendOpen" }, { type: "startTimer", timer: "hold", seconds: OPEN_HOLD_TIME }],
          };
        case "TcpConnectionFails":
          return {
            state: { ...s, name: "Active" },
            actions: [
              { type: "closeConnection" },
              ...(cfg.passive ? [] : [{ type: "startTimer" as const, timer: "connectRetry" as const, seconds: cfg.connectRetryTime }]),
            ],
          };
        case "ConnectRetryTimerExpires":
          if (cfg.passive) return same();
          return {
            state: { ...s, name: "Connect" },
            actions: [{ type: "closeConnection" }, { type: "connect" }, { type: "startTimer", timer: "connectRetry", seconds: cfg.connectRetryTime }],
          };
        case "OpenReceived":
        case "KeepaliveReceived":
        case "UpdateReceived":
        case "RouteRefreshReceived":
          return toIdle(s, `unexpected message in ${s.name}`, notification(ErrorCode.FSM, FsmSubcode.UNSPECIFIED));
        default:
          return same();
      }

    case "OpenSent":
      switch (e.type) {
        case "OpenReceived": {
          const err = validateOpen(e.open, {
            peerAs: cfg.peerAs,
            localAs: cfg.localAs,
            localRouterId: cfg.routerId,
            ...(cfg.expectedRouterId !== undefined ? { expectedRouterId: cfg.expectedRouterId } : {}),
          });
          if (err) return toIdle(s, err.message, notification(err.notifyCode, err.notifySubcode, err.data));
          const holdTime = Math.min(cfg.holdTime, e.open.holdTime);
          const keepaliveTime = holdTime === 0 ? 0 : Math.max(1, Math.min(cfg.keepaliveTime ?? Infinity, Math.floor(holdTime / 3)));
          const next: FsmState = { ...s, name: "OpenConfirm", holdTime, keepaliveTime, peerOpen: e.open };
          const actions: FsmAction[] = [{ type: "sendKeepalive" }, { type: "stopTimer", timer: "hold" }];
          if (holdTime > 0) {
            actions.push({ type: "startTimer", timer: "hold", seconds: holdTime }, { type: "startTimer", timer: "keepalive", seconds: keepaliveTime });
          }
          return { state: next, actions };
        }
        case "TcpConnectionFails":
          return {
            state: { ...s, name: "Active" },
            actions: [
              { type: "closeConnection" },
              { type: "stopTimer", timer: "hold" },
              ...(cfg.passive ? [] : [{ type: "startTimer" as const, timer: "connectRetry" as const, seconds: cfg.connectRetryTime }]),
            ],
          };
        case "KeepaliveReceived":
        case "UpdateReceived":
        case "RouteRefreshReceived":
          return unexpected(s, e.type);
        default:
          return same();
      }

    case "OpenConfirm":
      switch (e.type) {
        case "KeepaliveReceived":
          return { state: { ...s, name: "Established", connectRetryCounter: 0 }, actions: [...holdTimerActions(s), { type: "established" }] };
        case "KeepaliveTimerExpires":
          return same([{ type: "sendKeepalive" }, { type: "startTimer", timer: "keepalive", seconds: s.keepaliveTime ?? 30 }]);
        case "TcpConnectionFails":
          return toIdle(s, "connection lost", undefined, true);
        case "OpenReceived":
        case "UpdateReceived":
        case "RouteRefreshReceived":
          return unexpected(s, e.type);
        default:
          return same();
      }

    case "Established":
      switch (e.type) {
        case "KeepaliveReceived":
        case "UpdateReceived":
        case "RouteRefreshReceived":
          return same(holdTimerActions(s));
        case "KeepaliveTimerExpires":
          return same([{ type: "sendKeepalive" }, { type: "startTimer", timer: "keepalive", seconds: s.keepaliveTime ?? 30 }]);
        case "TcpConnectionFails":
          return toIdle(s, "connection lost", undefined, true);
        case "OpenReceived":
          return unexpected(s, e.type);
        default:
          return same();
      }
  }
}
