/** Where `tabby ui` listens unless told otherwise (src/ports.ts). */
export { DEFAULT_UI_LISTEN } from "../ports.js";
