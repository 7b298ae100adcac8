/**
 * audiosync: stores, merges and syncs wearable audio. Reads the
 * configuration, starts the service and drains it on SIGINT or SIGTERM.
 *
 * @module
 */
import { ConfigError, loadConfig } from "./lib/config.ts";
import { startService } from "./lib/service.ts";

if (import.meta.main) {
  let service;
  try {
    const config = loadConfig(Deno.env.toObject());
    service = await startService(config, {
      managed: Deno.env.get("DENO_DEPLOYMENT_ID") !== undefined,
    });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    Deno.exit(1);
  }
  const stop = async () => {
    await service.shutdown();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}
