/**
 * SelectorError: a selector that does not parse. `details.position` is the 0-based index into the
 * input (UTF-16 code units) where the problem is; the message says what was expected there.
 */
import { TabbyError } from "../errors.js";

export class SelectorError extends TabbyError {
  readonly position: number;
  readonly input: string;

  constructor(message: string, input: string, position: number) {
    super("SELECTOR_PARSE", `${message} at position ${position}`, { position, input, reason: message });
    this.position = position;
    this.input = input;
  }
}
