/**
 * A Map of Sets used as a multimap by the calculation graph's indexes: add a value under a key
 * (creating the set), remove it (dropping the key when its set empties). Pure.
 */
export function addTo<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  let s = m.get(k);
  if (!s) m.set(k, (s = new Set()));
  s.add(v);
}

export function removeFrom<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  const s = m.get(k);
  if (s?.delete(v) && s.size === 0) m.delete(k);
}
