/**
 * `deno task test`: starts what the tests need (the Cloud Storage emulator on
 * a free loopback port), runs `deno test` with a JUnit report, stops the
 * emulator and exits with the tests' status. Extra arguments go to
 * `deno test` (e.g. a file or `--filter`).
 *
 * @module
 */
import { startGcsEmulator } from "./gcs_emulator.ts";

/** The JUnit report that `.ci/run` reads the pass/fail counts from. */
const JUNIT_PATH = ".tmp/junit.xml";

if (import.meta.main) {
  await Deno.mkdir(".tmp", { recursive: true });
  let emulator: Awaited<ReturnType<typeof startGcsEmulator>> | undefined;
  if (Deno.env.get("SKIP_GCS_EMULATOR") !== "1") {
    const started = performance.now();
    emulator = await startGcsEmulator();
    console.error(
      `GCS emulator on ${emulator.host} (${
        Math.round(performance.now() - started)
      } ms)`,
    );
  }
  let code = 1;
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "test",
        "--allow-all",
        `--junit-path=${JUNIT_PATH}`,
        ...Deno.args,
      ],
      env: emulator ? { STORAGE_EMULATOR_HOST: emulator.url } : {},
      stdin: "null",
    }).spawn();
    code = (await child.status).code;
  } finally {
    await emulator?.stop();
  }
  Deno.exit(code);
}
