#!/usr/bin/env node
// Starts only the Cloud Storage emulator of firebase-tools (pinned in
// package.json) on 127.0.0.1, without its Java rules runtime, which cannot be
// downloaded here. Only the GCS JSON API (the admin storage layer, which never
// consults rules) is used by the tests, so rules are simply not loaded.
//
// Usage: node start.cjs [--port N] [--project ID]
// Port 0 (the default) picks a free port; the bound address is printed as
// one JSON line `{"host":"127.0.0.1:PORT"}` once the server is listening.
//
// The emulator keeps its blobs under os.tmpdir(); the caller points TMPDIR at
// a private directory so that concurrent emulators do not share files.
//
// Two small fidelity fixes over the stock emulator, both matching real GCS:
// - `ifGenerationMatch` on uploads is enforced (the emulator ignores it).
//   The check runs when the request arrives, so two racing create-only
//   uploads can both pass here; real GCS decides atomically.
// - Generations are strictly increasing (the emulator uses Date.now(), so
//   two writes in the same millisecond would share a generation).
"use strict";

const http = require("node:http");
const path = require("node:path");

const LIB = path.join(
  __dirname,
  "node_modules",
  "firebase-tools",
  "lib",
  "emulator",
);

function parseArgs(argv) {
  const args = { port: 0, project: "demo-audiosync" };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === "--port") {
      args.port = Number(value);
      i++;
    } else if (flag === "--project") {
      args.project = value;
      i++;
    } else {
      throw new Error(`Cannot parse argument "${flag}": unknown flag`);
    }
  }
  if (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535) {
    throw new Error(`Cannot parse --port "${args.port}": not a port number`);
  }
  return args;
}

function makeGenerationsMonotonic() {
  const metadataModule = require(path.join(LIB, "storage", "metadata.js"));
  const Original = metadataModule.StoredFileMetadata;
  let last = 0;
  metadataModule.StoredFileMetadata = class extends Original {
    constructor(opts, cloudFunctions, bytes) {
      if (!opts.generation) {
        last = Math.max(Date.now(), last + 1);
        opts = { ...opts, generation: last };
      }
      super(opts, cloudFunctions, bytes);
    }
  };
}

const UPLOAD_PATH = /^\/upload\/storage\/v1\/b\/([^/]+)\/o\/?$/;

/** Returns a 412 reason, or null when the upload may proceed. */
function failedPrecondition(emulator, req) {
  if (req.method !== "POST") return null;
  const url = new URL(req.url, "http://emulator");
  const match = UPLOAD_PATH.exec(url.pathname);
  const expected = url.searchParams.get("ifGenerationMatch");
  const name = url.searchParams.get("name");
  if (!match || expected === null || name === null) return null;
  const bucket = decodeURIComponent(match[1]);
  const current = emulator.adminStorageLayer.getMetadata(bucket, name);
  const actual = current ? String(current.generation) : "0";
  return actual === expected
    ? null
    : `At least one of the pre-conditions you specified did not hold.`;
}

function sendPreconditionFailed(res, message) {
  res.writeHead(412, { "content-type": "application/json" });
  res.end(JSON.stringify({
    error: {
      code: 412,
      message,
      errors: [{ message, domain: "global", reason: "conditionNotMet" }],
    },
  }));
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  makeGenerationsMonotonic();
  const { StorageEmulator } = require(path.join(LIB, "storage", "index.js"));
  const { createApp } = require(path.join(LIB, "storage", "server.js"));
  const { EmulatorRegistry } = require(path.join(LIB, "registry.js"));

  const emulator = new StorageEmulator({
    projectId: args.project,
    host: "127.0.0.1",
    port: args.port,
    rules: { name: "no-rules", content: "" },
    auto_download: false,
  });
  const app = await createApp(args.project, emulator);
  const server = http.createServer((req, res) => {
    const reason = failedPrecondition(emulator, req);
    if (reason !== null) {
      req.resume();
      sendPreconditionFailed(res, reason);
      return;
    }
    app(req, res);
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(args.port, "127.0.0.1", resolve);
  });
  const { port } = server.address();
  emulator.args.port = port;
  EmulatorRegistry.set(emulator.getName(), emulator);
  process.stdout.write(JSON.stringify({ host: `127.0.0.1:${port}` }) + "\n");

  function shutdown() {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  }
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
}

main().catch((err) => {
  process.stderr.write(`gcs-emulator: ${err && err.stack || err}\n`);
  process.exit(1);
});
