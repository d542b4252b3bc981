/**
 * CNI errors (CNI spec 1.0 "Error"): `{cniVersion, code, msg, details}` on stdout, exit code 1.
 * Codes 1-99 are the spec's; 100 and up are tabby's own.
 */
import { TabbyError } from "../errors.js";

export const CNI_ERR = {
  INCOMPATIBLE_VERSION: 1,
  UNSUPPORTED_FIELD: 2,
  UNKNOWN_CONTAINER: 3,
  INVALID_ENV: 4,
  IO_FAILURE: 5,
  DECODING_FAILURE: 6,
  INVALID_CONFIG: 7,
  TRY_AGAIN_LATER: 11,
  /** Spec 1.1.0 STATUS: the plugin cannot serve ADD. */
  NOT_AVAILABLE: 50,
  /** Spec 1.1.0 STATUS: not available, and existing containers may have limited connectivity. */
  LIMITED_CONNECTIVITY: 51,
  /** tabby: the datastore or IPAM failed. */
  DATASTORE: 100,
  /** tabby: programming the kernel failed. */
  DATAPLANE: 101,
  /** tabby: no address could be assigned. */
  NO_ADDRESS: 102,
  /** tabby: CHECK found the workload not as ADD left it. */
  CHECK_FAILED: 103,
} as const;

/** A failure with the CNI error code to report. */
export class CniError extends TabbyError {
  readonly cniCode: number;
  constructor(cniCode: number, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super("CNI_ERROR", message, details, options);
    this.cniCode = cniCode;
  }
}

export interface CniErrorJson {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

/** The error JSON for any thrown value: CniError keeps its code, other TabbyErrors map by module. Pure. */
export function errorJson(err: unknown, cniVersion: string): CniErrorJson {
  if (err instanceof CniError) {
    const out: CniErrorJson = { cniVersion, code: err.cniCode, msg: err.message };
    const cause = err.cause instanceof Error ? err.cause.message : undefined;
    if (cause) out.details = cause;
    return out;
  }
  if (err instanceof TabbyError) {
    const code = err.code.startsWith("DP_")
      ? CNI_ERR.DATAPLANE
      : err.code === "DS_UNAVAILABLE"
        ? CNI_ERR.TRY_AGAIN_LATER
        : err.code.startsWith("DS_") || err.code.startsWith("IPAM_")
          ? CNI_ERR.DATASTORE
          : CNI_ERR.IO_FAILURE;
    return { cniVersion, code, msg: err.message, details: err.code };
  }
  return { cniVersion, code: CNI_ERR.IO_FAILURE, msg: err instanceof Error ? err.message : String(err) };
}
