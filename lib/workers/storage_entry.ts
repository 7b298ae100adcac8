/**
 * Entry module of a `storage` group worker.
 *
 * @module
 */
import { serveTasks } from "./task_host.ts";
import { storageTasks } from "./storage_tasks.ts";

serveTasks(storageTasks);
