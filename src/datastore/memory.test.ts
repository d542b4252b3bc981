import { runStoreContract } from "../testkit/datastore/store-contract.js";
import { MemoryStore } from "./memory.js";

runStoreContract("MemoryStore", async ({ clock }) => {
  const store = new MemoryStore(clock);
  return { store, cleanup: () => store.close(), compact: (rev) => store.compact(rev) };
});
