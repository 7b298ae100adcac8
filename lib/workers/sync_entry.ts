/**
 * Entry module of a `sync` group worker.
 *
 * @module
 */
import { serveTasks } from "./task_host.ts";
import { syncTasks } from "./sync_tasks.ts";

serveTasks(syncTasks);
