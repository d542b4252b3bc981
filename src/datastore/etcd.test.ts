// parseEtcdUrl: the etcd:// and etcds:// datastore URLs (no etcd needed; the backend itself is
// tested against a real etcd in test/etcd*.test.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseEtcdUrl } from "./etcd.js";
import { hasCode } from "../errors.js";

test("etcd:// with one or several hosts; default port 2379", () => {
  assert.deepEqual(parseEtcdUrl("etcd://127.0.0.1:2379"), { endpoints: ["http://127.0.0.1:2379"] });
  assert.deepEqual(parseEtcdUrl("etcd://a:1,b,[::1]:3/"), { endpoints: ["http://a:1", "http://b:2379", "http://[::1]:3"] });
});

test("etcds:// with TLS files, credentials and timeouts", () => {
  assert.deepEqual(parseEtcdUrl("etcds://u%40x:p%3Aw@h1:2379,h2:2379?ca=/etc/ca.pem&cert=/etc/c.pem&key=/etc/k.pem&requestTimeoutMs=3000"), {
    endpoints: ["https://h1:2379", "https://h2:2379"],
    username: "u@x",
    password: "p:w",
    requestTimeoutMs: 3000,
    tls: { ca: "/etc/ca.pem", cert: "/etc/c.pem", key: "/etc/k.pem" },
  });
  assert.deepEqual(parseEtcdUrl("etcds://h"), { endpoints: ["https://h:2379"], tls: {} });
});

test("bad URLs are DS_BAD_URL errors that do not echo the password", () => {
  for (const url of [
    "sqlite:///x",
    "etcd://",
    "etcd://h:99999",
    "etcd://h:1,,h:2",
    "etcd://h?ca=/x",
    "etcds://h?cert=/c",
    "etcds://h?bogus=1",
    "etcd://h?dialTimeoutMs=-1",
    "etcd://user:secret@h:1:2",
  ]) {
    assert.throws(
      () => parseEtcdUrl(url),
      (e: unknown) => hasCode(e, "DS_BAD_URL") && !(e as Error).message.includes("secret"),
      url,
    );
  }
});
