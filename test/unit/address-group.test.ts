import assert from "node:assert/strict";
import { test } from "node:test";
import { addressGroup } from "../../server/access/address-group";

test("IPv6 addresses are grouped by their /64: every address of one subscriber's network is one client", () => {
  for (const a of ["2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:0DB8:0001:0002:abcd::9", "[2001:db8:1:2::7]", "2001:db8:1:2:0:0:1.2.3.4"]) {
    assert.equal(addressGroup(a), "2001:db8:1:2::/64", a);
  }
  assert.equal(addressGroup("2001:db8:1:3::1"), "2001:db8:1:3::/64", "the next /64 is another client");
  assert.equal(addressGroup("::1"), "0:0:0:0::/64");
  assert.equal(addressGroup("fe80::1%eth0"), "fe80:0:0:0::/64", "the zone is dropped");
  assert.equal(addressGroup("2001:db8::"), "2001:db8:0:0::/64");
  assert.equal(addressGroup("1:2:3:4:5:6:7:8"), "1:2:3:4::/64");
});

test("IPv4 addresses stay themselves, IPv4-mapped IPv6 addresses become their IPv4, anything else is kept as given", () => {
  assert.equal(addressGroup("203.0.113.7"), "203.0.113.7");
  assert.equal(addressGroup("::ffff:203.0.113.7"), "203.0.113.7");
  assert.equal(addressGroup("::ffff:cb00:7107"), "203.0.113.7");
  assert.equal(addressGroup("unknown"), "unknown");
  assert.equal(addressGroup("not:an:address"), "not:an:address");
  assert.equal(addressGroup(""), "");
});
