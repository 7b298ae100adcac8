/**
 * Starts and stops the Cloud Storage emulator of `firebase-tools` (pinned in
 * `tools/gcs-emulator/package.json`) for the GCS tests.
 *
 * Point `@google-cloud/storage` at it with
 * `STORAGE_EMULATOR_HOST=<url>` (the library needs the `http://` scheme).
 *
 * CLI: `deno run -A tests/gcs_emulator.ts` prints the host (`127.0.0.1:PORT`)
 * and runs until SIGINT or SIGTERM.
 *
 * @module
 */

/** A running emulator. */
export interface GcsEmulator {
  /** `127.0.0.1:PORT`. */
  host: string;
  /** `http://127.0.0.1:PORT`, the value for `STORAGE_EMULATOR_HOST`. */
  url: string;
  /** Stops the emulator and removes the directory it created. */
  stop(): Promise<void>;
}

const EMULATOR_DIR = new URL("../tools/gcs-emulator/", import.meta.url);
const START_SCRIPT = new URL("start.cjs", EMULATOR_DIR);
const INSTALLED_MARKER = new URL(
  "node_modules/firebase-tools/package.json",
  EMULATOR_DIR,
);
/** Generous: a cold start on a loaded 2-core CI machine takes a few seconds. */
const START_TIMEOUT_MS = 60_000;
/** How long `stop()` waits after SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 5_000;
/** The most stderr kept for error messages. */
const STDERR_KEEP_BYTES = 16 * 1024;

let installing: Promise<void> | undefined;

/**
 * Runs `npm ci` in `tools/gcs-emulator` when its `node_modules` is missing.
 * Install scripts are skipped: the storage emulator needs none, and some
 * optional dependencies would try to download prebuilt binaries.
 */
