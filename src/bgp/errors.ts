/**
 * Errors of the BGP package. `BgpProtocolError` carries its wire consequence: the NOTIFICATION
 * code/subcode/data to send and the RFC 7606 action to take (GoBGP MessageError, BIRD
 * WITHDRAW/DISCARD). Only the session shell turns it into a NOTIFICATION.
 */
import { TabbyError } from "../errors.js";

/** RFC 7606 error-handling actions, weakest first. */
export type ErrorAction = "attribute-discard" | "treat-as-withdraw" | "session-reset";

const ACTION_RANK: Record<ErrorAction, number> = {
  "attribute-discard": 1,
  "treat-as-withdraw": 2,
  "session-reset": 3,
};

export class BgpError extends TabbyError {}

export class BgpProtocolError extends BgpError {
  readonly notifyCode: number;
  readonly notifySubcode: number;
  readonly data: Uint8Array;
  readonly action: ErrorAction;
  /** The path attribute type the error is about, when it is about one (RFC 7606 needs it). */
  attrType?: number;

  constructor(message: string, notifyCode: number, notifySubcode: number, action: ErrorAction = "session-reset", data: Uint8Array = new Uint8Array(0)) {
    super("BGP_PROTOCOL", message, { notifyCode, notifySubcode, action });
    this.notifyCode = notifyCode;
    this.notifySubcode = notifySubcode;
    this.action = action;
    this.data = data;
  }
}

/** The harsher of two actions. */
export function strongerAction(a: ErrorAction, b: ErrorAction): ErrorAction {
  return ACTION_RANK[a] >= ACTION_RANK[b] ? a : b;
}
