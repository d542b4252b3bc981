export * from "./ip.js";
export * from "./prefix.js";
