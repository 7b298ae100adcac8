// main.ts as a real process: configuration errors, listening, and draining on
// SIGTERM. The deadlines here bound a hang; they measure nothing.
import { assertEquals, assertStringIncludes } from "@std/assert";
import { deadline } from "@std/async";
import { TEST_JWT_SECRET, withTempDir } from "./test_utils.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
/** Upper bound for a process to start or stop before the test gives up. */
const PROCESS_BOUND_MS = 20_000;

/** Starts main.ts and resolves once it logs where it listens. */
async function startMain(env: Record<string, string>) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN],
    env: { NO_COLOR: "1", HOSTNAME: "127.0.0.1", PORT: "0", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  async function nextLine(): Promise<string | undefined> {
    while (!buffered.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) return undefined;
      buffered += value;
    }
    const at = buffered.indexOf("\n");
    const line = buffered.slice(0, at);
    buffered = buffered.slice(at + 1);
    lines.push(line);
    return line;
  }
  let port = 0;
  while (true) {
    const line = await deadline(nextLine(), PROCESS_BOUND_MS);
    if (line === undefined) break;
    const entry = JSON.parse(line);
    if (entry.msg === "listening") {
      port = entry.port;
      break;
    }
  }
  async function rest(): Promise<string[]> {
    while (await nextLine() !== undefined) { /* collect */ }
    return lines;
  }
  return { child, port, rest };
}

Deno.test("main.ts drains and exits 0 on SIGTERM, logging that it stopped", async () => {
  await withTempDir(async (dir) => {
    const main = await startMain({
      DATA_DIR: dir,
      AUTH_JWT_SECRET: TEST_JWT_SECRET,
    });
    const res = await fetch(`http://127.0.0.1:${main.port}/healthz`);
    assertEquals(await res.json(), { status: "ok" });
    main.child.kill("SIGTERM");
    const status = await deadline(main.child.status, PROCESS_BOUND_MS);
    const lines = await main.rest();
    await main.child.stderr.cancel();
    assertEquals(status.code, 0);
    const stopped = lines.map((l) => JSON.parse(l)).find((e) =>
      e.msg === "stopped"
    );
    assertEquals(stopped?.outcome, "drained");
  });
});

Deno.test("main.ts refuses to start on a bad variable with one line naming it", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN],
    env: { NO_COLOR: "1", PORT: "eighty", DATA_DIR: "/nonexistent" },
    stdin: "null",
  }).output();
  assertEquals(output.code, 1);
  const stderr = new TextDecoder().decode(output.stderr).trim();
  assertEquals(stderr.split("\n").length, 1, stderr);
  assertStringIncludes(stderr, "PORT");
});

Deno.test("main.ts without AUTH_JWT_SECRET creates a dev secret that deno task token signs with", async () => {
  await withTempDir(async (dir) => {
    const main = await startMain({ DATA_DIR: dir });
    try {
      const token = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL("../tools/token.ts", import.meta.url).pathname,
          "dave",
        ],
        env: { DATA_DIR: dir, NO_COLOR: "1" },
        stdin: "null",
      }).output();
      assertEquals(token.code, 0);
      const jwt = new TextDecoder().decode(token.stdout).trim();
      const res = await fetch(
        `http://127.0.0.1:${main.port}/v1/conversations/c1`,
        {
          headers: { Authorization: `Bearer ${jwt}` },
        },
      );
      await res.body?.cancel();
      assertEquals(res.status !== 401, true, `status ${res.status}`);
    } finally {
      main.child.kill("SIGTERM");
      await deadline(main.child.status, PROCESS_BOUND_MS);
    }
    const lines = await main.rest();
    await main.child.stderr.cancel();
    // `deno task dev` tells a newcomer how to get a token.
    const hint = lines.map((l) => JSON.parse(l).msg)
      .find((msg) => String(msg).includes("deno task token"));
    assertStringIncludes(String(hint), "Authorization: Bearer");
  });
});
