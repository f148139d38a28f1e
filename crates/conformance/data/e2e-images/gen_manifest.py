#!/usr/bin/env python3
"""Print the images `e2e.test --list-images` lists for one Kubernetes source tree, as TSV rows.

Usage: gen_manifest.py ROOT TAG

ROOT is a directory holding kubernetes' `test/utils/image/manifest.go` and
`test/e2e/testing-manifests/` at one tag (a checkout, or a `vendor/k8s.io/kubernetes` copy of
the module at that tag). TAG is that tag, `v1.NN.P`. Rows: TAG, image, the KUBE_TEST_REPO_LIST
key that moves the image (`-` when none can).

What `--list-images` prints (test/e2e/framework/test_context.go, AfterReadingAllFlags): one
line per entry of image.GetImageConfigs(), which is
  * every `configs[ID] = Config{<registry>, "<name>", "<version>"}` of initImageConfigs, with
    the registry resolved to its default (the RegistryList literal, or a plain string
    variable in older releases), Windows-only, invalid-registry and authenticated entries
    included, and
  * when initImageConfigs calls appendCSIImageConfigs (csi_manifest.go): every image string at
    spec.containers[].image or spec.template.spec.containers[].image of the YAML documents
    (split at "\\n---") of the `.yaml` files under testing-manifests/storage-csi that the
    embed.go pattern includes, if it matches `^(.*)/([^/:]*):(.*)$`.
No KUBE_TEST_REPO_LIST or KUBE_TEST_REPO is applied. Rows are sorted and unique.

The key of a configs[] entry is the yaml tag of its RegistryList field. A storage-csi image is
moved by ReplaceRegistryInImageURL: the first `case initRegistry.<Field>` of its switch whose
default equals everything before the image's last '/' (no '/' at all: dockerLibraryRegistry).

The script refuses (exit 1) a tree whose text it does not fully understand: a `configs[...] =`
line it cannot parse, a registry it cannot resolve, or a csi_manifest.go whose walk differs.
"""

import os
import re
import sys

import yaml

CONFIG_RE = re.compile(
    r'^\s*configs\[(\w+)\]\s*=\s*Config\{\s*(?:list\.)?(\w+)\s*,\s*"([^"]+)"\s*,\s*"([^"]+)"\s*\}\s*$'
)
TAG_RE = re.compile(r'^\s*(\w+Registry)\s+string\s+`yaml:"(\w+)"`')
CASE_RE = re.compile(r"^\s*case initRegistry\.(\w+Registry)\s*:")
FIELD_RE = re.compile(r'^\s*(\w+Registry)\s*:\s*"([^"]+)"\s*,?\s*$')
VAR_RE = re.compile(r'^\s*(\w+Registry)\s*=\s*"([^"]+)"\s*$')
IMAGE_RE = re.compile(r"^(.*)/([^/:]*):(.*)$")


def fail(msg):
    sys.stderr.write(f"gen_manifest: {msg}\n")
    sys.exit(1)


def function_body(text, name):
    """The text of `func name(...)` up to the closing brace at column 0."""
    m = re.search(r"^func " + re.escape(name) + r"\(.*$", text, re.M)
    if not m:
        return None
    end = text.find("\n}\n", m.end())
    return text[m.end() : end if end >= 0 else len(text)]


def registries(text):
    """Registry identifier (lower-cased) -> default value."""
    regs = {}
    for line in text.splitlines():
        m = FIELD_RE.match(line) or VAR_RE.match(line)
        if m:
            key = m.group(1).lower()
            if key in regs and regs[key] != m.group(2):
                fail(f"two defaults for {m.group(1)}: {regs[key]} and {m.group(2)}")
            regs[key] = m.group(2)
    return regs


def yaml_keys(text):
    """RegistryList field (lower-cased) -> its KUBE_TEST_REPO_LIST key."""
    return {m.group(1).lower(): m.group(2) for m in map(TAG_RE.match, text.splitlines()) if m}


def replace_order(text, regs, keys):
    """(default, key) in the order of replaceRegistryInImageURLWithList's switch."""
    body = function_body(text, "replaceRegistryInImageURLWithList")
    if body is None:
        fail("no func replaceRegistryInImageURLWithList in manifest.go")
    order = []
    for m in filter(None, map(CASE_RE.match, body.splitlines())):
        field = m.group(1).lower()
        if field not in regs or field not in keys:
            fail(f"switch case {m.group(1)} has no default or no yaml key")
        order.append((regs[field], keys[field]))
    if not order:
        fail("replaceRegistryInImageURLWithList has no case initRegistry.X")
    return order


