/** Shared by the `tabby lab` commands: which lab they act on and its recorded state. */
import { TabbyError } from "../errors.js";
import { DEFAULT_LAB_NAME } from "../lab/plan.js";
import { currentLabName, readLabState, type LabState } from "../lab/state.js";

export function resolveLabName(flag: string | undefined): string {
  return flag ?? currentLabName() ?? DEFAULT_LAB_NAME;
}

export function requireLab(flag: string | undefined): LabState {
  const name = resolveLabName(flag);
  const state = readLabState(name);
  if (!state) throw new TabbyError("LAB_NOT_FOUND", `no lab named "${name}" is up; run \`tabby lab up\``);
  return state;
}
