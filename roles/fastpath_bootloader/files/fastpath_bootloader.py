#!/usr/bin/python3
"""fastpath bootloader helper, run as root on the SUT by roles/fastpath_bootloader.

Usage: fastpath_bootloader.py ACTION BASE64_JSON_ARGS
  prepare  {"release", "cmdline": [..]}  record the known-good default kernel (first time),
           install /etc/grub.d/42_fastpath and the GRUB_DEFAULT=saved drop-in, and store the
           test kernel's cmdline (its own grub entry only; no update-grub here)
  arm      {"release"}  make sure grub.cfg has the test entry (update-grub only if not),
           pin the known-good default as saved_entry, grub-reboot the test entry once
  pin      {}  saved_entry = known-good default, clear any pending one-shot entry
  unprepare {}  remove fastpath's grub script + GRUB_DEFAULT drop-in (no update-grub)
  finish   {"update_grub": bool}  after the test kernels are removed: update-grub when asked
           or when grub.cfg still has fastpath entries, pin the default, forget the record
  status   {}  what grub will boot by default, the one-shot entry, kernels, running kernel
Prints one JSON object on stdout; exits non-zero with {"error": ...} on failure.
Written for any python3 >= 3.6 (Debian/Ubuntu SUTs).
"""

import base64
import json
import os
import re
import subprocess
import sys

STATE = "/var/lib/fastpath/kernels"
ORIGINAL = os.path.join(STATE, "original")
GRUB_SCRIPT = "/etc/grub.d/42_fastpath"
DROPIN = "/etc/default/grub.d/fastpath.cfg"
GRUB_CFG = "/boot/grub/grub.cfg"
ENTRY_PREFIX = "fastpath-"

GRUB_SCRIPT_TEXT = r"""#!/bin/sh
# Written by fastpath (roles/fastpath_bootloader): one entry per fastpath test kernel, with
# that kernel's own extra cmdline.  Entries are booted once with grub-reboot; the saved
# default stays the known-good kernel.  Removed when fastpath restores the SUT.
set -e
state=/var/lib/fastpath/kernels
[ -d "$state" ] || exit 0
prefix=/usr
exec_prefix=/usr
datarootdir=/usr/share
. "${pkgdatadir:-/usr/share/grub}/grub-mkconfig_lib"
if [ "x${GRUB_DEVICE_UUID}" = "x" ] || [ "x${GRUB_DISABLE_LINUX_UUID}" = "xtrue" ] \
   || ! test -e "/dev/disk/by-uuid/${GRUB_DEVICE_UUID}"; then
  root_arg="root=${GRUB_DEVICE}"
else
  root_arg="root=UUID=${GRUB_DEVICE_UUID}"
fi
boot_rel=$(make_system_path_relative_to_its_root /boot)
for dir in "$state"/*/; do
  [ -f "${dir}cmdline.grub" ] || continue
  rel=$(basename "$dir")
  [ -f "/boot/vmlinuz-$rel" ] || continue
  echo "Found fastpath test kernel: /boot/vmlinuz-$rel" >&2
  extra=$(cat "${dir}cmdline.grub")
  echo "menuentry 'fastpath test kernel $rel' --class gnu-linux --id 'fastpath-$rel' {"
  echo "	insmod gzio"
  prepare_grub_to_access_device "${GRUB_DEVICE_BOOT}" | sed -e 's/^/\t/'
  echo "	echo 'Loading fastpath test kernel $rel ...'"
  echo "	linux ${boot_rel}/vmlinuz-$rel ${root_arg} ro ${GRUB_CMDLINE_LINUX} ${GRUB_CMDLINE_LINUX_DEFAULT} ${extra}"
  if [ -f "/boot/initrd.img-$rel" ]; then
    echo "	initrd ${boot_rel}/initrd.img-$rel"
  fi
  echo "}"
done
"""


class Fail(Exception):
    pass


