/**
 * The process's named limiters. There is one registry per process by design
 * (reference 7.2: the limits apply per process, not per request), but it is
 * passed in as a dependency like everything else, so tests build their own.
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import type { MetricFamily, MetricsRegistry } from "../metrics.ts";
import { Semaphore, type SemaphoreOptions } from "./semaphore.ts";

/** Options of a limiter defined in a {@linkcode LimiterRegistry}. */
export type LimiterOptions = Omit<SemaphoreOptions, "clock">;

/**
 * The limiters every process has, with their default sizes (DESIGN.md
 * section 4):
 *
 * - `storage.chunk`: 32 chunk or batch-blob fetches at once, the
 *   process-wide semaphore of PR #7388 (reference 7.2).
 * - `storage.file`: 4 audio files merged at once for precache, cut to 2 by
 *   #7526 and restored to 4 by #7855 (reference 4.2 and 7.2).
 * - `notify.user`: 8 users' daily summaries at once, the batch size of the
 *   original turned into a rolling pool (reference section 8).
 */
export const LIMITER_DEFAULTS = {
  "storage.chunk": { permits: 32 },
  "storage.file": { permits: 4 },
  "notify.user": { permits: 8 },
} as const satisfies Record<string, LimiterOptions>;

/** The name of a limiter in {@linkcode LIMITER_DEFAULTS}. */
export type DefaultLimiterName = keyof typeof LIMITER_DEFAULTS;

/** Per-limiter changes to {@linkcode LIMITER_DEFAULTS}, e.g. from configuration. */
export type LimiterOverrides = Partial<
  Record<DefaultLimiterName, Partial<LimiterOptions>>
>;

/** Options of the {@linkcode LimiterRegistry} constructor. */
export interface LimiterRegistryOptions {
  /** Clock of every limiter defined here. Default: the system clock. */
  clock?: Clock;
}

/**
 * Named {@linkcode Semaphore}s of one process, and their metrics.
 *
 * @example
 * ```ts
 * import { LimiterRegistry } from "./limiter_registry.ts";
 * const limiters = new LimiterRegistry();
 * limiters.define("merge.user", { permits: 64, perKeyCap: 2 });
 * using _permit = await limiters.get("merge.user").acquire({ key: "uid-1" });
 * ```
 */
export class LimiterRegistry {
  readonly #limiters = new Map<string, Semaphore>();
  readonly #clock: Clock | undefined;

  /** @param options the clock shared by every limiter */
  constructor(options: LimiterRegistryOptions = {}) {
    this.#clock = options.clock;
  }

  /**
   * Creates the limiter `name`; throws if it exists already, because two
   * modules sizing one limiter differently is a bug.
   *
   * @returns the new semaphore
   */
  define(name: string, options: LimiterOptions): Semaphore {
    if (this.#limiters.has(name)) {
      throw new Error(
        `Cannot define limiter "${name}": a limiter of that name exists already`,
      );
    }
    const semaphore = new Semaphore(name, { ...options, clock: this.#clock });
    this.#limiters.set(name, semaphore);
    return semaphore;
  }

  /** The limiter `name`; throws when it was never defined. */
  get(name: string): Semaphore {
    const semaphore = this.#limiters.get(name);
    if (!semaphore) {
      throw new Error(
        `Cannot find limiter "${name}": it is not defined (known: ${
          [...this.#limiters.keys()].join(", ") || "none"
        })`,
      );
    }
    return semaphore;
  }

  /** Whether the limiter `name` is defined. */
  has(name: string): boolean {
    return this.#limiters.has(name);
  }

  /** Names of the defined limiters, in definition order. */
  get names(): string[] {
    return [...this.#limiters.keys()];
  }

  /** Metric families of every limiter, with the series of one name merged. */
  collect(): MetricFamily[] {
    const byName = new Map<string, MetricFamily>();
    for (const semaphore of this.#limiters.values()) {
      for (const family of semaphore.collect()) {
        const known = byName.get(family.name);
        if (known) known.samples.push(...family.samples);
        else byName.set(family.name, family);
      }
    }
    return [...byName.values()];
  }

  /**
   * Registers {@linkcode LimiterRegistry.prototype.collect} with `metrics`,
   * so `/metrics` shows every limiter, also those defined later.
   *
   * @returns a function that removes the collector again
   */
  attach(metrics: MetricsRegistry): () => void {
    return metrics.register(() => this.collect());
  }
}

/**
 * A registry with the limiters of {@linkcode LIMITER_DEFAULTS}, each changed
 * by its entry in `overrides`.
 *
 * @example
 * ```ts
 * import { createDefaultLimiters } from "./limiter_registry.ts";
 * const limiters = createDefaultLimiters({ "storage.chunk": { permits: 64 } });
 * console.log(limiters.get("storage.chunk").permits); // 64
 * ```
 */
export function createDefaultLimiters(
  overrides: LimiterOverrides = {},
  options: LimiterRegistryOptions = {},
): LimiterRegistry {
  const registry = new LimiterRegistry(options);
  for (const [name, defaults] of Object.entries(LIMITER_DEFAULTS)) {
    registry.define(name, {
      ...defaults,
      ...withoutUndefined(overrides[name as DefaultLimiterName]),
    });
  }
  return registry;
}

/** Drops `undefined` values, so an unset configuration keeps the default. */
function withoutUndefined<T extends object>(value: T | undefined): Partial<T> {
  if (!value) return {};
  return Object.fromEntries(
    Object.entries(value).filter(([, entry]) => entry !== undefined),
  ) as Partial<T>;
}