def csi_key(image, order, keys):
    if "/" not in image.split(":", 1)[0]:
        return keys.get("dockerlibraryregistry", "-")
    prefix = image.rsplit("/", 1)[0]
    return next((k for d, k in order if d == prefix), "-")


def manifest_images(text):
    body = function_body(text, "initImageConfigs")
    if body is None:
        fail("no func initImageConfigs in manifest.go")
    regs = registries(text)
    keys = yaml_keys(text)
    out = []
    for line in body.splitlines():
        if "configs[" not in line or "= Config{" not in line:
            continue
        m = CONFIG_RE.match(line)
        if not m:
            fail(f"unparsed config line: {line.strip()}")
        _, reg, name, version = m.groups()
        value = regs.get(reg.lower())
        if value is None:
            fail(f"registry {reg} has no default in manifest.go")
        key = keys.get(reg.lower(), "-") if "list." in line else "-"
        out.append((f"{value}/{name}:{version}", key))
    if not out:
        fail("initImageConfigs sets no image")
    with_csi = "appendCSIImageConfigs(configs)" in body
    order = replace_order(text, regs, keys) if with_csi else []
    return out, with_csi, lambda image: csi_key(image, order, keys)


def find_strings(obj, path, visit):
    if not path:
        if isinstance(obj, str):
            visit(obj)
        return
    if isinstance(obj, list):
        for child in obj:
            find_strings(child, path, visit)
    elif isinstance(obj, dict) and path[0] in obj:
        find_strings(obj[path[0]], path[1:], visit)


def csi_images(root):
    csi_go = os.path.join(root, "test/utils/image/csi_manifest.go")
    embed_go = os.path.join(root, "test/e2e/testing-manifests/embed.go")
    with open(csi_go, encoding="utf-8") as f:
        src = f.read()
    for needle in (
        'fs.WalkDir(embeddedFS, "storage-csi"',
        'strings.HasSuffix(path, ".yaml")',
        'bytes.Split(data, []byte("\\n---"))',
        'findStrings(object, visit, "spec", "containers", "image")',
        'findStrings(object, visit, "spec", "template", "spec", "containers", "image")',
        "regexp.MustCompile(`^(.*)/([^/:]*):(.*)$`)",
    ):
        if needle not in src:
            fail(f"csi_manifest.go differs from the walk this script knows: no {needle}")
    with open(embed_go, encoding="utf-8") as f:
        embed = f.read()
    if not re.search(r"^//go:embed .*\bstorage-csi\b", embed, re.M):
        fail("embed.go does not embed storage-csi")
    base = os.path.join(root, "test/e2e/testing-manifests")
    out = []
    for dirpath, dirnames, filenames in os.walk(os.path.join(base, "storage-csi")):
        # embed drops names starting with '.' or '_' under a directory pattern
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_")))
        for fn in sorted(filenames):
            if fn.startswith((".", "_")) or not fn.endswith(".yaml"):
                continue
            with open(os.path.join(dirpath, fn), "rb") as f:
                data = f.read()
            for item in data.split(b"\n---"):
                obj = yaml.safe_load(item)

                def visit(value):
                    if IMAGE_RE.match(value):
                        out.append(value)

                find_strings(obj, ["spec", "containers", "image"], visit)
                find_strings(obj, ["spec", "template", "spec", "containers", "image"], visit)
    return out


def main():
    if len(sys.argv) != 3:
        fail("usage: gen_manifest.py ROOT TAG")
    root, tag = sys.argv[1:]
    if not re.fullmatch(r"v1\.\d+\.\d+", tag):
        fail(f"tag {tag}: expected v1.NN.P")
    with open(os.path.join(root, "test/utils/image/manifest.go"), encoding="utf-8") as f:
        images, with_csi, key_of = manifest_images(f.read())
    if with_csi:
        # appendCSIImageConfigs skips a config equal to one already set
        seen = {i for i, _ in images}
        images += [(i, key_of(i)) for i in csi_images(root) if i not in seen]
    rows = {}
    for image, key in images:
        if rows.get(image, key) != key:
            fail(f"{image} is set twice, with keys {rows[image]} and {key}")
        rows[image] = key
    for image in sorted(rows):
        print(f"{tag}\t{image}\t{rows[image]}")


if __name__ == "__main__":
    main()
