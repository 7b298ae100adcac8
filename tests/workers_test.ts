/**
 * Worker groups on real Deno Web Workers. Every wait is on a message (the
 * latch of `fixtures/workers/test_tasks.ts`) or on a task's own promise;
 * nothing sleeps.
 *
 * @module
 */
import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import {
  SameGroupSubmitError,
  SubmitNotAllowedError,
  WorkerCrashedError,
  WorkerGroup,
  WorkerGroupClosedError,
  WorkerGroupFullError,
  type WorkerGroupMode,
  WorkerTaskError,
  WorkerTaskTimeoutError,
} from "../lib/workers/worker_group.ts";
import { createWorkerGroups, WorkerGroups } from "../lib/workers/groups.ts";
import { testTasks } from "./fixtures/workers/test_tasks.ts";
import { Latch } from "./fixtures/workers/latch.ts";
import { ManualClock } from "./fixtures/workers/manual_clock.ts";
import type { MetricFamily } from "../lib/metrics.ts";
import type { Clock } from "../lib/clock.ts";

const ENTRY = new URL("./fixtures/workers/test_worker.ts", import.meta.url);
const TASKS = () => Promise.resolve(testTasks);

function group(
  options: {
    size: number;
    maxQueued?: number;
    mode?: WorkerGroupMode;
    clock?: Clock;
    entry?: URL;
  },
): WorkerGroup {
  return new WorkerGroup({
    name: "test",
    size: options.size,
    entry: options.entry ?? ENTRY,
    tasks: TASKS,
    maxQueued: options.maxQueued ?? 16,
    mode: options.mode ?? "workers",
    clock: options.clock,
  });
}

function metric(families: MetricFamily[], name: string, group = "test") {
  const family = families.find((family) =>
    family.name === `audiosync_worker_group_${name}`
  );
  const sample = family?.samples.find((sample) =>
    sample.labels?.group === group
  );
  if (sample === undefined) throw new Error(`No metric ${name} for ${group}`);
  return sample.value;
}