export function ensureGcsEmulatorInstalled(): Promise<void> {
  installing ??= (async () => {
    if (await exists(INSTALLED_MARKER)) return;
    const output = await new Deno.Command("npm", {
      args: [
        "ci",
        "--ignore-scripts",
        "--no-audit",
        "--no-fund",
        "--prefix",
        decodeURIComponent(EMULATOR_DIR.pathname),
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!output.success) {
      installing = undefined;
      const stderr = new TextDecoder().decode(output.stderr).trim();
      throw new Error(
        `Cannot install the GCS emulator: npm ci exited with ${output.code}\n${stderr}`,
      );
    }
  })();
  return installing;
}

/**
 * Starts the emulator on a free port of 127.0.0.1 with its own blob
 * directory and resolves once it answers HTTP requests. Buckets need no
 * creating: the emulator creates one on first use.
 *
 * @param options.dir where the emulator keeps its blobs; a new temporary
 * directory (removed by `stop()`) by default
 */
export async function startGcsEmulator(
  options: { dir?: string } = {},
): Promise<GcsEmulator> {
  await ensureGcsEmulatorInstalled();
  const ownDir = options.dir === undefined;
  const dir = options.dir ??
    await Deno.makeTempDir({ prefix: "gcs-emulator-" });
  let child: Deno.ChildProcess;
  try {
    child = spawnEmulator(dir);
  } catch (err) {
    if (ownDir) await Deno.remove(dir, { recursive: true });
    throw err;
  }
  const stderr = drainStderr(child.stderr);
  const lines = child.stdout
    .pipeThrough(new TextDecoderStream())
    .getReader();

  let stopped: Promise<void> | undefined;
  function stop(): Promise<void> {
    stopped ??= (async () => {
      signalGroup(child.pid, "SIGTERM");
      const timer = setTimeout(
        () => signalGroup(child.pid, "SIGKILL"),
        STOP_GRACE_MS,
      );
      try {
        await child.status;
      } finally {
        clearTimeout(timer);
      }
      await lines.cancel().catch(() => {});
      await stderr.done;
      if (ownDir) await Deno.remove(dir, { recursive: true });
    })();
    return stopped;
  }

  try {
    const host = await readHost(lines, child, stderr);
    const url = `http://${host}`;
    await waitUntilAnswering(url);
    // Keep draining stdout so the emulator never blocks on a full pipe.
    const drained = (async () => {
      while (!(await lines.read()).done) { /* discard */ }
    })().catch(() => {});
    return {
      host,
      url,
      async stop() {
        await stop();
        await drained;
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Runs node under `setsid` so the emulator leads its own process group and
 * `stop()` can signal everything it may have started.
 */
function spawnEmulator(dir: string): Deno.ChildProcess {
  const args = [decodeURIComponent(START_SCRIPT.pathname), "--port", "0"];
  const command = (program: string, programArgs: string[]) =>
    new Deno.Command(program, {
      args: programArgs,
      // The emulator keeps its blobs under os.tmpdir().
      env: { TMPDIR: dir },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  try {
    return command("setsid", ["node", ...args]);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
    return command("node", args);
  }
}

function signalGroup(pid: number, signal: Deno.Signal): void {
  for (const target of [-pid, pid]) {
    try {
      Deno.kill(target, signal);
      return;
    } catch {
      // Not a group leader (no setsid) or already gone: try the pid itself.
    }
  }
}

function drainStderr(
  stream: ReadableStream<Uint8Array>,
): { text(): string; done: Promise<void> } {
  let kept = "";
  const decoder = new TextDecoder();
  const done = (async () => {
    for await (const chunk of stream) {
      kept = (kept + decoder.decode(chunk, { stream: true })).slice(
        -STDERR_KEEP_BYTES,
      );
    }
  })().catch(() => {});
  return { text: () => kept, done };
}

async function readHost(
  lines: ReadableStreamDefaultReader<string>,
  child: Deno.ChildProcess,
  stderr: { text(): string },
): Promise<string> {
  let buffered = "";
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!buffered.includes("\n")) {
    const timeLeft = deadline - Date.now();
    const { promise: timedOut, resolve } = Promise.withResolvers<"timeout">();
    const timer = setTimeout(() => resolve("timeout"), Math.max(0, timeLeft));
    const next = await Promise.race([lines.read(), timedOut]).finally(() =>
      clearTimeout(timer)
    );
    if (next === "timeout") {
      throw new Error(
        `Cannot start the GCS emulator: no address after ${START_TIMEOUT_MS} ms\n${stderr.text()}`,
      );
    }
    if (next.done) {
      const status = await child.status;
      throw new Error(
        `Cannot start the GCS emulator: it exited with ${status.code}\n${stderr.text()}`,
      );
    }
    buffered += next.value;
  }
  const line = buffered.slice(0, buffered.indexOf("\n"));
  const host = (JSON.parse(line) as { host?: unknown }).host;
  if (typeof host !== "string" || !/^127\.0\.0\.1:\d+$/.test(host)) {
    throw new Error(`Cannot start the GCS emulator: it printed "${line}"`);
  }
  return host;
}

async function waitUntilAnswering(url: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (let pause = 10;; pause = Math.min(pause * 2, 500)) {
    try {
      const response = await fetch(`${url}/b`);
      await response.body?.cancel();
      if (response.ok) return;
    } catch {
      // Not accepting connections yet.
    }
    if (Date.now() > deadline) {
      throw new Error(
        `Cannot start the GCS emulator: ${url} did not answer within ${START_TIMEOUT_MS} ms`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}

async function exists(path: URL): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

if (import.meta.main) {
  // Listen first, so a signal during start-up still stops the child.
  const { promise: signalled, resolve } = Promise.withResolvers<void>();
  Deno.addSignalListener("SIGINT", resolve);
  Deno.addSignalListener("SIGTERM", resolve);
  const starting = startGcsEmulator();
  const emulator = await Promise.race([starting, signalled]);
  if (emulator) {
    console.log(emulator.host);
    console.error(`export STORAGE_EMULATOR_HOST=${emulator.url}`);
    await signalled;
  }
  await (emulator ?? await starting).stop();
  Deno.exit(0);
}
