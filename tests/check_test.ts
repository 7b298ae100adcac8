// `deno task check` must stay clean (issue 2): formatting and lint run here
// too, so a change that breaks them fails the suite, not only the workflow.
// (The type check already runs as part of `deno test`.)
import { assertEquals } from "@std/assert";

const root = new URL("../", import.meta.url).pathname;

for (
  const [name, args] of [["fmt --check", ["fmt", "--check"]], ["lint", [
    "lint",
  ]]] as const
) {
  Deno.test(`deno ${name} is clean on the whole tree`, async () => {
    const output = await new Deno.Command(Deno.execPath(), {
      args: [...args],
      cwd: root,
      env: { NO_COLOR: "1" },
      stdin: "null",
    }).output();
    const text = new TextDecoder().decode(output.stderr) +
      new TextDecoder().decode(output.stdout);
    assertEquals(output.code, 0, text.slice(-3000));
  });
}
