/**
 * Unit tests of the group's bookkeeping, in inline mode so that task
 * handlers can be closures the test drives. Real workers are exercised in
 * `tests/workers_test.ts`.
 *
 * @module
 */
import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertRejects,
  assertThrows,
} from "@std/assert";
import {
  SameGroupSubmitError,
  SubmitNotAllowedError,
  WorkerCrashedError,
  WorkerGroup,
  WorkerGroupClosedError,
  WorkerGroupFullError,
  type WorkerGroupOptions,
  WorkerTaskError,
  WorkerTaskTimeoutError,
} from "./worker_group.ts";
import { deserializeError, serializeError } from "./_errors.ts";
import { normalizeResult } from "./_protocol.ts";
import type { TaskContext, TaskTable } from "./task_host.ts";
import { ManualClock } from "../../tests/fixtures/workers/manual_clock.ts";

const UNUSED_ENTRY = new URL("./never_loaded.ts", import.meta.url);

function inlineGroup(
  tasks: TaskTable,
  options: Partial<WorkerGroupOptions> = {},
): WorkerGroup {
  return new WorkerGroup({
    name: "unit",
    size: 1,
    entry: UNUSED_ENTRY,
    tasks: () => Promise.resolve(tasks),
    maxQueued: 16,
    mode: "inline",
    ...options,
  });
}

function sample(group: WorkerGroup, name: string): number {
  const family = group.collect().find((family) =>
    family.name === `audiosync_worker_group_${name}`
  );
  assert(family, `no family ${name}`);
  assertEquals(family.samples[0].labels, { group: "unit" });
  return family.samples[0].value;
}

Deno.test("WorkerGroup runs interactive tasks before background ones", async () => {
  const gate = Promise.withResolvers<void>();
  const log: string[] = [];
  const group = inlineGroup({
    gate: () => gate.promise,
    log: (label: string) => void log.push(label),
  });
  try {
    const first = group.run("gate", null);
    const rest = [
      group.run("log", "bg1", { priority: "background" }),
      group.run("log", "int1"),
      group.run("log", "bg2", { priority: "background" }),
      group.run("log", "int2", { priority: "interactive" }),
    ];
    assertEquals(group.queued, 4);
    gate.resolve();
    await first;
    await Promise.all(rest);
    assertEquals(log, ["int1", "int2", "bg1", "bg2"]);
  } finally {
    await group.close();
  }
});

Deno.test("WorkerGroup (inline) on timeout rejects, aborts ctx.signal and keeps the slot until the handler returns", async () => {
  const clock = new ManualClock();
  const handlerDone = Promise.withResolvers<void>();
  let seenReason: unknown;
  const group = inlineGroup({
    async slow(_: unknown, ctx: TaskContext) {
      await new Promise<void>((resolve) => {
        ctx.signal.addEventListener("abort", () => {
          seenReason = ctx.signal.reason;
          resolve();
        });
      });
      await handlerDone.promise;
      return "late";
    },
    echo: (payload: unknown) => payload,
  }, { clock, taskTimeoutMs: 50 });
  try {
    const slow = group.run("slow", null);
    const next = group.run("echo", "next");
    assertEquals(clock.fire(50), 1);
    await assertRejects(() => slow, WorkerTaskTimeoutError, "after 50 ms");
    assertInstanceOf(seenReason, WorkerTaskTimeoutError);
    assertEquals(group.busy, 1, "the main isolate cannot kill the handler");
    assertEquals(group.queued, 1);
    handlerDone.resolve();
    assertEquals(await next, "next");
    assertEquals(group.restarted, 0);
  } finally {
    await group.close();
  }
});

Deno.test("WorkerGroup measures queue wait and task time with its clock", async () => {
  const clock = new ManualClock();
  const gates = [Promise.withResolvers<void>(), Promise.withResolvers<void>()];
  const group = inlineGroup({
    gate: (i: number) => gates[i].promise,
  }, { clock });
  try {
    const first = group.run("gate", 0);
    const second = group.run("gate", 1);
    clock.advance(2_000);
    gates[0].resolve();
    await first;
    clock.advance(500);
    gates[1].resolve();
    await second;
    assertEquals(sample(group, "queue_wait_seconds_count"), 2);
    assertEquals(sample(group, "queue_wait_seconds_sum"), 2);
    assertEquals(sample(group, "task_seconds_count"), 2);
    assertEquals(sample(group, "task_seconds_sum"), 2.5);
    assertEquals(sample(group, "tasks_completed_total"), 2);
    assertEquals(sample(group, "workers"), 1);
    assertEquals(sample(group, "busy"), 0);
  } finally {
    await group.close();
  }
});

Deno.test("WorkerGroup rejects an unknown task and a payload that cannot be cloned", async () => {
  const group = inlineGroup({ echo: (payload: unknown) => payload });
  try {
    await assertRejects(
      () => group.run("nope", null),
      WorkerTaskError,
      'Cannot run task "nope": no such task',
    );
    await assertRejects(
      () => group.run("echo", { f: () => 1 }),
      DOMException,
    );
    assertEquals(await group.run("echo", "fine"), "fine");
  } finally {
    await group.close();
  }
});

