#!/usr/bin/python3
"""check-k8s-job.py: a Kubernetes Job manifest holds what the API server
requires of it, and what the cluster training of CutPaste relies on.

Usage: check-k8s-job.py MANIFEST.yaml
Exit status 0 when every check passes, 1 otherwise (each failure printed),
77 when PyYAML is missing.

Checked: the file is valid YAML; each document has apiVersion, kind and a
DNS-1123 metadata.name; a batch/v1 Job has spec.template.spec with at
least one container, each with a unique DNS-1123 name and an image, and a
restartPolicy of Never or OnFailure (a Job refuses Always); an Indexed Job
has a positive integer completions and a parallelism no larger; every
$(VAR) in a container's command or args is defined in its env, and a
variable read from a fieldRef points at the completion-index annotation;
the training container runs `cutpaste train --type-index $(VAR)` with that
variable.
"""
import re
import sys

try:
    import yaml
except ImportError:
    print("skipped: PyYAML is not installed (python3-yaml)")
    sys.exit(77)

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
INDEX_ANNOTATION = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")

failures = []


def fail(where, message):
    failures.append(f"{where}: {message}")


def check_container(where, container, index_vars):
    name = container.get("name")
    if not isinstance(name, str) or not DNS1123_LABEL.match(name) or len(name) > 63:
        fail(where, f"container name {name!r} is not a DNS-1123 label")
    if not isinstance(container.get("image"), str) or not container["image"]:
        fail(where, "container has no image")
    env = {}
    for item in container.get("env") or []:
        if not isinstance(item, dict) or "name" not in item:
            fail(where, f"env entry without a name: {item!r}")
            continue
        env[item["name"]] = item
        ref = ((item.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
        if ref is not None and ref == INDEX_ANNOTATION:
            index_vars.add(item["name"])
        elif ref is not None and "job-completion-index" in ref:
            fail(where, f"env {item['name']} reads {ref!r}, not {INDEX_ANNOTATION}")
    words = [str(w) for w in (container.get("command") or []) + (container.get("args") or [])]
    for word in words:
        for var in VAR_REF.findall(word):
            if var not in env:
                fail(where, f"$({var}) is used but not defined in the container's env")
    return words


def check_job(where, doc):
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        fail(where, "no spec")
        return
    pod = ((spec.get("template") or {}).get("spec"))
    if not isinstance(pod, dict):
        fail(where, "no spec.template.spec")
        return
    if pod.get("restartPolicy") not in ("Never", "OnFailure"):
        fail(where, f"restartPolicy is {pod.get('restartPolicy')!r}: a Job needs Never or OnFailure")
    containers = pod.get("containers")
    if not isinstance(containers, list) or not containers:
        fail(where, "spec.template.spec.containers is empty")
        return
    names = [c.get("name") for c in containers if isinstance(c, dict)]
    if len(names) != len(set(names)):
        fail(where, "container names repeat")
    mode = spec.get("completionMode", "NonIndexed")
    if mode not in ("Indexed", "NonIndexed"):
        fail(where, f"completionMode {mode!r}")
    completions = spec.get("completions")
    parallelism = spec.get("parallelism", 1)
    if mode == "Indexed":
        if not isinstance(completions, int) or isinstance(completions, bool) or completions < 1:
            fail(where, f"an Indexed Job needs a positive integer completions, not {completions!r}")
        elif not isinstance(parallelism, int) or parallelism < 0 or parallelism > completions:
            fail(where, f"parallelism {parallelism!r} must be 0..completions")
    volumes = {v.get("name") for v in pod.get("volumes") or []}
    trains_by_index = False
    for i, container in enumerate(containers):
        cwhere = f"{where}: container {i}"
        index_vars = set()
        words = check_container(cwhere, container, index_vars)
        for mount in container.get("volumeMounts") or []:
            if mount.get("name") not in volumes:
                fail(cwhere, f"volumeMount {mount.get('name')!r} has no volume")
            if not str(mount.get("mountPath", "")).startswith("/"):
                fail(cwhere, f"mountPath {mount.get('mountPath')!r} is not absolute")
        if "train" in words and "--type-index" in words:
            value = words[words.index("--type-index") + 1] if words.index("--type-index") + 1 < len(words) else ""
            refs = VAR_REF.findall(value)
            if mode != "Indexed":
                fail(cwhere, "--type-index in a Job that is not Indexed")
            elif len(refs) != 1 or refs[0] not in index_vars:
                fail(cwhere, f"--type-index {value!r} is not the completion index")
            else:
                trains_by_index = True
    if not trains_by_index:
        fail(where, "no container runs 'cutpaste train --type-index $(INDEX)'")


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    path = sys.argv[1]
    try:
        with open(path, encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
    except (OSError, yaml.YAMLError) as e:
        print(f"FAIL: {path}: {e}")
        return 1
    if not docs:
        fail(path, "no document")
    jobs = 0
    for n, doc in enumerate(docs):
        where = f"{path}: document {n}"
        if not isinstance(doc, dict):
            fail(where, "not a mapping")
            continue
        for key in ("apiVersion", "kind", "metadata"):
            if key not in doc:
                fail(where, f"no {key}")
        name = (doc.get("metadata") or {}).get("name")
        if not isinstance(name, str) or not DNS1123_SUBDOMAIN.match(name) or len(name) > 253:
            fail(where, f"metadata.name {name!r} is not a DNS-1123 subdomain")
        if doc.get("apiVersion") == "batch/v1" and doc.get("kind") == "Job":
            jobs += 1
            check_job(where, doc)
    if jobs == 0:
        fail(path, "no batch/v1 Job")
    for f in failures:
        print(f"FAIL: {f}")
    if not failures:
        print(f"{path}: {len(docs)} document(s), {jobs} Job(s): ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