def sh(*cmd):
    r = subprocess.run(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True)
    if r.returncode != 0:
        raise Fail("%s failed (rc %d): %s" % (" ".join(cmd), r.returncode, r.stdout.strip()[-800:]))
    return r.stdout


def read(path, default=""):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def grub_quote(opt):
    return "'" + opt.replace("'", "'\\''") + "'"


def running():
    return os.uname().release


def test_kernels():
    if not os.path.isdir(STATE):
        return []
    return sorted(d for d in os.listdir(STATE) if os.path.isdir(os.path.join(STATE, d)))


def original():
    return read(ORIGINAL)


def menu_entries(cfg_text):
    """[(path_id, title, release)] for every menuentry of grub.cfg; path 'sub>entry'."""
    out = []
    stack = []  # ids of enclosing submenus
    depth_ids = []
    current = None
    for line in cfg_text.splitlines():
        s = line.strip()
        m = re.match(r"^(submenu|menuentry)\s+(?:'([^']*)'|\"([^\"]*)\")(.*)\{\s*$", s)
        if m:
            title = m.group(2) if m.group(2) is not None else m.group(3)
            rest = m.group(4)
            idm = re.search(r"(?:\$menuentry_id_option|--id)\s+'([^']+)'", rest)
            ident = idm.group(1) if idm else title
            if m.group(1) == "submenu":
                stack.append(ident)
                depth_ids.append("submenu")
            else:
                current = {"path": ">".join(stack + [ident]), "title": title, "release": None,
                           "top": not stack}
                depth_ids.append("entry")
            continue
        if s.startswith("linux") and current is not None:
            km = re.search(r"/vmlinuz-(\S+)", s)
            if km:
                current["release"] = km.group(1)
        if s == "}" and depth_ids:
            kind = depth_ids.pop()
            if kind == "entry" and current is not None:
                out.append(current)
                current = None
            elif kind == "submenu" and stack:
                stack.pop()
    return out


def grubenv():
    env = {}
    try:
        text = sh("grub-editenv", "-", "list")
    except Fail:
        return env
    for line in text.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            env[k] = v
    return env


def entry_for_release(entries, release):
    """The plain (non-recovery, non-fastpath) entry booting ``release``, preferring ids."""
    cands = [e for e in entries if e["release"] == release
             and not e["path"].split(">")[-1].startswith(ENTRY_PREFIX)
             and "recovery" not in e["path"] and "recovery" not in e["title"].lower()]
    if not cands:
        raise Fail("no grub entry boots the known-good kernel %s (see %s)" % (release, GRUB_CFG))
    # An '-advanced-' entry is bound to its kernel version; the top 'simple' entry is
    # always the newest kernel, so it would follow a newer test kernel.
    for e in cands:
        if "-advanced-" in e["path"].split(">")[-1] or not e["top"]:
            return e
    return cands[0]


def resolve_default(entries, env, cfg):
    """The release grub boots when nothing is pending (GRUB_DEFAULT=saved or numeric)."""
    if 'set default="${saved_entry}"' in cfg:
        want = env.get("saved_entry", "")
    else:
        m = re.search(r'^set default="([^"]*)"', cfg, re.M)
        want = m.group(1) if m else "0"
    if want == "" or want.isdigit():
        tops = [e for e in entries if e["top"] or ">" not in e["path"]]
        idx = int(want or 0)
        # top-level items: entries and submenus in order; approximate with entries.
        return tops[idx]["release"] if idx < len(tops) else None
    for e in entries:
        if want in (e["path"], e["title"], e["path"].split(">")[-1]):
            return e["release"]
    return None


def ensure_original():
    orig = original()
    if orig:
        return orig
    cur = running()
    if os.path.isdir(os.path.join(STATE, cur)):
        raise Fail("the SUT runs fastpath test kernel %s but the known-good default is not "
                   "recorded in %s" % (cur, ORIGINAL))
    write(ORIGINAL, cur + "\n")
    return cur