Deno.test("WorkerGroup with maxQueued 0 runs up to size tasks and rejects the next", async () => {
  const gate = Promise.withResolvers<void>();
  const group = inlineGroup({ gate: () => gate.promise }, {
    size: 2,
    maxQueued: 0,
  });
  try {
    const running = [group.run("gate", null), group.run("gate", null)];
    await assertRejects(() => group.run("gate", null), WorkerGroupFullError);
    gate.resolve();
    await Promise.all(running);
  } finally {
    await group.close();
  }
});

Deno.test("WorkerGroup cancels a task's submissions when the task is cancelled", async () => {
  const childStarted = Promise.withResolvers<void>();
  let childReason: unknown;
  const child = inlineGroup({
    async wait(_: unknown, ctx: TaskContext) {
      childStarted.resolve();
      await new Promise<void>((resolve) =>
        ctx.signal.addEventListener("abort", () => {
          childReason = ctx.signal.reason;
          resolve();
        })
      );
    },
  }, { name: "child" });
  const parent = inlineGroup({
    parent: (_: unknown, ctx: TaskContext) => ctx.submit("child", "wait", null),
  }, {
    name: "parent",
    router: (request) => {
      assertEquals(request.from, "parent");
      assertEquals(request.options.priority, "background");
      return child.runTransferring(
        request.task,
        request.payload,
        request.options,
      );
    },
  });
  try {
    const controller = new AbortController();
    const running = parent.run("parent", null, {
      signal: controller.signal,
      priority: "background",
    });
    await childStarted.promise;
    controller.abort(new Error("cancelled by caller"));
    await assertRejects(() => running, Error, "cancelled by caller");
    await child.close();
    assertInstanceOf(childReason, Error);
  } finally {
    await parent.close();
    await child.close();
  }
});

Deno.test("WorkerGroup rejects ctx.submit when it has no router", async () => {
  const group = inlineGroup({
    submit: (_: unknown, ctx: TaskContext) => ctx.submit("other", "x", null),
  });
  try {
    await assertRejects(
      () => group.run("submit", null),
      SubmitNotAllowedError,
      "not connected to other groups",
    );
  } finally {
    await group.close();
  }
});

Deno.test("WorkerGroup.close() returns the same promise twice and rejects later runs", async () => {
  const group = inlineGroup({ echo: (payload: unknown) => payload });
  assertEquals(await group.run("echo", 1), 1);
  const closing = group.close();
  assert(group.close({ mode: "cancel" }) === closing);
  await closing;
  await assertRejects(() => group.run("echo", 1), WorkerGroupClosedError);
});

Deno.test("WorkerGroup refuses a size below 1 and a negative maxQueued", () => {
  assertThrows(() => inlineGroup({}, { size: 0 }), RangeError, "size 0");
  assertThrows(
    () => inlineGroup({}, { maxQueued: -1 }),
    RangeError,
    "maxQueued -1",
  );
});

Deno.test("normalizeResult() reads { value, transfer } and passes anything else through", () => {
  const buffer = new ArrayBuffer(1);
  assertEquals(normalizeResult(5), { value: 5, transfer: [] });
  assertEquals(normalizeResult({ value: 5 }), { value: 5, transfer: [] });
  assertEquals(normalizeResult({ value: buffer, transfer: [buffer] }), {
    value: buffer,
    transfer: [buffer],
  });
  assertEquals(normalizeResult({ value: 5, other: 1 }), {
    value: { value: 5, other: 1 },
    transfer: [],
  });
  assertEquals(normalizeResult({ value: { value: 5 } }), {
    value: { value: 5 },
    transfer: [],
  });
  assertEquals(normalizeResult(null), { value: null, transfer: [] });
});

Deno.test("deserializeError() rebuilds the group's errors and DOMExceptions", () => {
  const full = deserializeError(
    serializeError(new WorkerGroupFullError("full", 7)),
  );
  assertInstanceOf(full, WorkerGroupFullError);
  assertEquals(full.headers["Retry-After"], "7");
  assertInstanceOf(
    deserializeError(serializeError(new SameGroupSubmitError("same"))),
    SameGroupSubmitError,
  );
  assertInstanceOf(
    deserializeError(serializeError(new WorkerCrashedError("gone"))),
    WorkerCrashedError,
  );
  const abort = deserializeError(
    serializeError(new DOMException("stop", "AbortError")),
  );
  assertInstanceOf(abort, DOMException);
  assertEquals(abort.name, "AbortError");
  const other = deserializeError(serializeError(new RangeError("too far")));
  assertInstanceOf(other, WorkerTaskError);
  assertEquals([other.message, other.remoteName], ["too far", "RangeError"]);
  assertEquals(deserializeError(serializeError("text")).message, "text");
});
