import { assert, assertEquals } from "@std/assert";
import { parse } from "deno-std/yaml/parse.js";

const root = new URL("../", import.meta.url);

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, string>;
}

Deno.test("deploy.yml calls only deno tasks that deno.json defines, and deploys main.ts after the tests", async () => {
  const workflow = parse(
    await Deno.readTextFile(new URL("deploy.yml", root)),
  ) as {
    jobs: Record<string, { needs?: string; steps: Step[] }>;
  };
  const config = JSON.parse(
    await Deno.readTextFile(new URL("deno.json", root)),
  );
  const tasks = new Set(Object.keys(config.tasks));
  const called: string[] = [];
  for (const job of Object.values(workflow.jobs)) {
    for (const step of job.steps) {
      for (const match of (step.run ?? "").matchAll(/deno task ([\w:-]+)/g)) {
        called.push(match[1]);
      }
    }
  }
  assert(called.length >= 2, "the workflow runs the check and test tasks");
  for (const task of called) {
    assert(tasks.has(task), `deno task ${task} is not in deno.json`);
  }
  assert(called.includes("check") && called.includes("test"));

  const deploy = workflow.jobs.deploy;
  assertEquals(deploy.needs, "test");
  const action = deploy.steps.find((s) =>
    s.uses?.startsWith("denoland/deployctl@")
  );
  assertEquals(action?.with?.entrypoint, "main.ts");
  const pinned = workflow.jobs.test.steps.find((s) =>
    s.uses?.startsWith("denoland/setup-deno@")
  );
  assertEquals(pinned?.with?.["deno-version"], `v${Deno.version.deno}`);
});
