/** The BGP wire codec: pure, bytes in and out, negotiated options as a parameter. */
export * from "./constants.js";
export * from "./framer.js";
export * from "./nlri.js";
export * from "./open.js";
export * from "./attributes.js";
export * from "./update.js";
export * from "./messages.js";
export { ByteReader, ByteWriter, u32ToDotted, dottedToU32 } from "./bytes.js";