// The behaviour that must not depend on where tasks run.
for (const mode of ["workers", "inline"] as const) {
  Deno.test(`WorkerGroup (${mode}) runs tasks and resolves the import map`, async () => {
    const workers = group({ size: 2, mode });
    try {
      assertEquals(await workers.run("echo", { a: [1, 2] }), { a: [1, 2] });
      assertEquals(await workers.run("delayed", { ms: 1 }), "delayed");
      const families = workers.collect();
      assertEquals(metric(families, "tasks_completed_total"), 2);
      assertEquals(metric(families, "task_seconds_count"), 2);
      assertEquals(metric(families, "queue_wait_seconds_count"), 2);
    } finally {
      await workers.close();
    }
  });

  Deno.test(`WorkerGroup (${mode}) transfers ArrayBuffers both ways instead of copying them`, async () => {
    const workers = group({ size: 1, mode });
    try {
      const sent = new Uint8Array(1024).fill(7).buffer;
      const length = workers.run("byteLength", sent, { transfer: [sent] });
      assertEquals(sent.byteLength, 0, "the caller's buffer is detached");
      assertEquals(await length, 1024, "the handler got the bytes");

      const made = await workers.run<ArrayBuffer>("makeBuffer", {
        size: 4096,
        fill: 3,
      });
      assertInstanceOf(made, ArrayBuffer);
      assertEquals(made.byteLength, 4096);
      assertEquals(new Uint8Array(made)[4095], 3);
      assertEquals(
        await workers.run("lastMadeByteLength", null),
        0,
        "the handler's own buffer was moved out, not copied",
      );
    } finally {
      await workers.close();
    }
  });

  Deno.test(`WorkerGroup (${mode}) rejects at once when maxQueued tasks wait`, async () => {
    const latch = new Latch();
    const workers = group({ size: 1, maxQueued: 2, mode });
    try {
      const running = workers.run("block", latch.payload("a"));
      await latch.seen("started", "a");
      const queued = [workers.run("echo", 1), workers.run("echo", 2)];
      assertEquals(workers.queued, 2);
      const error = await assertRejects(
        () => workers.run("echo", 3),
        WorkerGroupFullError,
        "2 tasks are already waiting",
      );
      assertEquals(error.status, 503);
      assertEquals(error.headers["Retry-After"], "1");
      assertEquals(metric(workers.collect(), "tasks_rejected_total"), 1);
      latch.release("a");
      assertEquals(await running, "a");
      assertEquals(await Promise.all(queued), [1, 2]);
    } finally {
      await workers.close();
      latch.close();
    }
  });

  Deno.test(`WorkerGroup (${mode}) rejects a task whose handler throws and keeps its worker`, async () => {
    const workers = group({ size: 1, mode });
    try {
      const error = await assertRejects(
        () => workers.run("fail", { message: "bad chunk 7" }),
        WorkerTaskError,
        "bad chunk 7",
      );
      assertEquals(error.remoteName, "TypeError");
      assertEquals(await workers.run("echo", "still here"), "still here");
      assertEquals(workers.restarted, 0);
      assertEquals(metric(workers.collect(), "tasks_failed_total"), 1);
    } finally {
      await workers.close();
    }
  });

  Deno.test(`WorkerGroup (${mode}) never starts a queued task whose signal aborts`, async () => {
    const latch = new Latch();
    const memory = new SharedArrayBuffer(4);
    const workers = group({ size: 1, mode });
    try {
      const running = workers.run("block", latch.payload("gate"));
      await latch.seen("started", "gate");
      const controllers = ["t0", "t1", "t2", "t3", "t4"].map(() =>
        new AbortController()
      );
      const tasks = controllers.map((controller, i) =>
        workers.run("count", { memory, label: `t${i}` }, {
          signal: controller.signal,
        })
      );
      const reason = new Error("user went away");
      controllers[1].abort(reason);
      controllers[3].abort(reason);
      assertEquals(workers.queued, 3);
      await assertRejects(() => tasks[1], Error, "user went away");
      await assertRejects(() => tasks[3], Error, "user went away");
      latch.release("gate");
      await running;
      assertEquals(await Promise.all([tasks[0], tasks[2], tasks[4]]), [
        "t0",
        "t2",
        "t4",
      ]);
      assertEquals(
        Atomics.load(new Int32Array(memory), 0),
        3,
        "the cancelled tasks never ran",
      );
    } finally {
      await workers.close();
      latch.close();
    }
  });

  Deno.test(`WorkerGroup (${mode}) rejects a running task at once on abort and aborts its ctx.signal`, async () => {
    const latch = new Latch();
    const workers = group({ size: 1, mode });
    try {
      const controller = new AbortController();
      const running = workers.run("block", latch.payload("a"), {
        signal: controller.signal,
      });
      await latch.seen("started", "a");
      controller.abort(new Error("stop"));
      await assertRejects(() => running, Error, "stop");
      await latch.seen("aborted", "a");
      assertEquals(await workers.run("echo", "next"), "next");
      assertEquals(workers.restarted, 0);
    } finally {
      await workers.close();
      latch.close();
    }
  });

  Deno.test(`WorkerGroups (${mode}) rejects a sync task's submission to sync with SameGroupSubmitError`, async () => {
    const groups = createWorkerGroups({
      storageEntry: ENTRY,
      storageTasks: TASKS,
      syncEntry: ENTRY,
      syncTasks: TASKS,
      storageSize: 1,
      syncSize: 1,
      mode,
    });
    try {
      await assertRejects(
        () =>
          groups.run("sync", "submitTo", {
            group: "sync",
            task: "echo",
            payload: 1,
          }),
        SameGroupSubmitError,
        "a task never waits for a task of its own group",
      );
      await assertRejects(
        () =>
          groups.run("storage", "submitTo", {
            group: "sync",
            task: "echo",
            payload: 1,
          }),
        SubmitNotAllowedError,
        '"storage" runs leaf tasks only',
      );
      assertEquals(
        await groups.run("sync", "submitTo", {
          group: "storage",
          task: "echo",
          payload: "down the graph",
        }),
        "down the graph",
      );
    } finally {
      await groups.close();
    }
  });
}

for (const task of ["selfClose", "denoExit", "uncaught"]) {
  Deno.test(`WorkerGroup replaces a worker that dies in "${task}" and rejects only its task`, async () => {
    const latch = new Latch();
    const workers = group({ size: 2 });
    try {
      const other = workers.run("block", latch.payload("other"));
      await latch.seen("started", "other");
      const error = await assertRejects(
        () => workers.run(task, null),
        WorkerCrashedError,
      );
      assertStringIncludes(error.message, `"${task}"`);
      assertEquals(workers.restarted, 1);
      assertEquals(metric(workers.collect(), "workers"), 2);
      latch.release("other");
      assertEquals(await other, "other");
      assertEquals(
        await Promise.all([workers.run("echo", 1), workers.run("echo", 2)]),
        [1, 2],
      );
      assertEquals(workers.restarted, 1);
    } finally {
      await workers.close();
      latch.close();
    }
  });
}

