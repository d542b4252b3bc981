/** Where `tabby ui` listens unless told otherwise: loopback only (the map is the operator's). */
export const DEFAULT_UI_LISTEN = "127.0.0.1:9098";
