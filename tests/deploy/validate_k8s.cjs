// validate_k8s.cjs: validates every object of rendered Kubernetes YAML against the API schemas (npm kubernetes-models).
// Must not know about ripple's policies (check_policy.py) or how manifests are rendered (kubectl kustomize).
//
// usage: node validate_k8s.cjs [--expect-invalid] FILE.yaml...
// NODE_PATH (or ./node_modules) must hold the packages pinned in package-lock.json.
// Exit 0 when every object is valid (or, with --expect-invalid, when every FILE has an invalid object).
"use strict";
const fs = require("fs");
const YAML = require("yaml");

function modelFor(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string") return null;
  // "v1" -> kubernetes-models/v1/Kind, "apps/v1" -> kubernetes-models/apps/v1/Kind
  try {
    const mod = require(`kubernetes-models/${apiVersion}/${kind}`);
    return mod[kind] || null;
  } catch (e) {
    if (e.code === "MODULE_NOT_FOUND") return null;
    throw e;
  }
}

// Returns a list of problems (empty when all objects validate).
function validateFile(file) {
  const problems = [];
  const docs = YAML.parseAllDocuments(fs.readFileSync(file, "utf8"));
  let count = 0;
  for (const doc of docs) {
    if (doc.errors.length) { problems.push(`${file}: YAML error: ${doc.errors[0].message}`); continue; }
    const obj = doc.toJS();
    if (obj === null || obj === undefined) continue;
    count++;
    const where = `${file}: ${obj.kind || "?"}/${(obj.metadata && obj.metadata.name) || "?"}`;
    const Model = modelFor(obj.apiVersion, obj.kind);
    if (!Model) { problems.push(`${where}: unknown apiVersion/kind ${obj.apiVersion}/${obj.kind}`); continue; }
    try {
      new Model(obj).validate();
    } catch (e) {
      problems.push(`${where}: ${e.message.split("\n").slice(0, 4).join("; ")}`);
    }
  }
  if (count === 0) problems.push(`${file}: no Kubernetes objects found`);
  return { problems, count };
}

const args = process.argv.slice(2);
const expectInvalid = args[0] === "--expect-invalid";
const files = expectInvalid ? args.slice(1) : args;
if (files.length === 0) {
  console.error("usage: node validate_k8s.cjs [--expect-invalid] FILE.yaml...");
  process.exit(2);
}
let failed = false;
for (const file of files) {
  const { problems, count } = validateFile(file);
  if (expectInvalid) {
    if (problems.length === 0) { console.error(`FAIL ${file}: expected a schema violation, all ${count} objects validated`); failed = true; }
    else console.log(`ok   ${file}: rejected as expected (${problems[0]})`);
  } else if (problems.length) {
    problems.forEach((p) => console.error(`FAIL ${p}`));
    failed = true;
  } else {
    console.log(`ok   ${file}: ${count} objects valid`);
  }
}
process.exit(failed ? 1 : 0);
