#!/usr/bin/python3
"""fastpath sysctl helper, run as root on the SUT by roles/fastpath_sysctl.

Usage: fastpath_sysctl.py ACTION BASE64_JSON  with JSON {"settings": ["key=value", ...]}
  persist        write /etc/sysctl.d/99-fastpath.conf (applied by the next boot)
  revert_verify  remove that file again, then check every live value in /proc/sys
  clear          remove that file
Prints one JSON object; exits 1 with {"error": ...} on failure or a mismatch.
"""

import base64
import json
import os
import sys

CONF = "/etc/sysctl.d/99-fastpath.conf"


def parse(settings):
    out = []
    for s in settings:
        if "=" not in s:
            raise ValueError("sysctl %r is not key=value" % s)
        k, v = s.split("=", 1)
        k, v = k.strip(), v.strip()
        if not k or k.startswith("/") or ".." in k:
            raise ValueError("sysctl key %r is not valid" % k)
        out.append((k, v))
    return out


def proc_path(key):
    return "/proc/sys/" + (key if "/" in key else key.replace(".", "/"))


def main():
    action = sys.argv[1] if len(sys.argv) > 1 else ""
    args = json.loads(base64.b64decode(sys.argv[2]).decode()) if len(sys.argv) > 2 else {}
    try:
        pairs = parse(args.get("settings") or [])
    except ValueError as exc:
        print(json.dumps({"error": str(exc)}))
        return 1
    if action == "persist":
        os.makedirs(os.path.dirname(CONF), exist_ok=True)
        with open(CONF + ".tmp", "w") as f:
            f.write("# Written by fastpath for the next boot; removed after it.\n")
            for k, v in pairs:
                f.write("%s = %s\n" % (k, v))
        os.replace(CONF + ".tmp", CONF)
        print(json.dumps({"persisted": len(pairs), "file": CONF}))
        return 0
    if action in ("revert_verify", "clear"):
        reverted = os.path.exists(CONF)
        if reverted:
            os.unlink(CONF)
        if action == "clear":
            print(json.dumps({"reverted": reverted}))
            return 0
        checks = []
        for k, want in pairs:
            try:
                with open(proc_path(k)) as f:
                    got = f.read().strip()
            except OSError as exc:
                got = None
                err = exc.strerror
            ok = got is not None and got.split() == want.split()
            checks.append({"key": k, "want": want, "got": got, "ok": ok,
                           **({} if got is not None else {"reason": err})})
        bad = [c for c in checks if not c["ok"]]
        out = {"reverted": reverted, "checks": checks}
        if bad:
            out["error"] = "sysctl mismatch after boot: " + "; ".join(
                "%s is %s, expected %s" % (c["key"], repr(c["got"]) if c["got"] is not None
                                          else "unreadable (%s)" % c.get("reason"), c["want"])
                for c in bad)
            print(json.dumps(out))
            return 1
        print(json.dumps(out))
        return 0
    print(json.dumps({"error": "usage: fastpath_sysctl.py persist|revert_verify|clear B64"}))
    return 2


if __name__ == "__main__":
    sys.exit(main())