def pin():
    orig = original()
    if not orig:
        return {"pinned": None}
    entries = menu_entries(read(GRUB_CFG))
    e = entry_for_release(entries, orig)
    sh("grub-set-default", e["path"])
    sh("grub-editenv", "-", "unset", "next_entry")
    return {"pinned": e["path"], "original": orig}


def grub_cfg_ready(release):
    cfg = read(GRUB_CFG)
    has_entry = ("--id '%s%s'" % (ENTRY_PREFIX, release)) in cfg
    return has_entry and "${saved_entry}" in cfg


def act_prepare(args):
    release = args["release"]
    orig = ensure_original()
    if release == orig:
        raise Fail("test kernel %s is the SUT's known-good default kernel: fastpath never "
                   "replaces it" % release)
    write(GRUB_SCRIPT, GRUB_SCRIPT_TEXT, 0o755)
    if not os.path.exists(DROPIN):
        write(DROPIN, "# Written by fastpath: one-shot grub-reboot needs a saved default.\n"
                      "GRUB_DEFAULT=saved\n")
    d = os.path.join(STATE, release)
    os.makedirs(d, exist_ok=True)
    opts = [str(o) for o in args.get("cmdline") or []]
    write(os.path.join(d, "cmdline"), "".join(o + "\n" for o in opts))
    write(os.path.join(d, "cmdline.grub"), " ".join(grub_quote(o) for o in opts) + "\n")
    return {"original": orig, "release": release, "cmdline": opts}


def act_arm(args):
    release = args["release"]
    if not os.path.isfile("/boot/vmlinuz-" + release):
        raise Fail("/boot/vmlinuz-%s is missing: the test kernel is not installed" % release)
    updated = False
    if not grub_cfg_ready(release):
        sh("update-grub")
        updated = True
    if not grub_cfg_ready(release):
        raise Fail("update-grub did not produce the entry %s%s in %s"
                   % (ENTRY_PREFIX, release, GRUB_CFG))
    pinned = pin()
    entry = ENTRY_PREFIX + release
    sh("grub-reboot", entry)
    env = grubenv()
    if env.get("next_entry") != entry:
        raise Fail("grub-reboot did not set next_entry=%s (grubenv: %r)" % (entry, env))
    return {"release": release, "entry": entry, "default": pinned.get("pinned"),
            "original": pinned.get("original"), "update_grub": updated}


def act_unprepare(args):
    """Remove fastpath's grub script and drop-in (the next update-grub drops the entries)."""
    removed = []
    for path in (GRUB_SCRIPT, DROPIN):
        if os.path.exists(path):
            os.unlink(path)
            removed.append(path)
    return {"removed": removed}


def act_finish(args):
    """After the test kernels are gone: refresh grub.cfg if asked, pin the default, forget."""
    if args.get("update_grub") or any(
            ("--id '%s" % ENTRY_PREFIX) in line for line in read(GRUB_CFG).splitlines()):
        sh("update-grub")
    res = pin()
    if os.path.exists(ORIGINAL) and not test_kernels():
        os.unlink(ORIGINAL)
    return res


def act_status(args):
    cfg = read(GRUB_CFG)
    entries = menu_entries(cfg)
    env = grubenv()
    return {"running": running(), "original": original(), "test_kernels": test_kernels(),
            "saved_entry": env.get("saved_entry"), "next_entry": env.get("next_entry"),
            "default_release": resolve_default(entries, env, cfg),
            "entries": [e["path"] for e in entries]}


ACTIONS = {"prepare": act_prepare, "arm": act_arm, "pin": lambda a: pin(),
           "unprepare": act_unprepare, "finish": act_finish, "status": act_status}


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ACTIONS:
        print(json.dumps({"error": "usage: %s {%s} [BASE64_JSON]" % (sys.argv[0],
                                                                    "|".join(ACTIONS))}))
        return 2
    args = json.loads(base64.b64decode(sys.argv[2]).decode()) if len(sys.argv) > 2 else {}
    try:
        out = ACTIONS[sys.argv[1]](args or {})
    except Fail as exc:
        print(json.dumps({"error": str(exc)}))
        return 1
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