Deno.test("WorkerGroup terminates and replaces a worker hung past its timeout", async () => {
  const clock = new ManualClock();
  const latch = new Latch();
  const memory = new SharedArrayBuffer(4);
  const workers = group({ size: 2, clock });
  try {
    const other = workers.run("block", latch.payload("other"), {
      timeoutMs: 1_000_000,
    });
    const hung = workers.run("hang", { ...latch.payload("hung"), memory }, {
      timeoutMs: 100,
    });
    await latch.seen("started", "other", "hung");
    assertEquals(clock.fire(100), 1);
    const error = await assertRejects(() => hung, WorkerTaskTimeoutError);
    assertStringIncludes(error.message, "timed out after 100 ms");
    assertEquals(workers.restarted, 1);
    assertEquals(metric(workers.collect(), "workers"), 2);
    latch.release("other");
    assertEquals(await other, "other");
    assertEquals(await workers.run("echo", "after"), "after");
  } finally {
    await workers.close();
    latch.close();
  }
});

Deno.test("WorkerGroup terminates a cancelled task's worker that ignores the cancel at its timeout", async () => {
  const clock = new ManualClock();
  const latch = new Latch();
  const memory = new SharedArrayBuffer(4);
  const workers = group({ size: 1, clock });
  try {
    const controller = new AbortController();
    const hung = workers.run("hang", { ...latch.payload("hung"), memory }, {
      timeoutMs: 100,
      signal: controller.signal,
    });
    await latch.seen("started", "hung");
    controller.abort(new Error("gave up"));
    await assertRejects(() => hung, Error, "gave up");
    const next = workers.run("echo", "next");
    assertEquals(workers.busy, 1, "the hung worker still holds its slot");
    assertEquals(workers.queued, 1);
    assertEquals(clock.fire(100), 1);
    assertEquals(await next, "next");
    assertEquals(workers.restarted, 1);
  } finally {
    await workers.close();
    latch.close();
  }
});

Deno.test("WorkerGroup rejects the task of a worker that cannot start, without restarting it", async () => {
  const workers = group({
    size: 1,
    entry: new URL("./fixtures/workers/broken_worker.ts", import.meta.url),
  });
  try {
    await assertRejects(
      () => workers.run("echo", 1),
      WorkerCrashedError,
      "while starting",
    );
    assertEquals(workers.restarted, 0);
    assertEquals(metric(workers.collect(), "workers"), 0);
  } finally {
    await workers.close();
  }
});

Deno.test("WorkerGroups completes when every sync worker waits on storage and storage is saturated", async () => {
  const latch = new Latch();
  const groups = createWorkerGroups({
    storageEntry: ENTRY,
    storageTasks: TASKS,
    syncEntry: ENTRY,
    syncTasks: TASKS,
    storageSize: 2,
    syncSize: 2,
    maxQueued: 64,
    // The bound: a deadlock would fail the coordinators with a timeout.
    storageTaskTimeoutMs: 20_000,
    syncTaskTimeoutMs: 30_000,
  });
  try {
    const storageBlocks = ["s0", "s1"].map((name) =>
      groups.run("storage", "block", latch.payload(name))
    );
    const coordinators = ["c0", "c1"].map((name) =>
      groups.run<number>("sync", "coordinator", {
        ...latch.payload(name),
        parts: 4,
        bytes: 16,
      })
    );
    const direct = Array.from({ length: 6 }, (_, i) => {
      const buffer = new Uint8Array(8).fill(i).buffer;
      return groups.run<ArrayBuffer>("storage", "double", buffer, {
        transfer: [buffer],
      });
    });
    await latch.seen("started", "s0", "s1", "c0", "c1");
    const families = groups.collect();
    assertEquals(metric(families, "busy", "sync"), 2);
    assertEquals(metric(families, "busy", "storage"), 2);
    assertEquals(metric(families, "queued", "storage"), 6);
    // Every sync worker now submits 4 storage tasks behind the 6 queued.
    latch.release("c0");
    latch.release("c1");
    latch.release("s0");
    latch.release("s1");
    // Parts 1..4 doubled, 16 bytes each, per coordinator.
    const expected = 2 * (1 + 2 + 3 + 4) * 16;
    assertEquals(await Promise.all(coordinators), [expected, expected]);
    assertEquals(await Promise.all(storageBlocks), ["s0", "s1"]);
    const doubled = await Promise.all(direct);
    assertEquals(
      doubled.map((buffer) => new Uint8Array(buffer)[0]),
      [0, 2, 4, 6, 8, 10],
    );
    assertEquals(
      metric(groups.collect(), "tasks_completed_total", "storage"),
      16,
    );
  } finally {
    await groups.close();
    latch.close();
  }
});

for (const then of ["exit", "hang"] as const) {
  Deno.test(
    `WorkerGroups cancels the submissions of a task that ${
      then === "exit" ? "crashed" : "hangs when it is cancelled"
    }`,
    async () => {
      const latch = new Latch();
      const groups = createWorkerGroups({
        storageEntry: ENTRY,
        storageTasks: TASKS,
        syncEntry: ENTRY,
        syncTasks: TASKS,
        storageSize: 1,
        syncSize: 1,
      });
      try {
        const controller = new AbortController();
        const parent = groups.run("sync", "submitThen", {
          group: "storage",
          task: "block",
          payload: latch.payload("child"),
          then,
          memory: new SharedArrayBuffer(4),
        }, { signal: controller.signal });
        // The "exit" parent may die before the test awaits it.
        parent.catch(() => {});
        await latch.seen("started", "child");
        if (then === "hang") {
          // The hung worker cannot pass the cancel on: the group must.
          controller.abort(new Error("caller left"));
          await assertRejects(() => parent, Error, "caller left");
        } else {
          await assertRejects(() => parent, WorkerCrashedError);
        }
        // The child was rejected in the same turn as its parent.
        assertEquals(
          metric(groups.collect(), "tasks_failed_total", "storage"),
          1,
        );
        // And its worker was told: the child's ctx.signal fired.
        await latch.seen("aborted", "child");
        assertEquals(await groups.run("storage", "echo", "free"), "free");
      } finally {
        await groups.close({ mode: "cancel" });
        latch.close();
      }
    },
  );
}

Deno.test("WorkerGroup.close() rejects queued tasks, drains running ones and stops every worker", async () => {
  const latch = new Latch();
  const workers = group({ size: 1 });
  const running = workers.run("block", latch.payload("a"));
  await latch.seen("started", "a");
  const queued = workers.run("echo", 1);
  let closed = false;
  const closing = workers.close().then(() => closed = true);
  await assertRejects(() => queued, WorkerGroupClosedError);
  await assertRejects(() => workers.run("echo", 2), WorkerGroupClosedError);
  assertEquals(closed, false, "close() waits for the running task");
  latch.release("a");
  assertEquals(await running, "a");
  await closing;
  assert(closed);
  assertEquals(metric(workers.collect(), "workers"), 0);
  assertEquals(workers.busy, 0);
  latch.close();
});

Deno.test('WorkerGroup.close({ mode: "cancel" }) rejects running tasks and stops every worker', async () => {
  const latch = new Latch();
  const memory = new SharedArrayBuffer(4);
  const workers = group({ size: 2 });
  const blocked = workers.run("block", latch.payload("a"));
  const hung = workers.run("hang", { ...latch.payload("b"), memory });
  await latch.seen("started", "a", "b");
  await workers.close({ mode: "cancel" });
  await assertRejects(() => blocked, WorkerGroupClosedError);
  await assertRejects(() => hung, WorkerGroupClosedError);
  assertEquals(metric(workers.collect(), "workers"), 0);
  latch.close();
});

Deno.test("WorkerGroup frees a starting worker whose task was cancelled before it was sent", async () => {
  const workers = group({ size: 1 });
  try {
    const controller = new AbortController();
    const cancelled = workers.run("echo", 1, { signal: controller.signal });
    controller.abort(new Error("too late"));
    await assertRejects(() => cancelled, Error, "too late");
    assertEquals(workers.busy, 0);
    assertEquals(await workers.run("echo", 2), 2);
    assertEquals(workers.restarted, 0);
  } finally {
    await workers.close();
  }
});

Deno.test("WorkerGroup rejects a payload that cannot be cloned and keeps its worker", async () => {
  const workers = group({ size: 1 });
  try {
    await assertRejects(
      () => workers.run("echo", { f: () => 1 }),
      DOMException,
    );
    assertEquals(await workers.run("echo", "fine"), "fine");
    assertEquals(workers.restarted, 0);
  } finally {
    await workers.close();
  }
});

Deno.test("WorkerGroups refuses a may-wait-on graph that could deadlock", () => {
  function definition(name: string) {
    return { name, size: 1, entry: ENTRY, tasks: TASKS, maxQueued: 1 };
  }
  assertThrows(
    () =>
      new WorkerGroups([definition("a"), definition("b")], {
        mayWaitOn: { a: ["b"], b: ["a"] },
      }),
    RangeError,
    "a -> b -> a waits in a cycle",
  );
  assertThrows(
    () => new WorkerGroups([definition("a")], { mayWaitOn: { a: ["a"] } }),
    RangeError,
    "a -> a waits in a cycle",
  );
  assertThrows(
    () => new WorkerGroups([definition("a")], { mayWaitOn: { a: ["zz"] } }),
    RangeError,
    '"zz", which is not a group',
  );
});
